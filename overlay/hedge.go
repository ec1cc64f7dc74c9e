package overlay

import (
	"context"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
)

// win is one successful attempt.
type win[T any] struct {
	peer peer.ID
	v    T
}

// spread runs attempt on peers, in rank order, until n have succeeded: n at
// once, a replacement for each failure, and one more each time delay passes
// with attempts still outstanding. The last is a hedge against a member that
// hangs instead of failing — killed but not yet detected, or paused — which
// would otherwise hold the operation for a whole attempt timeout. Attempts
// still running once n have succeeded are cancelled and not waited for;
// their results go to a buffered channel nobody reads.
func spread[T any](ctx context.Context, peers []peer.ID, n int, delay time.Duration, attempt func(context.Context, peer.ID) (T, error)) ([]win[T], []error) {
	if n <= 0 || len(peers) == 0 {
		return nil, nil
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	type result struct {
		peer peer.ID
		v    T
		err  error
	}
	results := make(chan result, len(peers))
	next, inflight := 0, 0
	start := func() {
		p := peers[next]
		next++
		inflight++
		go func() {
			v, err := attempt(ctx, p)
			results <- result{p, v, err}
		}()
	}
	for next < len(peers) && inflight < n {
		start()
	}
	hedge := time.NewTicker(delay)
	defer hedge.Stop()
	var wins []win[T]
	var errs []error
	for inflight > 0 {
		select {
		case r := <-results:
			inflight--
			if r.err != nil {
				errs = append(errs, r.err)
				if next < len(peers) && len(wins)+inflight < n {
					start()
				}
				continue
			}
			wins = append(wins, win[T]{r.peer, r.v})
			if len(wins) == n {
				return wins, errs
			}
		case <-hedge.C:
			if next < len(peers) {
				start()
			}
		case <-ctx.Done():
			return wins, append(errs, ctx.Err())
		}
	}
	return wins, errs
}
