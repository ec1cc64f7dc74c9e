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

// RecordRef names one version of a record and what it claims.
type RecordRef struct {
	Namespace string
	Key       string
	Version   uint64
	CID       cid.Cid
	Size      uint64
}

func (r RecordRef) id() string { return fmt.Sprintf("%s/%s@%d", r.Namespace, r.Key, r.Version) }

// Chain is what the verifier needs of the consensus tier.
type Chain interface {
	// Pending lists records whose current version this validator has not
	// attested to.
	Pending(ctx context.Context) ([]RecordRef, error)
	// Attest submits this validator's verdict and waits for its commit.
	Attest(ctx context.Context, ref RecordRef, ok bool, reason string) error
}

// BlockSource fetches a block from wherever it is held.
type BlockSource interface {
	FetchBlock(ctx context.Context, c cid.Cid) (block.Block, error)
}

// Verdict is the outcome of checking one record.
type Verdict struct {
	// OK means every block matched and the size is right.
	OK bool
	// Reason says what did not match, or why the check could not finish.
	Reason string
	// Retry means the check could not decide (the blob was not reachable);
	// NotFound that no member had it.
	Retry, NotFound bool
}

// Check fetches the blob of ref and checks it: every block of its UnixFS
// DAG against its CID, every leaf's size against its parent's, and the total
// against ref.Size.
func Check(ctx context.Context, src BlockSource, ref RecordRef) Verdict {
	var failed *Verdict
	get := func(ctx context.Context, c cid.Cid) (block.Block, error) {
		b, err := src.FetchBlock(ctx, c)
		switch {
		case errors.Is(err, xnode.ErrIntegrity):
			failed = &Verdict{Reason: fmt.Sprintf("block %s: no intact copy", c)}
		case errors.Is(err, xnode.ErrNotFound):
			failed = &Verdict{Retry: true, NotFound: true, Reason: fmt.Sprintf("block %s not found", c)}
		case err != nil:
			failed = &Verdict{Retry: true, Reason: fmt.Sprintf("block %s: %v", c, err)}
		default:
			if err = block.Verify(c, b.Data); err != nil {
				failed = &Verdict{Reason: err.Error()}
			}
		}
		return b, err
	}
	rb, err := get(ctx, ref.CID)
	if err != nil {
		return *failed
	}
	root, err := block.DecodeNode(rb)
	if err != nil {
		return Verdict{Reason: err.Error()}
	}
	if root.Size != ref.Size {
		return Verdict{Reason: fmt.Sprintf("size %d, record says %d", root.Size, ref.Size)}
	}
	err = block.Pieces(ctx, root, 0, root.Size, get, func(p block.Piece) error {
		if !p.CID.Defined() {
			return nil
		}
		b, err := get(ctx, p.CID)
		if err != nil {
			return err
		}
		return block.CheckLeaf(p, b.Data)
	})
	switch {
	case err == nil:
		return Verdict{OK: true}
	case failed != nil:
		return *failed
	case ctx.Err() != nil:
		return Verdict{Retry: true, Reason: err.Error()}
	}
	return Verdict{Reason: err.Error()}
}

// Config configures the verifier.
type Config struct {
	// Interval is how often it looks for pending records besides new blocks. Default 5s.
	Interval time.Duration
	// Concurrency bounds records checked at once. Default 2.
	Concurrency int
	// CheckTimeout bounds one check and attestation. Default 5m.
	CheckTimeout time.Duration
	// NotFoundAttempts is how many checks in a row must find the blob missing
	// before it is attested as a mismatch. Default 3.
	NotFoundAttempts int
}

// DefaultConfig returns the defaults.
func DefaultConfig() Config {
	return Config{Interval: 5 * time.Second, Concurrency: 2, CheckTimeout: 5 * time.Minute, NotFoundAttempts: 3}
}

// Validate checks the config.
func (c Config) Validate() error {
	switch {
	case c.Interval <= 0:
		return fmt.Errorf("verify: Interval = %s: must be positive", c.Interval)
	case c.Concurrency <= 0:
		return fmt.Errorf("verify: Concurrency = %d: must be positive", c.Concurrency)
	case c.CheckTimeout <= 0:
		return fmt.Errorf("verify: CheckTimeout = %s: must be positive", c.CheckTimeout)
	case c.NotFoundAttempts <= 0:
		return fmt.Errorf("verify: NotFoundAttempts = %d: must be positive", c.NotFoundAttempts)
	}
	return nil
}

