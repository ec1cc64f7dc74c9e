package overlay

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"
	"golang.org/x/sync/errgroup"

	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/restore"
	"github.com/xnode/xnode/storage"
)

// repairer re-replicates and rebalances the blocks this node holds
// (DESIGN.md "Placement", repair). One pass walks the local index in batches;
// for each block it asks the current owners (repair's view, where a failed
// member keeps its place for the grace period) whether they hold it, then:
//
//   - if this node is an owner and the highest-ranked owner holding the block,
//     it pushes the block to the owners that said they lack it;
//   - if this node is not an owner and no owner holds the block, it pushes to
//     all of them; once every owner confirms a copy, it drops its own, but
//     only when that has held for dropDelay (two passes apart): views of
//     membership reach nodes a gossip round or a block apart, and a copy
//     dropped on one node's new view is pushed back by a node still on the
//     old one, and dropped again, until they agree.
//
// An owner that does not answer is neither pushed to nor counted as holding,
// so a paused member causes no copies and no drops.
type repairer struct {
	bs          *blocks
	view        func() view
	concurrency int
	interval    time.Duration
	settle      time.Duration
	log         *slog.Logger
	metrics     *metrics

	trigger chan struct{}

	drops *dropGate // used only by the pass, on run's goroutine
}

// dropDelay is how long a copy must have been found droppable before it is
// dropped, for a settle period: twice it, and at least two seconds, about a
// gossip round and a block on a busy node.
func dropDelay(settle time.Duration) time.Duration {
	return max(2*settle, 2*time.Second)
}

// dropGate holds back the drop of a copy this node no longer owns until the
// copy has been found droppable, pass after pass, for after. A pass that
// does not find it droppable (the views changed back) starts it again.
type dropGate struct {
	after time.Duration
	since map[cid.Cid]time.Time // found droppable since, without a break
	seen  map[cid.Cid]bool      // found droppable in this pass
}

func newDropGate(after time.Duration) *dropGate {
	return &dropGate{after: after, since: map[cid.Cid]time.Time{}, seen: map[cid.Cid]bool{}}
}

// ready notes that c is droppable at now and says whether it may go.
func (g *dropGate) ready(c cid.Cid, now time.Time) bool {
	g.seen[c] = true
	since, ok := g.since[c]
	if !ok {
		g.since[c] = now
		return false
	}
	if now.Sub(since) < g.after {
		return false
	}
	delete(g.since, c)
	return true
}

// endPass forgets the copies this pass did not find droppable and returns
// how many wait on.
func (g *dropGate) endPass() int {
	for c := range g.since {
		if !g.seen[c] {
			delete(g.since, c)
		}
	}
	clear(g.seen)
	return len(g.since)
}

// passStats says what one repair pass did.
type passStats struct {
	// Deferred counts the copies found droppable that wait out the drop
	// delay after the pass.
	Checked, Pushed, Dropped, Deferred int
	Bytes                              int64
	Took                               time.Duration
}

func newRepairer(bs *blocks, v func() view, concurrency int, interval, settle time.Duration, log *slog.Logger, m *metrics) *repairer {
	return &repairer{bs: bs, view: v, concurrency: concurrency, interval: interval, settle: settle, log: log, metrics: m, trigger: make(chan struct{}, 1),
		drops: newDropGate(dropDelay(settle))}
}

// Trigger says membership changed: a pass runs once it has settled.
func (r *repairer) Trigger() {
	select {
	case r.trigger <- struct{}{}:
	default:
	}
}

// run makes a pass once membership has settled after triggers, and every
// interval, until ctx ends. A periodic pass that falls while a settled one is
// pending is left to it.
func (r *repairer) run(ctx context.Context) {
	t := time.NewTicker(r.interval)
	defer t.Stop()
	wait := time.NewTimer(time.Hour) // armed by the first trigger
	wait.Stop()
	defer wait.Stop()
	s := settling{quiet: r.settle, limit: 10 * r.settle}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if s.pending {
				continue
			}
		case <-r.trigger:
			wait.Reset(time.Until(s.changed(time.Now())))
			continue
		case <-wait.C:
			s.ran()
		}
		st, err := r.pass(ctx)
		if err != nil && ctx.Err() == nil {
			r.log.Warn("repair pass failed", "err", err)
		}
		if st.Pushed > 0 || st.Dropped > 0 {
			r.log.Info("repair pass", "checked", st.Checked, "pushed", st.Pushed, "bytes", st.Bytes, "dropped", st.Dropped, "took", st.Took)
		}
	}
}

// settling decides when the pass called for by membership changes runs:
// once no change has come for quiet, and at the latest limit after the first
// change it waits on, so that changes that never stop still get a pass.
type settling struct {
	quiet, limit time.Duration
	pending      bool
	first        time.Time // the first change since the last pass
}

// changed records a change at now and returns when the pass is due.
func (s *settling) changed(now time.Time) time.Time {
	if !s.pending {
		s.pending, s.first = true, now
	}
	due := now.Add(s.quiet)
	if last := s.first.Add(s.limit); last.Before(due) {
		return last
	}
	return due
}

// ran records that the pass ran.
func (s *settling) ran() { s.pending = false }

const repairBatch = 1024

