// Package rendezvous places blocks on members by weighted rendezvous hashing
// (highest random weight, HRW): the pure computation behind the "Placement
// (contract)" section of DESIGN.md. Members and a key in, ranked owners out.
//
// # Algorithm (contract)
//
// Every node must compute the same owners for the same key and membership,
// so the following is a wire-level contract; the golden vectors in testdata/
// pin it, and changing any step moves almost every block in a live network.
//
// For a key (a CID's binary bytes) and a member with ID id and weight w:
//
//	seed  = XXH64(key, seed 0)              // once per key
//	h     = XXH64(bytes of id, seed)        // XXH64 as in github.com/Cyan4973/xxHash
//	u     = (float64(h >> 12) + 0.5) / 2^52 // in the open interval (0,1)
//	score = -w / ln(u)
//
// The owners of a key are the members ordered by score, highest first, with
// an exact tie broken by the byte-wise smaller ID; the top R of that order own
// the key. A member with an ID already ranked counts once (see Duplicates).
//
// Only members with a finite weight > 0 are eligible. A member with weight
// 0, a negative or NaN weight, or +Inf is never chosen: Score returns -Inf for
// it and Rank and Owners leave it out.
// Weights are used as given; their unit does not matter, only their ratios.
// A score overflows to +Inf only for weights above about 1e292, far beyond
// any capacity in bytes; such members then tie and are ordered by ID.
//
// Details that make the contract exact rather than approximate:
//
//   - The key is hashed once and its hash seeds the hash of each ID, instead
//     of hashing key||id: still a function of the pair, with no ambiguity
//     where key and ID meet, and per member only the ID (52 bytes for an
//     ed25519 peer id) is hashed.
//   - u keeps 52 bits of h, not 53: (x + 0.5) then needs 53 significant bits
//     and is exact, and u can be neither 0 (ln = -Inf) nor 1 (ln = 0). With 53
//     bits the +0.5 would round and the largest hashes would give u = 1.
//   - ln is this package's own port of the FreeBSD/Go algorithm with every
//     product rounded explicitly, because math.Log is assembly on amd64 and Go
//     may fuse a*b+c into an FMA on arm64, either of which can change the last
//     bit of a score between two nodes and so, for a near tie, the owners. The
//     package's ln gives identical bits everywhere, and is within one ulp of
//     math.Log (tested).
//
// # Why the logarithmic method
//
// For u uniform on (0,1), -ln(u) is exponentially distributed with rate 1,
// so -ln(u)/w is exponential with rate w. The member with the highest score
// -w/ln(u) is the one whose exponential is smallest, and the smallest of
// independent exponentials is member i's with probability exactly
// w_i / Σ w. So the first choice follows the weights exactly, not
// approximately as with the older multiplicative h^(1/w) or w·h variants.
// (For R > 1 the share of a member among all R owners is only roughly
// proportional: a heavy member cannot own a key twice. The tests measure the
// first-choice share.)
//
// Rendezvous hashing moves the least data on a membership change: adding a
// member changes only the keys the new member now owns (an expected R/(N+1) of
// them, each losing its last owner), and removing one changes only the keys it
// owned; no key ever moves between two members that both stayed, because the
// relative order of two members for a key depends only on their own scores.
//
// # Duplicates
//
// Membership is keyed by ID, so two entries with the same ID are one member.
// Rank and Owners list each ID at most once, as the entry with the highest
// score (for one ID and key that is the highest weight), so the result does
// not depend on the order of the input.
//
// # Cost
//
// Owners scores in one pass and keeps the R best in a small buffer, sorting
// nothing. It computes the logarithm only for members that might enter the
// buffer (ln(u) <= u-1 bounds a score from above cheaply, with a margin that
// keeps the result exact), so it costs less than scoring every member and
// under twice hashing them. It allocates only its result. Rank scores and
// sorts everything.
//
// # Purity and concurrency
//
// The package has no state, no I/O, no clock, no randomness and no globals;
// every function is safe for concurrent use and never modifies its inputs. It
// imports only the standard library and must not import any other package of
// the project: it is a leaf that overlay/, api/ and the CLI build on.
package rendezvous
