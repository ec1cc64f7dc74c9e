package rendezvous

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestXXH64ReferenceVectors checks the hash against the published XXH64
// test vectors (as used by github.com/cespare/xxhash), through both the
// []byte and the string instantiation, so every code path (stripes, 8-, 4-
// and 1-byte tails, seeds) matches the reference algorithm.
func TestXXH64ReferenceVectors(t *testing.T) {
	t.Parallel()
	const s63 = "Call me Ishmael. Some years ago--never mind how long precisely-"
	for _, tt := range []struct {
		in   string
		seed uint64
		want uint64
	}{
		{"", 0, 0xef46db3751d8e999},
		{"a", 0, 0xd24ec4f1a98c6e5b},
		{"as", 0, 0x1c330fb2d66be179},
		{"asd", 0, 0x631c37ce72a97393},
		{"asdf", 0, 0x415872f599cea71e},
		{s63, 0, 0x02a2e85470d6fd96},
		{"", 123, 0xe0db84de91f3e198},
		{"asdf", math.MaxUint64, 0x9a2fd8473be539b6},
		{s63, 54321, 0x1736d186daf5d1cd},
	} {
		if got := xxh64(tt.in, tt.seed); got != tt.want {
			t.Errorf("xxh64(%q, %d) string = %#x, want %#x", tt.in, tt.seed, got, tt.want)
		}
		if got := xxh64([]byte(tt.in), tt.seed); got != tt.want {
			t.Errorf("xxh64(%q, %d) bytes = %#x, want %#x", tt.in, tt.seed, got, tt.want)
		}
	}
}

// TestUnitIntervalIsOpen checks the extremes of the hash map strictly inside
// (0,1), with finite positive scores.
func TestUnitIntervalIsOpen(t *testing.T) {
	t.Parallel()
	for _, h := range []uint64{0, 1, 1<<12 - 1, 1 << 12, math.MaxUint64 >> 1, math.MaxUint64 - 1<<12, math.MaxUint64} {
		u := unitInterval(h)
		if !(u > 0 && u < 1) {
			t.Errorf("unitInterval(%#x) = %v, want in (0,1)", h, u)
		}
		if s := weightedScore(1, h); !(s > 0) || math.IsInf(s, 0) {
			t.Errorf("weightedScore(1, %#x) = %v, want finite > 0", h, s)
		}
	}
	if lo, hi := unitInterval(0), unitInterval(math.MaxUint64); lo != 0x1p-53 || hi != 1-0x1p-53 {
		t.Errorf("range = [%v, %v], want [2^-53, 1-2^-53]", lo, hi)
	}
}

// TestLnWithinOneULPOfMathLog compares the portable ln with math.Log over
// the values unitInterval produces, its extremes and the reduction's
// boundary at sqrt(2)/2.
func TestLnWithinOneULPOfMathLog(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(3, 4))
	xs := []float64{0x1p-53, 1 - 0x1p-53, 0.5, math.Sqrt2 / 2, math.Nextafter(math.Sqrt2/2, 0), 0.25, 0.75, 1e-10}
	for range 200_000 {
		xs = append(xs, unitInterval(rng.Uint64()))
	}
	for _, x := range xs {
		got, want := ln(x), math.Log(x)
		ulp := math.Nextafter(want, 0) - want
		if math.Abs(got-want) > math.Abs(ulp) {
			t.Fatalf("ln(%v) = %v, math.Log = %v: more than one ulp apart", x, got, want)
		}
	}
}

