package storage

import (
	"context"
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/xnode/xnode/block"
	xtest "github.com/xnode/xnode/internal/testutil"
)

// TestWriteGroupBatches drives writeGroup with a commit that holds the first
// batch until every other writer has queued, so the rest must go out as one
// batch under a handed-over lead; every write is committed exactly once and
// gets its own batch's outcome.
func TestWriteGroupBatches(t *testing.T) {
	var g writeGroup
	const writers = 8
	release := make(chan struct{})
	var (
		mu        sync.Mutex
		batches   [][]*groupWrite
		committed = map[*groupWrite]int{}
	)
	batchErr := errors.New("second batch failed")
	commit := func(batch []*groupWrite) {
		mu.Lock()
		first := len(batches) == 0
		batches = append(batches, batch)
		for _, w := range batch {
			committed[w]++
		}
		mu.Unlock()
		if first {
			<-release
			return
		}
		for _, w := range batch {
			w.err = batchErr
		}
	}

	lead := newGroupWrite([]block.Block{randBlock(t, 10)}, true)
	leadDone := make(chan error, 1)
	go func() { leadDone <- g.write(lead, commit) }()
	waitFor(t, func() bool { mu.Lock(); defer mu.Unlock(); return len(batches) == 1 })

	ws := make([]*groupWrite, writers)
	errs := make(chan error, writers)
	for i := range ws {
		ws[i] = newGroupWrite([]block.Block{randBlock(t, 10)}, i%2 == 0)
		go func() { errs <- g.write(ws[i], commit) }()
	}
	waitFor(t, func() bool { g.mu.Lock(); defer g.mu.Unlock(); return len(g.queue) == writers })
	close(release)

	if err := recv(t, leadDone); err != nil {
		t.Fatalf("first write: %v", err)
	}
	for range writers {
		if err := recv(t, errs); !errors.Is(err, batchErr) {
			t.Fatalf("queued write: %v, want its batch's error", err)
		}
	}
	if len(batches) != 2 || len(batches[0]) != 1 || len(batches[1]) != writers {
		t.Fatalf("batches of %v writes, want [1 %d]", batchSizes(batches), writers)
	}
	for _, w := range append(ws, lead) {
		if committed[w] != 1 {
			t.Fatalf("a write was committed %d times", committed[w])
		}
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.leading || len(g.queue) != 0 {
		t.Fatalf("group left leading=%v with %d queued", g.leading, len(g.queue))
	}
}

// recv takes one error from ch, failing the test if none comes (a write left
// waiting forever).
func recv(t *testing.T, ch <-chan error) error {
	t.Helper()
	select {
	case err := <-ch:
		return err
	case <-time.After(10 * time.Second):
		t.Fatal("a write never returned")
		return nil
	}
}

func batchSizes(bs [][]*groupWrite) []int {
	var n []int
	for _, b := range bs {
		n = append(n, len(b))
	}
	return n
}

// waitFor polls cond until it holds, failing the test after a while.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	xtest.Eventually(t, 10*time.Second, cond, "condition not reached")
}

// TestConcurrentPutsGroupExactly puts overlapping sets of blocks from many
// goroutines at once, so writes group and one batch may carry the same CID
// twice: every block is stored once and the usage counters are exact.
func TestConcurrentPutsGroupExactly(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir())
	blocks := make([]block.Block, 40)
	var total int64
	for i := range blocks {
		blocks[i] = randBlock(t, 1000+i*997)
		total += int64(len(blocks[i].Data))
	}
	var wg sync.WaitGroup
	for w := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range blocks {
				b := blocks[(i+w*5)%len(blocks)]
				var err error
				if w%2 == 0 {
					err = s.PutHashed(ctx, b, true)
				} else {
					err = s.Put(ctx, b, w%4 == 1)
				}
				if err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	if u := s.Usage(); u.Blocks != int64(len(blocks)) || u.Bytes != total {
		t.Fatalf("usage %+v, want %d blocks, %d bytes", u, len(blocks), total)
	}
	if err := s.recount(); err != nil {
		t.Fatal(err)
	}
	if u := s.Usage(); u.Blocks != int64(len(blocks)) || u.Bytes != total {
		t.Fatalf("recounted usage %+v, want %d blocks, %d bytes", u, len(blocks), total)
	}
	for _, b := range blocks {
		if _, err := s.Get(ctx, b.CID); err != nil {
			t.Fatal(err)
		}
	}
}
