package transfer

import (
	"context"
	"sync"

	"github.com/libp2p/go-libp2p/core/peer"
)

// peerLimiter bounds concurrent requests per remote peer. A peer has an
// entry only while a request holds or waits for one of its slots, so the map
// does not grow with every peer ever seen.
type peerLimiter struct {
	max   int
	mu    sync.Mutex
	peers map[peer.ID]*peerSlots
}

type peerSlots struct {
	sem  chan struct{}
	refs int // holders and waiters; guarded by peerLimiter.mu
}

func newPeerLimiter(max int) *peerLimiter {
	return &peerLimiter{max: max, peers: make(map[peer.ID]*peerSlots)}
}

func (l *peerLimiter) ref(p peer.ID) *peerSlots {
	l.mu.Lock()
	defer l.mu.Unlock()
	s := l.peers[p]
	if s == nil {
		s = &peerSlots{sem: make(chan struct{}, l.max)}
		l.peers[p] = s
	}
	s.refs++
	return s
}

func (l *peerLimiter) unref(p peer.ID, s *peerSlots) {
	l.mu.Lock()
	defer l.mu.Unlock()
	s.refs--
	if s.refs == 0 {
		delete(l.peers, p)
	}
}

// tryAcquire takes a slot for p if one is free. The release func must be
// called exactly once.
func (l *peerLimiter) tryAcquire(p peer.ID) (release func(), ok bool) {
	s := l.ref(p)
	select {
	case s.sem <- struct{}{}:
		return l.releaser(p, s), true
	default:
		l.unref(p, s)
		return nil, false
	}
}

// acquire waits for a slot for p until ctx ends.
func (l *peerLimiter) acquire(ctx context.Context, p peer.ID) (release func(), err error) {
	s := l.ref(p)
	select {
	case s.sem <- struct{}{}:
		return l.releaser(p, s), nil
	case <-ctx.Done():
		l.unref(p, s)
		return nil, ctx.Err()
	}
}

func (l *peerLimiter) releaser(p peer.ID, s *peerSlots) func() {
	var once sync.Once
	return func() {
		once.Do(func() {
			<-s.sem
			l.unref(p, s)
		})
	}
}

// len reports how many peers have an entry (for tests).
func (l *peerLimiter) len() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.peers)
}
