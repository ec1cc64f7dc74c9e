package rendezvous

import (
	"math"
	"runtime"
	"slices"
	"testing"
)

// The properties below run on CID-shaped keys: a million for balance and
// weights, half a million for movement (two placements per key). At these
// sizes a count's standard deviation is under 1% of its mean, so the
// tolerances (5% and 10%) are 6 to 12 sigma wide and the tests do not flake,
// while a biased hash or a wrong formula misses them by far more.

// movementKeys is the key count of the movement properties.
const movementKeys = million / 2

// TestBalance: 100 equal members, R=3. Each member's load (keys it is one of
// the three owners of) is within ±5% of the mean.
func TestBalance(t *testing.T) {
	t.Parallel()
	const n, r = 100, 3
	members := equalMembers(21, n)
	keys := propertyKeys(t, million)
	counts := countOwners(keys, members, r)
	mean := float64(len(keys)*r) / n
	var worst float64
	for i, c := range counts {
		dev := (float64(c) - mean) / mean
		worst = max(worst, math.Abs(dev))
		if math.Abs(dev) > 0.05 {
			t.Errorf("member %d owns %d keys, mean %.0f: off by %.2f%%", i, c, mean, 100*dev)
		}
	}
	t.Logf("%d keys, %d members, R=%d: worst deviation from the mean %.2f%%", len(keys), n, r, 100*worst)
}

// TestWeightProportional: 10 members of weight 2c among 90 of weight c (c a
// capacity in bytes). The first-choice share (R=1 ownership) of each heavy
// member is 2× ±5% the mean share of a light one; the logarithmic method
// makes the first choice exactly proportional to weight. Light members are
// each within ±5% of their expected share too.
func TestWeightProportional(t *testing.T) {
	t.Parallel()
	const c = 5e11
	members := equalMembers(22, 100)
	for i := range members {
		members[i].Weight = c
		if i%10 == 0 {
			members[i].Weight = 2 * c
		}
	}
	keys := propertyKeys(t, million)
	counts := countOwners(keys, members, 1)

	var light []int
	for i, cnt := range counts {
		if members[i].Weight == c {
			light = append(light, cnt)
		}
	}
	var sum int
	for _, cnt := range light {
		sum += cnt
	}
	lightMean := float64(sum) / float64(len(light))
	wantLight := float64(len(keys)) / 110 // total weight is 10*2 + 90*1
	if dev := lightMean/wantLight - 1; math.Abs(dev) > 0.01 {
		t.Errorf("mean light share %.0f keys, want %.0f (off by %.2f%%)", lightMean, wantLight, 100*dev)
	}
	for _, cnt := range light {
		if dev := float64(cnt)/wantLight - 1; math.Abs(dev) > 0.05 {
			t.Errorf("a light member owns %d keys, want %.0f ±5%%", cnt, wantLight)
		}
	}
	for i, cnt := range counts {
		if members[i].Weight != 2*c {
			continue
		}
		ratio := float64(cnt) / lightMean
		if ratio < 2*0.95 || ratio > 2*1.05 {
			t.Errorf("heavy member %d owns %d keys, %.3f× the light mean %.0f; want 2 ±5%%", i, cnt, ratio, lightMean)
		}
		t.Logf("heavy member %d: %.3f× a light member's first-choice share", i, ratio)
	}
}

// countOwners returns, per member index, how many keys list it among their r
// owners, computed on every CPU.
func countOwners(keys [][]byte, members []Member, r int) []int {
	index := make(map[string]int, len(members))
	for i, m := range members {
		index[m.ID] = i
	}
	workers := runtime.GOMAXPROCS(0)
	partial := make([][]int, workers)
	parallelKeys(keys, workers, func(w int, part [][]byte) {
		counts := make([]int, len(members))
		for _, k := range part {
			for _, m := range Owners(k, members, r) {
				counts[index[m.ID]]++
			}
		}
		partial[w] = counts
	})
	total := make([]int, len(members))
	for _, counts := range partial {
		for i, c := range counts {
			total[i] += c
		}
	}
	return total
}