func TestScore(t *testing.T) {
	t.Parallel()
	key := []byte("a key")
	s1 := Score(key, Member{ID: "n1", Weight: 1})
	if !(s1 > 0) || math.IsInf(s1, 0) {
		t.Fatalf("Score(weight 1) = %v, want finite > 0", s1)
	}
	// Scaling by a power of two is exact, so the score is exactly linear in w.
	if s2 := Score(key, Member{ID: "n1", Weight: 2}); s2 != 2*s1 {
		t.Errorf("Score(weight 2) = %v, want exactly 2*%v", s2, s1)
	}
	if s := Score(key, Member{ID: "n2", Weight: 1}); s == s1 {
		t.Errorf("two IDs scored the same: %v", s)
	}
	if s := Score([]byte("another key"), Member{ID: "n1", Weight: 1}); s == s1 {
		t.Errorf("two keys scored the same: %v", s)
	}
	for _, w := range []float64{0, math.Copysign(0, -1), -1, math.NaN(), math.Inf(1), math.Inf(-1)} {
		if s := Score(key, Member{ID: "n1", Weight: w}); !math.IsInf(s, -1) {
			t.Errorf("Score(weight %v) = %v, want -Inf", w, s)
		}
	}
	if s, want := Score(key, Member{ID: "n1", Weight: 1}), -1/math.Log(unitInterval(hash64(key, "n1"))); math.Abs(s-want) > 1e-12*want {
		t.Errorf("Score = %v, want -1/ln(u) = %v", s, want)
	}
}

func TestOwnersEdgeCases(t *testing.T) {
	t.Parallel()
	key := []byte{0x01, 0x55, 0x12, 0x20, 1, 2, 3}
	three := []Member{{"a", 1}, {"b", 1}, {"c", 1}}
	ineligible := []Member{{"zero", 0}, {"neg", -5}, {"nan", math.NaN()}, {"inf", math.Inf(1)}}
	for _, tt := range []struct {
		name    string
		key     []byte
		members []Member
		r       int
		want    int // len of result; -1 = nil
	}{
		{"r zero", key, three, 0, -1},
		{"r negative", key, three, -2, -1},
		{"nil members", key, nil, 3, -1},
		{"empty members", key, []Member{}, 3, -1},
		{"all ineligible", key, ineligible, 3, -1},
		{"r greater than members", key, three, 10, 3},
		{"r equal to members", key, three, 3, 3},
		{"ineligible mixed in", key, append(slices.Clone(ineligible), three...), 5, 3},
		{"nil key", nil, three, 2, 2},
		{"empty id", key, []Member{{"", 1}, {"a", 1}}, 2, 2},
		{"r above stack buffer", key, equalMembers(9, 40), 20, 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			got := Owners(tt.key, tt.members, tt.r)
			if tt.want < 0 {
				if got != nil {
					t.Fatalf("Owners = %v, want nil", ids(got))
				}
				return
			}
			if len(got) != tt.want {
				t.Fatalf("Owners = %v, want %d members", ids(got), tt.want)
			}
			for _, m := range got {
				if !eligible(m.Weight) {
					t.Errorf("ineligible member %v chosen", m)
				}
			}
			if rank := Rank(tt.key, tt.members); !slices.Equal(got, rank[:len(got)]) {
				t.Errorf("Owners = %v, want Rank prefix %v", ids(got), ids(rank))
			}
		})
	}
	if got := Rank(key, ineligible); got != nil {
		t.Errorf("Rank(all ineligible) = %v, want nil", ids(got))
	}
	if got := Rank(key, nil); got != nil {
		t.Errorf("Rank(nil) = %v, want nil", ids(got))
	}
}

// TestDuplicateIDs checks that entries sharing an ID count as one member,
// represented by the highest weight, whatever their order.
func TestDuplicateIDs(t *testing.T) {
	t.Parallel()
	members := []Member{{"a", 1}, {"b", 1}, {"a", 3}, {"c", 1}, {"a", 2}, {"b", 1}}
	for k := range 200 {
		key := []byte{byte(k), byte(k >> 8)}
		rank := Rank(key, members)
		if got := ids(rank); len(got) != 3 || !slices.Contains(got, "a/3") || !slices.Contains(got, "b/1") || !slices.Contains(got, "c/1") {
			t.Fatalf("key %d: Rank = %v, want a/3, b/1, c/1 once each", k, got)
		}
		owners := Owners(key, members, 2)
		if !slices.Equal(owners, rank[:2]) {
			t.Fatalf("key %d: Owners = %v, want %v", k, ids(owners), ids(rank[:2]))
		}
		if all := Owners(key, members, 6); !slices.Equal(all, rank) {
			t.Fatalf("key %d: Owners(r=6) = %v, want %v", k, ids(all), ids(rank))
		}
	}
}

