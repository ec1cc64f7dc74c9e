package rendezvous

import "testing"

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
		seed := keySeed(keys[i%benchKeys])
		var x uint64
		for j := range members {
			x ^= memberHash(seed, members[j].ID)
		}
		sink += x
		i++
	}
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
