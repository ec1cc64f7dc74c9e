package storage

import (
	"sync"

	"github.com/xnode/xnode/block"
)

// writeGroup combines the writes of concurrent callers into one badger
// transaction, as a database log groups commits. A caller that finds no
// commit running leads: it commits its write together with every write
// queued until then, then hands the lead to the first write queued during
// its commit, if any. The others wait for their write to be done.
//
// Fewer, larger transactions are what badger writes best: each commit is a
// trip through its single writer goroutine, which stages every value of a
// commit in a buffer grown afresh for that commit. Chunks of one upload
// arrive from several goroutines at once, so they group naturally.
type writeGroup struct {
	mu      sync.Mutex
	queue   []*groupWrite
	leading bool // a leader is committing; new writes queue
}

// groupWrite is one caller's write: blocks that are all tentative or all
// not, as one PutMany call gives them.
type groupWrite struct {
	bs        []block.Block
	tentative bool

	err   error         // set before wake is closed for a finished write
	leads bool          // set before wake is closed to make this write lead
	wake  chan struct{} // closed once: the write is done, or it must lead
}

func newGroupWrite(bs []block.Block, tentative bool) *groupWrite {
	return &groupWrite{bs: bs, tentative: tentative, wake: make(chan struct{})}
}

// write commits w, alone or with others, and returns its error. commit must
// commit every write of the batch it is given, or set their errors.
func (g *writeGroup) write(w *groupWrite, commit func(batch []*groupWrite)) error {
	g.mu.Lock()
	g.queue = append(g.queue, w)
	if g.leading {
		g.mu.Unlock()
		<-w.wake
		if !w.leads {
			return w.err
		}
		g.mu.Lock()
	}
	g.leading = true
	batch := g.queue // w is in it: the head, if it was handed the lead
	g.queue = nil
	g.mu.Unlock()

	commit(batch)

	g.mu.Lock()
	if len(g.queue) > 0 {
		next := g.queue[0]
		next.leads = true
		close(next.wake)
	} else {
		g.leading = false
	}
	g.mu.Unlock()
	for _, o := range batch {
		if o != w {
			close(o.wake)
		}
	}
	return w.err
}
