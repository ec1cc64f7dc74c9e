package rendezvous

import (
	"math"
	"math/bits"
)

// XXH64 primes. They, the seeding below and unitInterval are the placement
// contract (see doc.go): changing any of them moves almost every block.
const (
	prime1 uint64 = 11400714785074694791
	prime2 uint64 = 14029467366897019727
	prime3 uint64 = 1609587929392839161
	prime4 uint64 = 9650029242287828579
	prime5 uint64 = 2870177450012600261

	// twoTo52 scales a 52-bit integer into [0,1).
	twoTo52 = 1 << 52
)

// keySeed is the seed every member's hash for key starts from: XXH64(key, 0).
// Owners computes it once per key and then hashes only each member's ID.
func keySeed(key []byte) uint64 {
	return xxh64(key, 0)
}

// memberHash is the placement hash of a member for the key whose keySeed is
// seed: XXH64(id, seed).
func memberHash(seed uint64, id string) uint64 {
	return xxh64(id, seed)
}

// hash64 is the placement hash of (key, id): XXH64(id, XXH64(key, 0)).
func hash64(key []byte, id string) uint64 {
	return memberHash(keySeed(key), id)
}

// xxh64 is XXH64 (github.com/Cyan4973/xxHash, 64-bit variant) of b with
// seed. It is written out here rather than imported so the package stays a
// stdlib-only leaf; the tests check it against the reference test vectors.
// It is generic so that member IDs (strings) hash without a copy.
func xxh64[T string | []byte](b T, seed uint64) uint64 {
	n := len(b)
	var h uint64
	if n >= 32 {
		v1 := seed + prime1 + prime2
		v2 := seed + prime2
		v3 := seed
		v4 := seed - prime1
		for len(b) >= 32 {
			v1 = xxRound(v1, le64(b[0:8]))
			v2 = xxRound(v2, le64(b[8:16]))
			v3 = xxRound(v3, le64(b[16:24]))
			v4 = xxRound(v4, le64(b[24:32]))
			b = b[32:]
		}
		h = bits.RotateLeft64(v1, 1) + bits.RotateLeft64(v2, 7) +
			bits.RotateLeft64(v3, 12) + bits.RotateLeft64(v4, 18)
		h = xxMerge(h, v1)
		h = xxMerge(h, v2)
		h = xxMerge(h, v3)
		h = xxMerge(h, v4)
	} else {
		h = seed + prime5
	}
	h += uint64(n)

	for ; len(b) >= 8; b = b[8:] {
		h ^= xxRound(0, le64(b[:8]))
		h = bits.RotateLeft64(h, 27)*prime1 + prime4
	}
	if len(b) >= 4 {
		h ^= uint64(le32(b[:4])) * prime1
		h = bits.RotateLeft64(h, 23)*prime2 + prime3
		b = b[4:]
	}
	for ; len(b) > 0; b = b[1:] {
		h ^= uint64(b[0]) * prime5
		h = bits.RotateLeft64(h, 11) * prime1
	}

	h ^= h >> 33
	h *= prime2
	h ^= h >> 29
	h *= prime3
	h ^= h >> 32
	return h
}

func xxRound(acc, input uint64) uint64 {
	acc += input * prime2
	acc = bits.RotateLeft64(acc, 31)
	return acc * prime1
}

func xxMerge(acc, val uint64) uint64 {
	acc ^= xxRound(0, val)
	return acc*prime1 + prime4
}

// le64 reads 8 bytes little-endian; the compiler turns it into one load.
func le64[T string | []byte](b T) uint64 {
	_ = b[7]
	return uint64(b[0]) | uint64(b[1])<<8 | uint64(b[2])<<16 | uint64(b[3])<<24 |
		uint64(b[4])<<32 | uint64(b[5])<<40 | uint64(b[6])<<48 | uint64(b[7])<<56
}

// le32 reads 4 bytes little-endian.
func le32[T string | []byte](b T) uint32 {
	_ = b[3]
	return uint32(b[0]) | uint32(b[1])<<8 | uint32(b[2])<<16 | uint32(b[3])<<24
}

// unitInterval maps h into the open interval (0,1) as (top 52 bits + 0.5) / 2^52.
// Both steps are exact in float64 (the sum needs 53 significant bits), so the
// result is the same on every platform, is never 0 (ln would be -Inf) and never
// 1 (ln would be 0 and the score infinite). Keeping 53 bits instead would need
// 54 for the +0.5, round, and reach exactly 1.0 for the largest hashes.
func unitInterval(h uint64) float64 {
	return (float64(h>>12) + 0.5) / twoTo52
}

// weightedScore is -w / ln(u): the logarithmic method. For u uniform on (0,1),
// -ln(u)/w is exponentially distributed with rate w, and the smallest of
// independent exponentials is member i's with probability w_i / Σw, so the
// member with the largest -w/ln(u) wins exactly in proportion to its weight.
func weightedScore(w float64, h uint64) float64 {
	return -w / ln(unitInterval(h))
}

// ln is the natural logarithm of x for normal, positive, finite x — the only
// inputs unitInterval produces (its smallest value, 2^-53, is normal).
//
// It is the algorithm of Go's pure-Go math.log (from FreeBSD's e_log.c), with
// every product wrapped in an explicit float64 conversion. The Go spec lets a
// compiler fuse x*y+z into one FMA, which it does on arm64, ppc64, s390x and
// riscv64 and not on amd64, and math.Log on amd64 is assembly. Either could
// change the last bit of a score between two nodes and, for a near tie, the
// owners. The conversions forbid fusion, so every node computes the same bits
// from the same IEEE-754 operations.
func ln(x float64) float64 {
	const (
		ln2Hi = 6.93147180369123816490e-01 /* 3fe62e42 fee00000 */
		ln2Lo = 1.90821492927058770002e-10 /* 3dea39ef 35793c76 */
		l1    = 6.666666666666735130e-01   /* 3FE55555 55555593 */
		l2    = 3.999999999940941908e-01   /* 3FD99999 9997FA04 */
		l3    = 2.857142874366239149e-01   /* 3FD24924 94229359 */
		l4    = 2.222219843214978396e-01   /* 3FCC71C5 1D8E78AF */
		l5    = 1.818357216161805012e-01   /* 3FC74664 96CB03DE */
		l6    = 1.531383769920937332e-01   /* 3FC39A09 D078C69F */
		l7    = 1.479819860511658591e-01   /* 3FC2F112 DF3E5244 */
	)

	// Reduce x = f1 * 2^k with f1 in [sqrt(2)/2, sqrt(2)); for a normal x this
	// is math.Frexp done on the bits, which are exact.
	bits := math.Float64bits(x)
	ki := int((bits>>52)&0x7ff) - 1022
	f1 := math.Float64frombits(bits&^(0x7ff<<52) | 1022<<52) // in [0.5, 1)
	if f1 < math.Sqrt2/2 {
		f1 *= 2
		ki--
	}
	f := f1 - 1
	k := float64(ki)

	s := f / (2 + f)
	s2 := float64(s * s)
	s4 := float64(s2 * s2)
	t1 := float64(s2 * (l1 + float64(s4*(l3+float64(s4*(l5+float64(s4*l7)))))))
	t2 := float64(s4 * (l2 + float64(s4*(l4+float64(s4*l6)))))
	r := t1 + t2
	hfsq := float64(float64(0.5*f) * f)
	return float64(k*ln2Hi) - ((hfsq - (float64(s*(hfsq+r)) + float64(k*ln2Lo))) - f)
}
