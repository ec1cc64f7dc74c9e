package overlay

import (
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/rendezvous"
)

// memberInfo is what placement needs to know of one member.
type memberInfo struct {
	ID       peer.ID
	Capacity uint64
	// Gone marks a member that failed (the detector gave up on it) or left
	// (it announced its shutdown); LastSeen says when it was last heard, so
	// repair can wait out the grace period: a restart is a leave too.
	Gone     bool
	LastSeen time.Time
}

// view is one consistent snapshot of the membership used for a whole put,
// get or repair pass, so that every block of one operation is ranked over the
// same members.
type view struct {
	self    peer.ID
	r       int
	members []rendezvous.Member // candidates, in no particular order
}

// weight turns a capacity into a placement weight. Capacities are in bytes;
// GiB keeps the numbers small without changing any ratio.
func weight(capacity uint64) float64 {
	w := float64(capacity) / (1 << 30)
	if w <= 0 {
		w = 1e-9
	}
	return w
}

// newView builds a view from members (self included by the caller). With
// grace > 0 a failed member still counts until grace has passed since it was
// last seen (repair's view); with grace < 0 failed members never count (the
// put and get paths, which cannot reach them).
func newView(self peer.ID, r int, members []memberInfo, now time.Time, grace time.Duration) view {
	v := view{self: self, r: r}
	for _, m := range members {
		if m.Gone && (grace < 0 || now.Sub(m.LastSeen) > grace) {
			continue
		}
		v.members = append(v.members, rendezvous.Member{ID: string(m.ID), Weight: weight(m.Capacity)})
	}
	return v
}

// size is the number of candidate members.
func (v view) size() int { return len(v.members) }

// want is how many copies a put must make: min(R, members).
func (v view) want() int { return min(v.r, len(v.members)) }

// owners returns the top R members for c, best first.
func (v view) owners(c cid.Cid) []peer.ID {
	return ids(rendezvous.Owners(c.Bytes(), v.members, v.r))
}

// ranked returns every member for c, best first: the owners, then the
// fallbacks a put or get walks on to when an owner does not answer.
func (v view) ranked(c cid.Cid) []peer.ID {
	return ids(rendezvous.Rank(c.Bytes(), v.members))
}

func ids(ms []rendezvous.Member) []peer.ID {
	out := make([]peer.ID, len(ms))
	for i, m := range ms {
		out[i] = peer.ID(m.ID)
	}
	return out
}

func contains(ps []peer.ID, p peer.ID) bool {
	for _, q := range ps {
		if q == p {
			return true
		}
	}
	return false
}
