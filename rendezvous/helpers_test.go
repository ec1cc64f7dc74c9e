package rendezvous

import (
	"math/rand/v2"
	"strconv"
	"sync"
	"testing"
)

// base58 is the bitcoin alphabet libp2p peer ids are written in.
const base58 = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"

// fakePeerIDs returns n distinct strings shaped like libp2p ed25519 peer ids
// ("12D3KooW" + 44 base58 characters), drawn from a generator seeded by seed,
// so that hashing costs what it will in production.
func fakePeerIDs(seed uint64, n int) []string {
	rng := rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
	seen := make(map[string]bool, n)
	ids := make([]string, 0, n)
	for len(ids) < n {
		b := []byte("12D3KooW")
		for range 44 {
			b = append(b, base58[rng.IntN(len(base58))])
		}
		if id := string(b); !seen[id] {
			seen[id] = true
			ids = append(ids, id)
		}
	}
	return ids
}

// equalMembers returns n members with fake peer ids and weight 1.
func equalMembers(seed uint64, n int) []Member {
	ms := make([]Member, n)
	for i, id := range fakePeerIDs(seed, n) {
		ms[i] = Member{ID: id, Weight: 1}
	}
	return ms
}

// cidKeys returns n keys shaped like CIDv1 raw sha2-256 bytes (a 4-byte
// prefix and a 32-byte digest), with digests from a generator seeded by seed.
// They share one backing array so a million keys are one allocation.
func cidKeys(seed uint64, n int) [][]byte {
	const size = 36
	rng := rand.New(rand.NewPCG(seed, 0x2545f4914f6cdd1d))
	flat := make([]byte, n*size)
	keys := make([][]byte, n)
	for i := range keys {
		k := flat[i*size : (i+1)*size : (i+1)*size]
		copy(k, []byte{0x01, 0x55, 0x12, 0x20})
		for j := 4; j < size; j += 8 {
			v := rng.Uint64()
			for b := range 8 {
				k[j+b] = byte(v >> (8 * b))
			}
		}
		keys[i] = k
	}
	return keys
}

// million is the key count of the balance and weight properties.
const million = 1_000_000

// sharedKeys is the million keys the property tests share: built once, read only.
var sharedKeys = sync.OnceValue(func() [][]byte { return cidKeys(1, million) })

// propertyKeys returns the first n shared keys. The properties run at full
// size even under -short: they take seconds, and a tenth of the keys would
// make their tolerances flaky.
func propertyKeys(tb testing.TB, n int) [][]byte {
	tb.Helper()
	return sharedKeys()[:n]
}

// parallelKeys splits keys into one contiguous part per worker and calls fn
// for each part on its own goroutine, returning when all are done. fn gets
// the worker number so it can write to its own counters.
func parallelKeys(keys [][]byte, workers int, fn func(worker int, part [][]byte)) {
	var wg sync.WaitGroup
	per := (len(keys) + workers - 1) / workers
	for w := range workers {
		lo, hi := min(w*per, len(keys)), min((w+1)*per, len(keys))
		wg.Go(func() { fn(w, keys[lo:hi]) })
	}
	wg.Wait()
}

// ids returns the IDs of ms, for readable failures.
func ids(ms []Member) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.ID + "/" + strconv.FormatFloat(m.Weight, 'g', -1, 64)
	}
	return out
}
