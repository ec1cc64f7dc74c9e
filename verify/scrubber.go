package verify

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/internal/promreg"
)

// LocalStore is what the scrubber needs of the node's block store. Get must
// check the block against its CID and drop a copy that fails.
type LocalStore interface {
	ForEach(ctx context.Context, fn func(c cid.Cid, size int) error) error
	Get(ctx context.Context, c cid.Cid) (block.Block, error)
	Put(ctx context.Context, b block.Block, tentative bool) error
}

// ScrubConfig configures the scrubber.
type ScrubConfig struct {
	// Interval between full passes. Default 1h.
	Interval time.Duration
}

// Scrubber re-hashes local blocks and repairs corrupt ones.
type Scrubber struct {
	cfg   ScrubConfig
	store LocalStore
	src   BlockSource
	log   *slog.Logger

	corrupt, repaired prometheus.Counter

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// ScrubResult says what one pass found.
type ScrubResult struct {
	Checked, Corrupt, Repaired int
}

// NewScrubber returns a scrubber over store that repairs from src.
func NewScrubber(cfg ScrubConfig, store LocalStore, src BlockSource, reg prometheus.Registerer, log *slog.Logger) (*Scrubber, error) {
	if cfg.Interval <= 0 {
		return nil, fmt.Errorf("verify: ScrubConfig.Interval = %s: must be positive", cfg.Interval)
	}
	s := &Scrubber{cfg: cfg, store: store, src: src, log: log,
		corrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_scrub_corrupt_total", Help: "Corrupt local blocks the scrubber found.",
		}),
		repaired: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_scrub_repaired_total", Help: "Corrupt local blocks replaced by an intact copy.",
		}),
	}
	if err := promreg.Register(reg, s.corrupt, s.repaired); err != nil {
		return nil, fmt.Errorf("verify: metrics: %w", err)
	}
	return s, nil
}

// Start runs a pass every Interval until Close.
func (s *Scrubber) Start(ctx context.Context) error {
	ctx, s.cancel = context.WithCancel(ctx)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		t := time.NewTicker(s.cfg.Interval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
			}
			res, err := s.ScrubOnce(ctx)
			if err != nil && ctx.Err() == nil {
				s.log.Warn("scrub pass failed", "err", err)
			}
			if res.Corrupt > 0 {
				s.log.Warn("scrub pass found corrupt blocks", "checked", res.Checked, "corrupt", res.Corrupt, "repaired", res.Repaired)
			}
		}
	}()
	return nil
}

// Close stops the scrubber and waits for it.
func (s *Scrubber) Close() error {
	s.closeOnce.Do(func() {
		if s.cancel != nil {
			s.cancel()
		}
		s.wg.Wait()
	})
	return nil
}

// ScrubOnce checks every local block once.
func (s *Scrubber) ScrubOnce(ctx context.Context) (ScrubResult, error) {
	var res ScrubResult
	var bad []cid.Cid
	err := s.store.ForEach(ctx, func(c cid.Cid, _ int) error {
		res.Checked++
		_, err := s.store.Get(ctx, c)
		switch {
		case err == nil:
		case errors.Is(err, xnode.ErrIntegrity):
			bad = append(bad, c)
		case errors.Is(err, xnode.ErrNotFound): // deleted meanwhile
		default:
			return err
		}
		return nil
	})
	// Repair after the walk: the store drops bad copies while we iterate.
	for _, c := range bad {
		res.Corrupt++
		s.corrupt.Inc()
		b, err := s.src.FetchBlock(ctx, c)
		if err == nil {
			err = block.Verify(c, b.Data)
		}
		if err == nil {
			err = s.store.Put(ctx, b, false)
		}
		if err != nil {
			s.log.Warn("scrub: could not repair a corrupt block", "cid", c, "err", err)
			continue
		}
		res.Repaired++
		s.repaired.Inc()
	}
	return res, err
}
