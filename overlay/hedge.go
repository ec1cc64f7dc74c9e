package overlay

import (
	"context"
	"sync"
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

// suspectFor is how long a member whose block attempt failed or hung is
// asked last. Longer than a put of a few hundred megabytes' worth of
// hedges, shorter than failure detection on a bad day: it only reorders,
// so a member wrongly suspected is still asked when the others are not
// enough.
const suspectFor = 10 * time.Second

// suspects remembers the members whose block attempts recently failed or
// went unanswered past the hedge delay. A partition, or a member that
// swallows requests, is seen this way seconds before failure detection
// marks it: every block of a put whose owners include it would otherwise
// wait out one hedge delay for it, or fail on it first. Ordering them last
// lets the next blocks go straight to members that answer. The zero value
// is ready.
type suspects struct {
	mu    sync.Mutex
	until map[peer.ID]time.Time
}

// note marks p suspect for suspectFor from now.
func (s *suspects) note(p peer.ID) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.until == nil {
		s.until = map[peer.ID]time.Time{}
	}
	s.until[p] = time.Now().Add(suspectFor)
}

// last returns ps with the members currently suspect moved to the end,
// the order otherwise kept. ps itself is not changed.
func (s *suspects) last(ps []peer.ID) []peer.ID {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.until) == 0 {
		return ps
	}
	now := time.Now()
	var good, bad []peer.ID
	for _, p := range ps {
		if t, ok := s.until[p]; ok && now.Before(t) {
			bad = append(bad, p)
			continue
		}
		good = append(good, p)
	}
	for p, t := range s.until {
		if !now.Before(t) {
			delete(s.until, p)
		}
	}
	if len(bad) == 0 {
		return ps
	}
	return append(good, bad...)
}