type localEntry struct {
	c    cid.Cid
	size int
}

// pass makes one repair pass over the local index.
func (r *repairer) pass(ctx context.Context) (passStats, error) {
	start := time.Now()
	var st passStats
	v := r.view()
	var batch []localEntry
	flush := func() error {
		err := r.repairBatch(ctx, v, batch, &st)
		batch = batch[:0]
		return err
	}
	err := r.bs.local.ForEach(ctx, func(c cid.Cid, size int) error {
		batch = append(batch, localEntry{c, size})
		if len(batch) == repairBatch {
			return flush()
		}
		return nil
	})
	if err == nil && len(batch) > 0 {
		err = flush()
	}
	if err == nil {
		if st.Deferred = r.drops.endPass(); st.Deferred > 0 {
			// Drop them once the delay has passed, not at the next
			// periodic pass, which may be a minute away.
			time.AfterFunc(r.drops.after, r.Trigger)
		}
	}
	st.Took = time.Since(start)
	r.metrics.repairPasses.Inc()
	return st, err
}

func (r *repairer) repairBatch(ctx context.Context, v view, batch []localEntry, st *passStats) error {
	self := r.bs.self
	cids := make([]cid.Cid, len(batch))
	owners := make([][]peer.ID, len(batch))
	for i, e := range batch {
		cids[i] = e.c
		owners[i] = v.owners(e.c)
	}
	has := r.bs.probe(ctx, cids, owners, r.concurrency, r.bs.attemptTO)
	if ctx.Err() != nil {
		return ctx.Err()
	}

	type push struct {
		i  int
		to []peer.ID
	}
	var pushes []push
	var drops []int
	for i := range batch {
		st.Checked++
		os := owners[i]
		if contains(os, self) {
			// Push only if this node is the highest-ranked owner holding it.
			first := true
			for _, p := range os {
				if p == self {
					break
				}
				if has[i][p] {
					first = false
					break
				}
			}
			if !first {
				continue
			}
			var to []peer.ID
			for _, p := range os {
				if held, answered := has[i][p]; p != self && answered && !held {
					to = append(to, p)
				}
			}
			if len(to) > 0 {
				pushes = append(pushes, push{i, to})
			}
			continue
		}
		held, answered := 0, 0
		var to []peer.ID
		for _, p := range os {
			h, ok := has[i][p]
			if !ok {
				continue
			}
			answered++
			if h {
				held++
			} else {
				to = append(to, p)
			}
		}
		switch {
		case len(os) > 0 && held == len(os):
			if r.drops.ready(batch[i].c, time.Now()) {
				drops = append(drops, i)
			}
		case held == 0 && len(to) > 0:
			pushes = append(pushes, push{i, to})
		}
	}

	g, gctx := errgroup.WithContext(ctx)
	g.SetLimit(r.concurrency)
	var pushed, bytes atomic.Int64
	for _, p := range pushes {
		g.Go(func() error {
			// A tentative block belongs to an upload that is still placing
			// its own copies, or that failed and left an orphan for GC:
			// either way repair must not copy it around as confirmed.
			if t, err := r.bs.local.Tentative(gctx, batch[p.i].c); err != nil || t {
				return nil
			}
			b, err := r.bs.local.Get(gctx, batch[p.i].c)
			if err != nil {
				r.log.Debug("repair: local copy unreadable", "cid", batch[p.i].c, "err", err)
				return nil
			}
			for _, to := range p.to {
				if err := r.bs.storeOn(gctx, to, b, false, false); err != nil {
					r.log.Debug("repair: push failed", "cid", b.CID, "peer", to, "err", err)
					continue
				}
				pushed.Add(1)
				bytes.Add(int64(len(b.Data)))
				r.metrics.repairBlocks.Inc()
				r.metrics.repairBytes.Add(float64(len(b.Data)))
			}
			return nil
		})
	}
	_ = g.Wait()
	for _, i := range drops {
		if err := r.bs.local.Delete(ctx, batch[i].c); err != nil {
			return err
		}
		st.Dropped++
		r.metrics.repairDropped.Inc()
	}
	st.Pushed += int(pushed.Load())
	st.Bytes += bytes.Load()
	return nil
}

// newRestorer makes the restorer, which fetches again from another owner
// every block the local store drops as damaged (see package restore). The
// store reports to damaged; the fetch path is the node's, read when a fetch
// runs, since the block paths start after the store.
func (n *Node) newRestorer() (err error) {
	fetch := fetchFunc(func(ctx context.Context, c cid.Cid) (block.Block, error) { return n.blocks.fetch(ctx, c) })
	n.restore, err = restore.New(restore.DefaultConfig(), n.store, fetch, n.reg, n.log.With("component", "restore"))
	return err
}

// damaged is the store's report of a copy it dropped as damaged. A
// tentative copy belonged to an upload still placing it, or to an orphan:
// that upload's confirm fails and it places the block again.
func (n *Node) damaged(d storage.Damage) {
	if n.restore != nil && !d.Tentative {
		n.restore.Report(d.CID)
	}
}

type fetchFunc func(ctx context.Context, c cid.Cid) (block.Block, error)

func (f fetchFunc) FetchBlock(ctx context.Context, c cid.Cid) (block.Block, error) { return f(ctx, c) }
