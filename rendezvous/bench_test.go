package rendezvous

import (
	"testing"
	"time"
)

// benchKeys is how many distinct keys the benchmarks cycle through, so that
// branch prediction cannot learn one key's winners.
const benchKeys = 1024

// sink keeps the compiler from discarding benchmark work.
var sink uint64

// BenchmarkOwners100R3 is the placement of one block: Owners over 100
// members with R=3.
func BenchmarkOwners100R3(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		owners := Owners(keys[i%benchKeys], members, 3)
		sink += uint64(len(owners[0].ID))
		i++
	}
}

// BenchmarkOwners100R3Weighted is BenchmarkOwners100R3 with weights spread
// over two orders of magnitude, as advertised capacities are.
func BenchmarkOwners100R3Weighted(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	for i := range members {
		members[i].Weight = float64(1+i%100) * 1e10
	}
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		owners := Owners(keys[i%benchKeys], members, 3)
		sink += uint64(len(owners[0].ID))
		i++
	}
}

// BenchmarkHash100 is the baseline for BenchmarkOwners100R3: the 100
// placement hashes alone, computed the same way (key hashed once, then each
// member's ID). Owners100R3/Hash100 is what selecting the owners costs over
// hashing.
func BenchmarkHash100(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink += hash100(keys[i%benchKeys], members)
		i++
	}
}

// hash100 is Hash100's work for one key.
func hash100(key []byte, members []Member) uint64 {
	seed := keySeed(key)
	var x uint64
	for j := range members {
		x ^= memberHash(seed, members[j].ID)
	}
	return x
}

// BenchmarkOwnersVsHash100 runs Owners100R3's and Hash100's work in turn,
// in blocks of 1024 calls over the same keys, so that both are measured in
// the same machine state (their speed drifts between benchmarks run one
// after the other), and reports each one's ns per call and their ratio,
// the figure the target is set on.
func BenchmarkOwnersVsHash100(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	const block = 1024
	var owners, hashes time.Duration
	calls, i := 0, 0
	for b.Loop() {
		t0 := time.Now()
		for j := range block {
			sink += uint64(len(Owners(keys[(i+j)%benchKeys], members, 3)[0].ID))
		}
		t1 := time.Now()
		for j := range block {
			sink += hash100(keys[(i+j)%benchKeys], members)
		}
		owners, hashes = owners+t1.Sub(t0), hashes+time.Since(t1)
		i, calls = i+block, calls+block
	}
	b.ReportMetric(float64(owners.Nanoseconds())/float64(calls), "owners-ns/call")
	b.ReportMetric(float64(hashes.Nanoseconds())/float64(calls), "hash100-ns/call")
	b.ReportMetric(float64(owners)/float64(hashes), "owners/hash100")
}

// BenchmarkScore100 is the 100 hashes and their full scores (with the
// logarithm): what Owners would cost if it scored every member.
func BenchmarkScore100(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		seed := keySeed(keys[i%benchKeys])
		var sum float64
		for j := range members {
			m := &members[j]
			if eligible(m.Weight) {
				sum += weightedScore(m.Weight, memberHash(seed, m.ID))
			}
		}
		sink += uint64(sum)
		i++
	}
}

// BenchmarkRank100 sorts all 100 members, for comparison with Owners.
func BenchmarkRank100(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink += uint64(len(Rank(keys[i%benchKeys], members)[0].ID))
		i++
	}
}

// BenchmarkScore is one public Score call: the key hashed, one member hashed
// and scored.
func BenchmarkScore(b *testing.B) {
	keys := cidKeys(7, benchKeys)
	members := equalMembers(7, 100)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		sink += uint64(Score(keys[i%benchKeys], members[i%100]))
		i++
	}
}
