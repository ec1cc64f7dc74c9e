// Package light reads the strongly consistent state of an xnode network
// from nodes it does not trust, and checks every answer against the chain.
//
// A Verifier (New, then Start) asks one node, the primary, for a value
// with a proof over CometBFT's standard RPC (abci_query with prove=true),
// and checks:
//
//  1. the header that commits to the state read: the application's answer
//     for height H is committed by the app hash of header H+1. The header
//     is fetched from the primary, every signature of its commit is
//     checked (SignedPower of TotalPower, more than 2/3 required), and
//     CometBFT's own light client (github.com/cometbft/cometbft/light)
//     verifies it from the trust root by skipping verification and
//     cross-checks it with at least one witness node;
//  2. the answer's one proof operation ("ics23:iavl"): an ICS23
//     existence proof of the key and the value, or a non-existence proof
//     when the value is absent, under the IAVL proof spec, whose root must
//     be that verified app hash.
//
// The trust root (Config.TrustRoot) is either the genesis validator set
// (block 1 must name its hash and carry more than 2/3 of its power in
// signatures, which makes block 1 the trusted header) or a header height
// and hash the user obtained out of band. A genesis root serves only while
// block 1 is younger than Config.TrustingPeriod; after that, give a recent
// trusted header.
//
// The Verifier reads at one below the lowest latest height among the
// primary and the witnesses, so that the header committing to the state
// exists on all of them. Record, Namespace, Params, ValidatorPower,
// Balance, Stake and Key are the xnode key spaces; Query is the general
// form, given the query path, data and the state key the answer must be
// about. Verify checks a proof obtained elsewhere (the "proof" of GET
// /v1/records/{ns}/{key}?prove=true), fetching only the header.
//
// # Errors
//
// Every refusal wraps one sentinel naming the check that failed:
// ErrTamperedValue (the value is not the proof's), ErrWrongKey (the answer
// or its proof is about another key), ErrWrongHeight (the answer is for
// another height than asked), ErrAppHashMismatch (the proof leads to
// another root: another height or another state), ErrNoProof, ErrBadProof,
// ErrBadHeader, ErrInsufficientPower (the header's commit carries at most
// 2/3 of the power), ErrWitnessConflict (no witness confirms the primary's
// header; CometBFT's light client drops a witness that answers an invalid
// header for good, so a Verifier that saw one must be restarted),
// ErrUntrusted, ErrTrustExpired, ErrTrustRoot, ErrBadValue,
// ErrQueryFailed and ErrNotStarted. CheckProof is the proof check alone,
// pure, for callers that obtained a proof and a verified app hash
// elsewhere.
//
// # Lifecycle and concurrency
//
// New validates the Config and contacts nobody; Start establishes trust
// (it fetches block 1 or the trusted header and compares it with the
// witnesses); Close releases the Verifier. The Verifier starts no
// goroutine of its own (CometBFT's light client asks its witnesses in
// parallel while it verifies a header, and waits for them). Its trusted
// headers live in memory only. Methods are safe for concurrent use.
//
// This package imports abci (for state keys and value decoders) and
// CometBFT; no other xnode package.
package light
