package restore

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

// Fetcher finds a block elsewhere and returns it checked against its CID.
type Fetcher interface {
	FetchBlock(ctx context.Context, c cid.Cid) (block.Block, error)
}

// Store is what the Restorer needs of the local block store.
type Store interface {
	Has(ctx context.Context, c cid.Cid) (bool, error)
	Put(ctx context.Context, b block.Block, tentative bool) error
}

// Config configures a Restorer.
type Config struct {
	// Concurrency is how many blocks are fetched at once. Default 4.
	Concurrency int
	// FirstRetry is the wait before a block whose fetch failed is tried
	// again; it doubles with every failure up to MaxRetry. Default 1s: a
	// restarted node hears its members within a couple of seconds.
	FirstRetry time.Duration
	// MaxRetry caps the wait between tries. Default 30s.
	MaxRetry time.Duration
	// GiveUp is how long a block is tried before it is left to the scrubber
	// and anti-entropy. Default 1h.
	GiveUp time.Duration
	// AttemptTimeout bounds one fetch. Default 30s.
	AttemptTimeout time.Duration
	// Now is the clock (nil: time.Now); tests set it.
	Now func() time.Time `toml:"-"`
}

// DefaultConfig returns the defaults documented on Config.
func DefaultConfig() Config {
	return Config{Concurrency: 4, FirstRetry: time.Second, MaxRetry: 30 * time.Second, GiveUp: time.Hour, AttemptTimeout: 30 * time.Second}
}

// ErrConfig is an invalid Config.
var ErrConfig = fmt.Errorf("restore: %w: config", xnode.ErrInvalidArgument)

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	bad := func(field string, v any, why string) error {
		return fmt.Errorf("%w: %s = %v: %s", ErrConfig, field, v, why)
	}
	switch {
	case c.Concurrency < 1:
		return bad("Concurrency", c.Concurrency, "must be at least 1")
	case c.FirstRetry <= 0:
		return bad("FirstRetry", c.FirstRetry, "must be positive")
	case c.MaxRetry < c.FirstRetry:
		return bad("MaxRetry", c.MaxRetry, "must be at least FirstRetry")
	case c.GiveUp <= 0:
		return bad("GiveUp", c.GiveUp, "must be positive")
	case c.AttemptTimeout <= 0:
		return bad("AttemptTimeout", c.AttemptTimeout, "must be positive")
	}
	return nil
}

func (c Config) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

// pending is one block waiting to be restored.
type pending struct {
	since time.Time // reported
	next  time.Time // next try
	wait  time.Duration
	busy  bool // a fetch is in flight
}

// Restorer restores damaged blocks from other owners. See the package doc.
type Restorer struct {
	cfg   Config
	store Store
	src   Fetcher
	log   *slog.Logger

	restored, gaveUp prometheus.Counter

	mu      sync.Mutex
	pending map[cid.Cid]*pending
	kick    chan struct{}

	life    sync.Mutex
	started bool
	closed  bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
}

// New returns a Restorer that stores into store what it fetches from src.
// Metrics go to reg (nil: not registered), logs to log (nil: discarded).
func New(cfg Config, store Store, src Fetcher, reg prometheus.Registerer, log *slog.Logger) (*Restorer, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if store == nil || src == nil {
		return nil, fmt.Errorf("%w: a store and a fetcher are required", ErrConfig)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	r := &Restorer{cfg: cfg, store: store, src: src, log: log,
		pending: make(map[cid.Cid]*pending), kick: make(chan struct{}, 1),
		restored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_restore_restored_total",
			Help: "Damaged local blocks fetched again from another owner and stored back.",
		}),
		gaveUp: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_restore_gave_up_total",
			Help: "Damaged local blocks no other owner supplied within the give-up time (left to the scrubber and anti-entropy).",
		}),
	}
	err := promreg.Register(reg, r.restored, r.gaveUp, prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "xnode_restore_pending_blocks",
		Help: "Damaged local blocks waiting to be fetched again.",
	}, func() float64 { return float64(r.Pending()) }))
	if err != nil {
		return nil, fmt.Errorf("restore: metrics: %w", err)
	}
	return r, nil
}

