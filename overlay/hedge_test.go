package overlay

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

func TestSpread(t *testing.T) {
	peers := []peer.ID{"a", "b", "c", "d"}
	boom := errors.New("boom")
	type behaviour map[peer.ID]string // ok, fail, hang

	run := func(b behaviour, n int) ([]win[peer.ID], []error, map[peer.ID]bool) {
		var mu sync.Mutex
		started := map[peer.ID]bool{}
		cancelled := make(chan peer.ID, len(peers))
		wins, errs := spread(context.Background(), peers, n, 20*time.Millisecond, func(ctx context.Context, p peer.ID) (peer.ID, error) {
			mu.Lock()
			started[p] = true
			mu.Unlock()
			switch b[p] {
			case "fail":
				return "", boom
			case "hang":
				<-ctx.Done()
				cancelled <- p
				return "", ctx.Err()
			}
			return p, nil
		})
		mu.Lock()
		defer mu.Unlock()
		return wins, errs, started
	}

	// The first owner hangs: the hedge asks the next one, which answers.
	wins, _, _ := run(behaviour{"a": "hang"}, 1)
	if len(wins) != 1 || wins[0].peer != "b" {
		t.Fatalf("hang: %+v", wins)
	}
	// Failures are replaced in rank order until n succeed.
	wins, errs, started := run(behaviour{"a": "fail", "b": "fail"}, 2)
	if len(wins) != 2 || len(errs) != 2 || !started["c"] || !started["d"] {
		t.Fatalf("failures: wins %+v errs %v", wins, errs)
	}
	// Healthy members: exactly n attempts, in rank order.
	wins, _, started = run(behaviour{}, 3)
	if len(wins) != 3 || started["d"] {
		t.Fatalf("healthy: wins %+v started %v", wins, started)
	}
	// Nobody succeeds: every error is reported.
	wins, errs, _ = run(behaviour{"a": "fail", "b": "fail", "c": "fail", "d": "fail"}, 1)
	if len(wins) != 0 || len(errs) != 4 {
		t.Fatalf("all fail: %+v %v", wins, errs)
	}
}

// TestLeaseOutlivesAbandonedAttempts runs spread the way place does: the
// winner returns at once and a hedge hangs past spread's return. The buffer
// must go back only when the hung attempt lets go, exactly once, and an
// attempt that starts after the end must not get it.
func TestLeaseOutlivesAbandonedAttempts(t *testing.T) {
	var released atomic.Int32
	l := &lease{release: func() { released.Add(1) }}
	hung := make(chan struct{})
	unblock := make(chan struct{})
	attempt := func(ctx context.Context, p peer.ID) (struct{}, error) {
		if !l.acquire() {
			return struct{}{}, context.Canceled
		}
		defer l.done()
		if p == "slow" {
			close(hung)
			<-unblock // ignores ctx, as a store call in progress may
			return struct{}{}, nil
		}
		<-hung // the slow one is running before anyone wins
		return struct{}{}, nil
	}
	wins, _ := spread(context.Background(), []peer.ID{"slow", "fast"}, 1, time.Millisecond, attempt)
	if len(wins) != 1 || wins[0].peer != "fast" {
		t.Fatalf("wins %v", wins)
	}
	l.end()
	if n := released.Load(); n != 0 {
		t.Fatalf("released %d times while an attempt still used the buffer", n)
	}
	close(unblock)
	deadline := time.After(10 * time.Second)
	for released.Load() == 0 {
		select {
		case <-deadline:
			t.Fatal("buffer never released after the last attempt finished")
		case <-time.After(time.Millisecond):
		}
	}
	if l.acquire() {
		t.Fatal("an attempt acquired the buffer after the operation ended")
	}
	l.end()
	if n := released.Load(); n != 1 {
		t.Fatalf("released %d times, want 1", n)
	}
}