// TestMinimalMovementOnJoin: N=100 members, R=3, one joins. A key's owners
// change only if the newcomer is now among them, and then exactly as the
// newcomer taking its rank and the old last owner dropping out: no key moves
// between two members that both stayed. The changed fraction is R/(N+1) ±10%.
func TestMinimalMovementOnJoin(t *testing.T) {
	t.Parallel()
	const n, r = 100, 3
	all := equalMembers(23, n+1)
	before, joiner := all[:n], all[n]
	keys := propertyKeys(t, movementKeys)

	changed := movement(t, keys, func(key []byte) (string, bool) {
		old := Owners(key, before, r)
		cur := Owners(key, all, r)
		if !slices.Contains(cur, joiner) {
			if !slices.Equal(cur, old) {
				return "owners changed without the newcomer: " + describe(old, cur), false
			}
			return "", false
		}
		// Removing the newcomer from the new owners must give the old owners
		// minus the last one, in their old order.
		if rest := slices.DeleteFunc(slices.Clone(cur), func(m Member) bool { return m == joiner }); !slices.Equal(rest, old[:r-1]) {
			return "survivors reordered or replaced: " + describe(old, cur), false
		}
		return "", true
	})
	checkFraction(t, changed, len(keys), float64(r)/float64(n+1))
}

// TestMinimalMovementOnLeave: N=101 members, R=3, one leaves. Only keys it
// owned change, and for those the others keep their order and the next-ranked
// member steps in. The changed fraction is R/N ±10%.
func TestMinimalMovementOnLeave(t *testing.T) {
	t.Parallel()
	const n, r = 101, 3
	before := equalMembers(24, n)
	leaver := before[37]
	after := slices.Delete(slices.Clone(before), 37, 38)
	keys := propertyKeys(t, movementKeys)

	changed := movement(t, keys, func(key []byte) (string, bool) {
		old := Owners(key, before, r+1) // the R owners and the runner-up
		cur := Owners(key, after, r)
		if !slices.Contains(old[:r], leaver) {
			if !slices.Equal(cur, old[:r]) {
				return "owners changed though the leaver owned nothing: " + describe(old[:r], cur), false
			}
			return "", false
		}
		if want := slices.DeleteFunc(slices.Clone(old), func(m Member) bool { return m == leaver }); !slices.Equal(cur, want) {
			return "owners are not the old ones minus the leaver plus the runner-up: " + describe(old, cur), false
		}
		return "", true
	})
	checkFraction(t, changed, len(keys), float64(r)/float64(n))
}

// movement runs check on every key in parallel and returns how many keys it
// reported as changed; it fails the test on the first violation it reports.
func movement(t *testing.T, keys [][]byte, check func(key []byte) (violation string, changed bool)) int {
	t.Helper()
	workers := runtime.GOMAXPROCS(0)
	changed := make([]int, workers)
	violations := make([]string, workers)
	parallelKeys(keys, workers, func(w int, part [][]byte) {
		for _, k := range part {
			v, c := check(k)
			if v != "" {
				violations[w] = v
				return
			}
			if c {
				changed[w]++
			}
		}
	})
	for _, v := range violations {
		if v != "" {
			t.Fatal(v)
		}
	}
	var total int
	for _, c := range changed {
		total += c
	}
	return total
}

func checkFraction(t *testing.T, changed, keys int, want float64) {
	t.Helper()
	got := float64(changed) / float64(keys)
	t.Logf("%d of %d keys changed owners: %.4f, expected %.4f", changed, keys, got, want)
	if math.Abs(got/want-1) > 0.10 {
		t.Errorf("changed fraction %.4f, want %.4f ±10%%", got, want)
	}
}

func describe(old, cur []Member) string {
	return "old " + join(ids(old)) + " new " + join(ids(cur))
}

func join(s []string) string {
	out := "["
	for i, x := range s {
		if i > 0 {
			out += " "
		}
		out += x
	}
	return out + "]"
}