// Verifier attests records on a validator.
type Verifier struct {
	cfg     Config
	chain   Chain
	src     BlockSource
	heights <-chan int64
	log     *slog.Logger

	attested *prometheus.CounterVec

	mu       sync.Mutex
	inflight map[string]bool
	missing  map[string]int

	cancel    context.CancelFunc
	wg        sync.WaitGroup
	closeOnce sync.Once
}

// NewVerifier returns a verifier; heights (may be nil) delivers new block
// heights so pending records are picked up without waiting for Interval.
func NewVerifier(cfg Config, chain Chain, src BlockSource, heights <-chan int64, reg prometheus.Registerer, log *slog.Logger) (*Verifier, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	v := &Verifier{
		cfg: cfg, chain: chain, src: src, heights: heights, log: log,
		inflight: map[string]bool{}, missing: map[string]int{},
		attested: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_verify_attestations_total", Help: "Attestations this validator submitted, by verdict.",
		}, []string{"verdict"}),
	}
	if err := promreg.Register(reg, v.attested); err != nil {
		return nil, fmt.Errorf("verify: metrics: %w", err)
	}
	return v, nil
}

// Start runs the verification loop until Close.
func (v *Verifier) Start(ctx context.Context) error {
	ctx, v.cancel = context.WithCancel(ctx)
	v.wg.Add(1)
	go func() {
		defer v.wg.Done()
		v.loop(ctx)
	}()
	return nil
}

// Close stops the loop and waits for checks in flight.
func (v *Verifier) Close() error {
	v.closeOnce.Do(func() {
		if v.cancel != nil {
			v.cancel()
		}
		v.wg.Wait()
	})
	return nil
}

func (v *Verifier) loop(ctx context.Context) {
	t := time.NewTicker(v.cfg.Interval)
	defer t.Stop()
	sem := make(chan struct{}, v.cfg.Concurrency)
	for {
		v.scan(ctx, sem)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		case _, ok := <-v.heights:
			if !ok {
				v.heights = nil
			}
		}
	}
}

// scan starts a check for every pending record not already being checked.
func (v *Verifier) scan(ctx context.Context, sem chan struct{}) {
	refs, err := v.chain.Pending(ctx)
	if err != nil {
		if ctx.Err() == nil {
			v.log.Debug("verifier: listing pending records failed", "err", err)
		}
		return
	}
	for _, ref := range refs {
		id := ref.id()
		v.mu.Lock()
		busy := v.inflight[id]
		if !busy {
			v.inflight[id] = true
		}
		v.mu.Unlock()
		if busy {
			continue
		}
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			return
		}
		v.wg.Add(1)
		go func() {
			defer v.wg.Done()
			defer func() { <-sem }()
			defer func() {
				v.mu.Lock()
				delete(v.inflight, id)
				v.mu.Unlock()
			}()
			v.verify(ctx, ref)
		}()
	}
}

func (v *Verifier) verify(ctx context.Context, ref RecordRef) {
	ctx, cancel := context.WithTimeout(ctx, v.cfg.CheckTimeout)
	defer cancel()
	id := ref.id()
	verdict := Check(ctx, v.src, ref)
	if verdict.Retry {
		v.mu.Lock()
		if verdict.NotFound {
			v.missing[id]++
		}
		misses := v.missing[id]
		v.mu.Unlock()
		if !verdict.NotFound || misses < v.cfg.NotFoundAttempts {
			v.log.Debug("verifier: check undecided; will retry", "record", id, "reason", verdict.Reason)
			return
		}
		verdict = Verdict{Reason: "blob not found after " + fmt.Sprint(misses) + " attempts: " + verdict.Reason}
	}
	if err := v.chain.Attest(ctx, ref, verdict.OK, verdict.Reason); err != nil {
		if ctx.Err() == nil {
			v.log.Warn("verifier: attestation failed", "record", id, "err", err)
		}
		return
	}
	v.mu.Lock()
	delete(v.missing, id)
	v.mu.Unlock()
	label := "ok"
	if !verdict.OK {
		label = "mismatch"
	}
	v.attested.WithLabelValues(label).Inc()
	v.log.Info("attested", "record", id, "cid", ref.CID, "ok", verdict.OK, "reason", verdict.Reason)
}