// TestTiesBrokenByID uses weights so large that scores overflow to +Inf (when
// -ln(u) < 1) and keeps the keys where all four heavy members tie there, so
// the order among them is decided by ID alone.
func TestTiesBrokenByID(t *testing.T) {
	t.Parallel()
	members := []Member{{"d", math.MaxFloat64}, {"b", math.MaxFloat64}, {"c", math.MaxFloat64}, {"a", math.MaxFloat64}, {"e", 1}}
	tied := 0
	for k := range 1000 {
		key := []byte{byte(k), byte(k >> 8)}
		allInf := true
		for _, m := range members[:4] {
			allInf = allInf && math.IsInf(Score(key, m), 1)
		}
		if !allInf {
			continue
		}
		tied++
		want := []string{"a", "b", "c"}
		got := Owners(key, members, 3)
		if g := []string{got[0].ID, got[1].ID, got[2].ID}; !slices.Equal(g, want) {
			t.Fatalf("key %d: Owners = %v, want %v", k, g, want)
		}
		if r := Rank(key, members); r[3].ID != "d" || r[4].ID != "e" || !slices.Equal(r[:3], got) {
			t.Fatalf("key %d: Rank = %v", k, ids(r))
		}
	}
	if tied < 50 {
		t.Fatalf("only %d keys with a four-way tie; the test checks too little", tied)
	}
}

// TestOwnersIsRankPrefix checks the selection (with its pruning bound)
// against the full sort on random memberships with mixed, extreme and
// ineligible weights and duplicate IDs, and that neither depends on the
// order of the input nor modifies it.
func TestOwnersIsRankPrefix(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(11, 12))
	pool := fakePeerIDs(11, 80)
	weights := []float64{1, 1, 2, 3.5, 1e12, 7e11, 1e-300, 5e-324, 1e300, 0, -1}
	for trial := range 3000 {
		n := rng.IntN(60)
		members := make([]Member, n)
		for i := range members {
			// Draw IDs from a pool a bit larger than n so some repeat.
			members[i] = Member{ID: pool[rng.IntN(min(len(pool), n+n/4+1))], Weight: weights[rng.IntN(len(weights))]}
			if rng.IntN(3) == 0 {
				members[i].Weight = rng.Float64() * 1e9
			}
		}
		key := cidKeys(uint64(trial), 1)[0]
		before := slices.Clone(members)
		rank := Rank(key, members)
		for _, r := range []int{1, 2, 3, 5, 8, 9, n + 1} {
			owners := Owners(key, members, r)
			want := rank[:min(r, len(rank))]
			if len(want) == 0 {
				want = nil
			}
			if !slices.Equal(owners, want) {
				t.Fatalf("trial %d r=%d: Owners = %v, want Rank prefix %v", trial, r, ids(owners), ids(want))
			}
		}
		if !slices.EqualFunc(members, before, func(a, b Member) bool { return a.ID == b.ID && (a.Weight == b.Weight || a.Weight != a.Weight) }) {
			t.Fatalf("trial %d: input modified", trial)
		}
		rng.Shuffle(len(members), func(i, j int) { members[i], members[j] = members[j], members[i] })
		if got := Rank(key, members); !slices.Equal(got, rank) {
			t.Fatalf("trial %d: Rank depends on input order: %v vs %v", trial, ids(got), ids(rank))
		}
		if got, want := Owners(key, members, 3), rank[:min(3, len(rank))]; len(want) > 0 && !slices.Equal(got, want) {
			t.Fatalf("trial %d: Owners depends on input order: %v vs %v", trial, ids(got), ids(want))
		}
	}

	// Larger memberships, where most members are pruned.
	big := equalMembers(15, 500)
	for i := range big {
		big[i].Weight = 1 + rng.Float64()*rng.Float64()*10
	}
	for trial, key := range cidKeys(16, 400) {
		rank := Rank(key, big)
		for _, r := range []int{1, 3, 16} {
			if got := Owners(key, big, r); !slices.Equal(got, rank[:r]) {
				t.Fatalf("big trial %d r=%d: Owners = %v, want %v", trial, r, ids(got), ids(rank[:r]))
			}
		}
	}
}

