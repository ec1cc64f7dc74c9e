package light

import "errors"

// Sentinel errors. Every refusal of the Verifier wraps exactly one of them,
// so a caller can tell which check failed with errors.Is; the message says
// what was expected and what was received.
var (
	// ErrQueryFailed means the primary did not answer the query (an
	// application error code, or no answer at all). Nothing was verified.
	ErrQueryFailed = errors.New("light: query failed")
	// ErrNoProof means the answer carries no proof, or not exactly one
	// proof operation of the expected type.
	ErrNoProof = errors.New("light: no proof")
	// ErrBadProof means the proof is malformed: it does not decode, does
	// not follow the IAVL proof spec, or its absence proof does not prove
	// absence.
	ErrBadProof = errors.New("light: malformed proof")
	// ErrWrongKey means the answer or its proof is about another key than
	// the one asked for.
	ErrWrongKey = errors.New("light: proof for another key")
	// ErrTamperedValue means the value in the answer is not the value the
	// proof commits to (including a value claimed absent that the proof
	// shows present, and the reverse).
	ErrTamperedValue = errors.New("light: value does not match its proof")
	// ErrWrongHeight means the answer is for another height than the one
	// asked for.
	ErrWrongHeight = errors.New("light: answer for another height")
	// ErrAppHashMismatch means the proof leads to a root other than the app
	// hash of the verified header: the proof is from another height or
	// another state.
	ErrAppHashMismatch = errors.New("light: proof root is not the verified app hash")
	// ErrBadHeader means the primary's header, commit or validator set is
	// malformed or inconsistent (wrong chain, hash not signed by the
	// commit, validator set not the header's).
	ErrBadHeader = errors.New("light: malformed header")
	// ErrInsufficientPower means the commit for the header carries valid
	// signatures of at most 2/3 of the voting power.
	ErrInsufficientPower = errors.New("light: header signed by too little voting power")
	// ErrWitnessConflict means no witness confirmed the primary's header:
	// a witness answered a different header for the same height, or every
	// witness failed or was dropped for answering invalid headers.
	ErrWitnessConflict = errors.New("light: witnesses do not confirm the primary")
	// ErrUntrusted means the header could not be verified from the trust
	// root by CometBFT's light client for another reason (a bisection step
	// failed, the validator set changed by more than the trust level).
	ErrUntrusted = errors.New("light: header not verified from the trust root")
	// ErrTrustExpired means the trust root, or the latest trusted header,
	// is older than the trusting period: pick a newer trusted header.
	ErrTrustExpired = errors.New("light: trusted header older than the trusting period")
	// ErrTrustRoot means the trust root does not match the chain: the
	// genesis validator set did not sign block 1, or the trusted hash is
	// not the header at the trusted height.
	ErrTrustRoot = errors.New("light: trust root does not match the chain")
	// ErrBadValue means the proven value does not decode as the type the
	// query path stores.
	ErrBadValue = errors.New("light: proven value does not decode")
	// ErrNotStarted means a query came before Start, or after Close.
	ErrNotStarted = errors.New("light: verifier not started")
)
