package rendezvous

import (
	"cmp"
	"math"
	"slices"
	"strings"
)

// Member is a placement candidate.
type Member struct {
	// ID is the member's stable identity, e.g. a libp2p peer id string. It is
	// hashed byte for byte, so every node must spell it the same way.
	ID string
	// Weight is the advertised capacity. Only members with a finite Weight > 0
	// are eligible; others (0, negative, NaN, ±Inf) are never chosen.
	Weight float64
}

// eligible reports whether a member with weight w may own blocks. NaN fails
// w > 0; +Inf would score +Inf for every key and own everything.
func eligible(w float64) bool {
	return w > 0 && !math.IsInf(w, 1)
}

// Score returns the weighted HRW score of member m for key: -w / ln(u), with u
// the placement hash of (key, m.ID) mapped into (0,1) (see the package doc). A higher
// score ranks first. It is positive for an eligible member and -Inf for an
// ineligible one, so an ineligible member never outranks an eligible one.
func Score(key []byte, m Member) float64 {
	if !eligible(m.Weight) {
		return math.Inf(-1)
	}
	return weightedScore(m.Weight, hash64(key, m.ID))
}

// scored is a member's index in the caller's slice with its score for a key.
type scored struct {
	score float64
	idx   int
}

// ahead reports whether (sa, ida) ranks before (sb, idb): higher score first,
// and on an exact tie the smaller ID, so the order is total and the same on
// every node whatever the order of the input.
func ahead(sa float64, ida string, sb float64, idb string) bool {
	if sa != sb {
		return sa > sb
	}
	return ida < idb
}

// Rank returns all eligible members for key ordered best first: by Score
// descending, ties broken by ID ascending. Members that share an ID are one
// member: it appears once, as the entry with the highest score (for the same
// ID that is the highest weight). The result does not depend on the order of
// members, which Rank does not modify. It is nil when none is eligible.
func Rank(key []byte, members []Member) []Member {
	seed := keySeed(key)
	uniform := uniformWeights(members)
	all := make([]scored, 0, len(members))
	for i := range members {
		m := &members[i]
		if eligible(m.Weight) {
			all = append(all, scored{rankKey(uniform, m.Weight, memberHash(seed, m.ID)), i})
		}
	}
	if len(all) == 0 {
		return nil
	}
	// Group duplicates with their best entry first, keep that one, then rank.
	slices.SortFunc(all, func(a, b scored) int {
		if c := strings.Compare(members[a.idx].ID, members[b.idx].ID); c != 0 {
			return c
		}
		return cmp.Compare(b.score, a.score)
	})
	all = slices.CompactFunc(all, func(a, b scored) bool {
		return members[a.idx].ID == members[b.idx].ID
	})
	slices.SortFunc(all, func(a, b scored) int {
		if ahead(a.score, members[a.idx].ID, b.score, members[b.idx].ID) {
			return -1
		}
		return 1 // never equal: IDs are distinct after compaction
	})
	out := make([]Member, len(all))
	for i, s := range all {
		out[i] = members[s.idx]
	}
	return out
}

// Owners skips a member when w < cut*(1-u), with cut = T*cutSlack and T the
// r-th best score so far. The two products and 1-u each round by at most
// 2^-53 relative, and the score's ln and division together by under 2^-51,
// so a skipped member's computed score is below T*(1-2^-20)*(1+2^-49) < T:
// strictly behind, so it could not have entered whatever its ID. The bound
// is used only inside [minCut, maxCut], where those relative error bounds
// hold (no subnormals, no overflow).
const (
	cutSlack = 1 - 0x1p-20
	minCut   = 0x1p-900
	maxCut   = 0x1p900
)

// outranked reports, without a logarithm, that a member of weight w and hash
// h scores strictly below T, where cut = T*cutSlack: w < cut*(1-u). It may
// answer false for a member that is in fact behind; never true for one that
// is not.
func outranked(cut, w float64, h uint64) bool {
	b := cut * (1 - unitInterval(h))
	return b > minCut && b < maxCut && w < b
}

// stackTop is how many owners Owners tracks without a heap allocation; R is a
// small network parameter (default 3).
const stackTop = 8

// Owners returns the top r members for key, best first: exactly Rank(key,
// members)[:r], or all of Rank when fewer than r are eligible. It is nil when r
// <= 0 or none is eligible. Duplicate IDs count once, as in Rank.
//
// It hashes the key once and each member once, keeps the r best in a small
// sorted buffer instead of sorting, and computes a member's score (a
// logarithm) only when a cheap bound says it might enter the buffer, so it
// costs less than scoring every member. It allocates only the result (for
// r <= 8).
func Owners(key []byte, members []Member, r int) []Member {
	if r <= 0 || len(members) == 0 {
		return nil
	}
	r = min(r, len(members))
	seed := keySeed(key)
	if out, ok := ownersUniform(seed, members, r); ok {
		return out
	}

	var buf [stackTop]scored
	top := buf[:0]
	if r > stackTop {
		top = make([]scored, 0, r)
	}
	// cut is the r-th best score so far times cutSlack; set once top is full.
	var cut float64
	for i := range members {
		m := &members[i]
		if !eligible(m.Weight) {
			continue
		}
		h := memberHash(seed, m.ID)
		if len(top) == r {
			// ln(u) <= u-1, so score = w/-ln(u) < w/(1-u). When even that
			// bound is below the r-th best, the member cannot enter, and the
			// logarithm, the costliest step, is skipped. The slack keeps the
			// test strict despite rounding, so the result is exactly what
			// scoring every member gives.
			if outranked(cut, m.Weight, h) {
				continue
			}
			last := top[r-1]
			s := weightedScore(m.Weight, h)
			if !ahead(s, m.ID, last.score, members[last.idx].ID) {
				continue
			}
			top = admit(top, r, members, scored{s, i})
		} else {
			top = admit(top, r, members, scored{weightedScore(m.Weight, h), i})
		}
		if len(top) == r {
			cut = top[r-1].score * cutSlack
		}
	}

	if len(top) == 0 {
		return nil
	}
	out := make([]Member, len(top))
	for i, s := range top {
		out[i] = members[s.idx]
	}
	return out
}