// TestOwnersUniformIsRankPrefix checks the equal-weight selection, which
// compares hashes as integers, against the full sort: with ineligible members
// mixed in, with repeated IDs (equal hashes, which send it to the general
// path), for every r up to past the stack buffer, and past the member count
// an index can hold.
func TestOwnersUniformIsRankPrefix(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(21, 22))
	pool := fakePeerIDs(21, 120)
	for trial := range 3000 {
		n := 1 + rng.IntN(100)
		members := make([]Member, n)
		for i := range members {
			// Half the trials draw from a pool about n wide, so IDs repeat.
			id := pool[rng.IntN(len(pool))]
			if trial%2 == 0 {
				id = pool[rng.IntN(min(len(pool), n+1))]
			}
			members[i] = Member{ID: id, Weight: 7}
			if rng.IntN(10) == 0 {
				members[i].Weight = []float64{0, -7, math.NaN(), math.Inf(1)}[rng.IntN(4)]
			}
		}
		key := cidKeys(uint64(1000+trial), 1)[0]
		rank := Rank(key, members)
		for r := 1; r <= stackTop+2; r++ {
			want := rank[:min(r, len(rank))]
			if len(want) == 0 {
				want = nil
			}
			if got := Owners(key, members, r); !slices.Equal(got, want) {
				t.Fatalf("trial %d r=%d: Owners = %v, want Rank prefix %v", trial, r, ids(got), ids(want))
			}
		}
	}

	big := equalMembers(23, 1<<indexBits+50)
	for trial, key := range cidKeys(24, 20) {
		rank := Rank(key, big)
		if got := Owners(key, big, 3); !slices.Equal(got, rank[:3]) {
			t.Fatalf("big trial %d: Owners = %v, want %v", trial, ids(got), ids(rank[:3]))
		}
	}
}

// TestOutrankedIsSafe checks the pruning bound directly: for a threshold T at
// or just below a member's computed score, it must never call the member
// outranked; for one well above, it should (or the bound saves nothing).
func TestOutrankedIsSafe(t *testing.T) {
	t.Parallel()
	rng := rand.New(rand.NewPCG(13, 14))
	weights := []float64{1, 3, 1e12, 1e-250, 1e250, 0x1p-1000, 0x1p1000}
	pruned := 0
	for i := range 300_000 {
		h := rng.Uint64()
		switch i % 4 {
		case 0:
			h |= 0xfff << 52 // u close to 1, where the bound is tight
		case 1:
			h |= ^uint64(1<<20 - 1) // 1-u below 2^-44: tight to rounding
		}
		w := weights[i%len(weights)]
		if i%3 == 0 {
			w = rng.Float64() * 1e15
		}
		s := weightedScore(w, h)
		for _, T := range []float64{s, math.Nextafter(s, 0), s * (1 - 1e-15), s * (1 - 1e-9), s * (1 - 1e-6), s * (1 - 1e-4)} {
			if outranked(T*cutSlack, w, h) {
				t.Fatalf("w=%g h=%#x: score %v called outranked by T=%v", w, h, s, T)
			}
		}
		if outranked(2*s*cutSlack, w, h) {
			pruned++
		}
	}
	if pruned < 100_000 {
		t.Errorf("bound pruned only %d of 300000 members at twice their score", pruned)
	}
}

// TestOwnersAllocatesOnlyTheResult pins the allocation budget of the hot path.
func TestOwnersAllocatesOnlyTheResult(t *testing.T) {
	members := equalMembers(5, 100)
	key := cidKeys(5, 1)[0]
	for _, r := range []int{1, 3, stackTop} {
		if n := testing.AllocsPerRun(100, func() { Owners(key, members, r) }); n != 1 {
			t.Errorf("Owners(r=%d) allocates %v times per call, want 1", r, n)
		}
	}
}
