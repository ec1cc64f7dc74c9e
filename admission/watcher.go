package admission

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

// ErrClosed is returned by Start after Close, or when called twice.
var ErrClosed = errors.New("admission: watcher closed")

// Source is what the watcher needs of the chain.
type Source interface {
	// Nodes returns the JSON answer of the ABCI query /nodes and the height
	// whose state it was read at.
	Nodes(ctx context.Context) (height int64, answer []byte, err error)
}

// Watcher keeps a Gate current with the chain: it reads /nodes on every new
// block and applies the answer when it changed. It is safe for concurrent
// use.
type Watcher struct {
	cfg      Config
	src      Source
	heights  <-chan int64
	onChange func(Change)
	log      *slog.Logger
	m        *watcherMetrics
	now      func() time.Time

	refresh sync.Mutex // serialises refreshes, so answers apply in order
	mu      sync.Mutex // guards gate and last
	gate    *Gate
	last    []byte // the last answer applied
	started bool
	cancel  context.CancelFunc
	wg      sync.WaitGroup
	closed  bool
}

type watcherMetrics struct {
	admitted  prometheus.Gauge
	refreshes *prometheus.CounterVec
	ignored   prometheus.Counter
}

// NewWatcher builds a watcher over src that refreshes on every height
// received from heights (a coalescing channel of new block heights; nil on
// an open chain, which never asks). onChange, if not nil, is called with
// every non-empty Change, outside the watcher's locks, from the goroutine
// that refreshed. Metrics are registered on reg (nil: not registered); log
// may be nil. NewWatcher starts nothing.
func NewWatcher(cfg Config, src Source, heights <-chan int64, onChange func(Change), reg prometheus.Registerer, log *slog.Logger) (*Watcher, error) {
	gate, err := NewGate(cfg)
	if err != nil {
		return nil, err
	}
	if src == nil && !cfg.Open {
		return nil, fmt.Errorf("admission: watcher: a closed chain needs a source: %w", ErrMalformed)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	m := &watcherMetrics{
		admitted: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "xnode_admission_registered_peers",
			Help: "Peers the chain admits to placement (registered with min_node_stake bonded, validators included) at the last height read; 0 on an open chain.",
		}),
		refreshes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_admission_refreshes_total",
			Help: "Reads of the chain's node list on new blocks, by result: changed (applied), unchanged (skipped) or error.",
		}, []string{"result"}),
		ignored: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_members_unregistered_announcements_total",
			Help: "Membership events (joins, updates, failures, leaves) of peers not registered on chain: observers, ignored by placement and repair.",
		}),
	}
	if err := promreg.Register(reg, m.admitted, m.refreshes, m.ignored); err != nil {
		return nil, fmt.Errorf("admission: metrics: %w", err)
	}
	return &Watcher{
		cfg: cfg, src: src, heights: heights, onChange: onChange,
		log: log.With("component", "admission"), m: m, now: time.Now, gate: gate,
	}, nil
}

// Open reports whether the chain admits every peer (its genesis registers
// no node).
func (w *Watcher) Open() bool { return w.cfg.Open }

// Refresh reads the node list once and applies it if it changed, calling
// onChange with a non-empty Change. On an open chain it does nothing.
func (w *Watcher) Refresh(ctx context.Context) (Change, error) {
	if w.cfg.Open {
		return Change{}, nil
	}
	w.refresh.Lock()
	defer w.refresh.Unlock()
	height, answer, err := w.src.Nodes(ctx)
	if err != nil {
		w.m.refreshes.WithLabelValues("error").Inc()
		return Change{}, fmt.Errorf("admission: node list: %w", err)
	}
	w.mu.Lock()
	same := w.last != nil && bytes.Equal(answer, w.last)
	w.mu.Unlock()
	if same {
		w.m.refreshes.WithLabelValues("unchanged").Inc()
		// The jail grace runs on time: a new block re-evaluates it.
		w.mu.Lock()
		ch := w.gate.Tick(w.now())
		admitted := w.gate.AdmittedCount()
		w.mu.Unlock()
		w.report(ch, admitted, false)
		return ch, nil
	}
	nodes, err := ParseNodes(answer)
	if err != nil {
		w.m.refreshes.WithLabelValues("error").Inc()
		return Change{}, err
	}
	reg := NewRegistry(height, nodes)
	w.mu.Lock()
	first := w.last == nil
	ch := w.gate.Apply(reg, w.now())
	w.last = bytes.Clone(answer)
	admitted := w.gate.AdmittedCount()
	w.mu.Unlock()
	w.m.refreshes.WithLabelValues("changed").Inc()
	if first {
		w.log.Info("read the chain's node list", "admitted", admitted, "registered", len(nodes), "height", height)
	}
	w.report(ch, admitted, first)
	return ch, nil
}

// report logs and hands out a change.
func (w *Watcher) report(ch Change, admitted int, first bool) {
	w.m.admitted.Set(float64(admitted))
	for _, p := range ch.Admitted {
		if first {
			w.log.Debug("peer admitted to placement", "peer", p, "height", ch.Height)
		} else {
			w.log.Info("peer admitted to placement", "peer", p, "height", ch.Height)
		}
	}
	for _, p := range ch.Ended {
		w.log.Info("peer's admission to placement ended", "peer", p, "height", ch.Height)
	}
	if !ch.Empty() && w.onChange != nil {
		w.onChange(ch)
	}
}

// Start refreshes on every height received until ctx ends, Close is called
// or the height channel closes. A failed refresh is logged and retried on
// the next block. On an open chain it starts nothing.
func (w *Watcher) Start(ctx context.Context) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.closed || w.started {
		return ErrClosed
	}
	w.started = true
	if w.cfg.Open || w.heights == nil {
		return nil
	}
	ctx, w.cancel = context.WithCancel(ctx)
	w.wg.Go(func() {
		for {
			select {
			case <-ctx.Done():
				return
			case _, ok := <-w.heights:
				if !ok {
					return
				}
				if _, err := w.Refresh(ctx); err != nil && ctx.Err() == nil {
					w.log.Warn("could not read the chain's node list", "err", err)
				}
			}
		}
	})
	return nil
}

// Close stops the refresh loop and waits for it. It is idempotent.
func (w *Watcher) Close() error {
	w.mu.Lock()
	w.closed = true
	cancel := w.cancel
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
	w.wg.Wait()
	return nil
}

// Place says what placement does with p now (see Gate.Place).
func (w *Watcher) Place(p peer.ID) Decision {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gate.Place(p, w.now())
}

// Admitted reports whether p takes part in placement now.
func (w *Watcher) Admitted(p peer.ID) bool {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gate.Admitted(p)
}

// Ignore reports whether a membership event of p must be ignored by
// placement and repair (p is an observer), and counts it when it is.
func (w *Watcher) Ignore(p peer.ID) bool {
	if w.Admitted(p) {
		return false
	}
	w.m.ignored.Inc()
	return true
}

// Registry is the registry last applied (empty before the first refresh).
func (w *Watcher) Registry() Registry {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.gate.Registry()
}