// Report asks for block c to be restored. It never blocks.
func (r *Restorer) Report(c cid.Cid) {
	if !c.Defined() {
		return
	}
	r.mu.Lock()
	if _, ok := r.pending[c]; !ok {
		now := r.cfg.now()
		r.pending[c] = &pending{since: now, next: now, wait: r.cfg.FirstRetry}
	}
	r.mu.Unlock()
	r.poke()
}

// Pending is how many blocks wait to be restored.
func (r *Restorer) Pending() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return len(r.pending)
}

func (r *Restorer) poke() {
	select {
	case r.kick <- struct{}{}:
	default:
	}
}

// Start runs the loop until ctx ends or Close is called.
func (r *Restorer) Start(ctx context.Context) error {
	r.life.Lock()
	defer r.life.Unlock()
	switch {
	case r.closed:
		return errors.New("restore: closed")
	case r.started:
		return errors.New("restore: already started")
	}
	r.started = true
	ctx, r.cancel = context.WithCancel(ctx)
	r.wg.Add(1)
	go r.run(ctx)
	return nil
}

// Close stops the loop and waits for the fetches in flight.
func (r *Restorer) Close() error {
	r.life.Lock()
	r.closed = true
	cancel := r.cancel
	r.life.Unlock()
	if cancel != nil {
		cancel()
	}
	r.wg.Wait()
	return nil
}

func (r *Restorer) run(ctx context.Context) {
	defer r.wg.Done()
	slots := make(chan struct{}, r.cfg.Concurrency)
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	for {
		due, wait := r.due(r.cfg.now())
		for _, c := range due {
			select {
			case slots <- struct{}{}:
			case <-ctx.Done():
				return
			}
			r.wg.Add(1)
			go func() {
				defer r.wg.Done()
				defer func() { <-slots }()
				r.try(ctx, c)
			}()
		}
		timer.Reset(wait)
		select {
		case <-ctx.Done():
			return
		case <-r.kick:
		case <-timer.C:
		}
	}
}

// due marks busy and returns the blocks whose next try has come, and how
// long until the next of the others.
func (r *Restorer) due(now time.Time) ([]cid.Cid, time.Duration) {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []cid.Cid
	wait := time.Hour
	for c, p := range r.pending {
		switch {
		case p.busy:
		case !p.next.After(now):
			p.busy = true
			out = append(out, c)
		default:
			wait = min(wait, p.next.Sub(now))
		}
	}
	return out, wait
}

// try restores c once, and schedules the next try if that failed.
func (r *Restorer) try(ctx context.Context, c cid.Cid) {
	err := r.restore(ctx, c)
	if ctx.Err() != nil {
		return
	}
	now := r.cfg.now()
	r.mu.Lock()
	p := r.pending[c]
	switch {
	case err == nil:
		delete(r.pending, c)
	case now.Sub(p.since) >= r.cfg.GiveUp:
		delete(r.pending, c)
		r.gaveUp.Inc()
		r.log.Warn("could not restore a damaged block from another owner; leaving it to the scrubber", "cid", c, "tried_for", now.Sub(p.since), "err", err)
	default:
		p.busy, p.next = false, now.Add(p.wait)
		p.wait = min(2*p.wait, r.cfg.MaxRetry)
		r.log.Debug("restore of a damaged block failed; will retry", "cid", c, "retry_in", p.next.Sub(now), "err", err)
	}
	r.mu.Unlock()
	r.poke()
}

func (r *Restorer) restore(ctx context.Context, c cid.Cid) error {
	if has, err := r.store.Has(ctx, c); err != nil {
		return err
	} else if has {
		return nil // stored again meanwhile: by repair, or a read
	}
	actx, cancel := context.WithTimeout(ctx, r.cfg.AttemptTimeout)
	defer cancel()
	b, err := r.src.FetchBlock(actx, c)
	if err != nil {
		return err
	}
	if err := block.Verify(c, b.Data); err != nil {
		return err
	}
	if err := r.store.Put(ctx, b, false); err != nil {
		return err
	}
	r.restored.Inc()
	r.log.Info("restored a damaged block from another owner", "cid", c, "size", len(b.Data))
	return nil
}
