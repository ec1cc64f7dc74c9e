package overlay

import (
	"context"
	"errors"
	"sync"
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