// uniformWeights reports whether every eligible member has one weight. Then
// score = -w/ln(u) is strictly increasing in u alone, so members rank by u
// and no logarithm is needed: the order is the same, ties included (equal u
// gives equal scores, broken by ID either way).
func uniformWeights(members []Member) bool {
	w := 0.0
	for i := range members {
		mw := members[i].Weight
		if !eligible(mw) {
			continue
		}
		if w == 0 {
			w = mw
		} else if mw != w {
			return false
		}
	}
	return true
}

// rankKey is what members are ordered by: u itself when weights are uniform
// (see uniformWeights), the weighted score otherwise.
func rankKey(uniform bool, w float64, h uint64) float64 {
	if uniform {
		return unitInterval(h)
	}
	return weightedScore(w, h)
}

// ownersUniform is Owners when every eligible member has the same weight.
// Then score = -w/ln(u) is strictly increasing in u, and u = (k + 0.5)/2^52
// in k = h>>12, so the owners are the members with the largest k. It keeps
// the r+1 largest in a small sorted array of integers, each k packed with the
// member's index, so one hash and one integer comparison decide for almost
// every member, with no logarithm and no floating point.
//
// Packed values order as k does except among equal k, where Rank orders by
// ID (and a repeated ID has the same k). So the answer stands only when the
// r+1 kept have distinct k: then the top r are above every other member and
// are r different IDs. Otherwise, which for distinct IDs happens about once
// in 2^52/r² keys, ok is false and the caller takes the general path. ok is
// false as well when the weights are not uniform, found out in the same
// pass, or when there are more members than an index can hold.
func ownersUniform(seed uint64, members []Member, r int) (out []Member, ok bool) {
	if r > stackTop || len(members) > 1<<indexBits {
		return nil, false
	}
	// top holds the r+1 largest packed values so far, largest first, and
	// zeros in the slots not yet filled: a zero sorts last, and only the
	// first n slots are read.
	var top [stackTop + 1]uint64
	n := 0          // eligible members seen
	w := math.NaN() // the common weight; NaN equals nothing, so the first eligible member sets it
	for i := range members {
		m := &members[i]
		if m.Weight != w {
			if !eligible(m.Weight) {
				continue
			}
			if !math.IsNaN(w) {
				return nil, false
			}
			w = m.Weight
		}
		n++
		v := memberHash(seed, m.ID)>>12<<indexBits | uint64(i)
		if v < top[r] {
			continue
		}
		// Insert v and drop the smallest, with no branch on where v goes:
		// slot j becomes the j-th largest of the old values and v.
		for j := r; j > 0; j-- {
			top[j] = max(top[j], min(top[j-1], v))
		}
		top[0] = max(top[0], v)
	}
	n = min(n, r+1)
	for j := 1; j < n; j++ {
		if top[j-1]>>indexBits == top[j]>>indexBits {
			return nil, false
		}
	}
	if n == 0 {
		return nil, true
	}
	out = make([]Member, min(n, r))
	for j := range out {
		out[j] = members[top[j]&(1<<indexBits-1)]
	}
	return out, true
}

// indexBits is how many low bits of a packed value in ownersUniform hold the
// member's index; the 52-bit k takes the rest.
const indexBits = 12

// admit puts c, which ranks ahead of the worst of a full top (or top is not
// full), into its place in top, sorted best first, and returns top. If a
// member with c's ID is already in top, the better of the two stays: an ID
// evicted earlier ranked behind r others, so it cannot belong in the result.
func admit(top []scored, r int, members []Member, c scored) []scored {
	id := members[c.idx].ID
	pos := -1 // where c lands before moving up
	for j, t := range top {
		if members[t.idx].ID == id {
			if !ahead(c.score, id, t.score, id) {
				return top
			}
			pos = j
			break
		}
	}
	if pos < 0 {
		if len(top) < r {
			top = append(top, c)
		}
		pos = len(top) - 1
	}
	top[pos] = c
	for ; pos > 0; pos-- {
		p := top[pos-1]
		if !ahead(c.score, id, p.score, members[p.idx].ID) {
			break
		}
		top[pos] = p
		top[pos-1] = c
	}
	return top
}
