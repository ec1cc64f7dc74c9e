package abci

import (
	"errors"
	"fmt"

	"github.com/xnode/xnode"
)

// Response codes of CheckTx, FinalizeBlock (per transaction) and Query. They
// are part of the wire contract with clients: never renumber, only append.
const (
	CodeOK                   uint32 = 0
	CodeBadEncoding          uint32 = 1  // not a canonical xnode transaction
	CodeBadSignature         uint32 = 2  // signature does not verify (wrong key or chain id)
	CodeReplay               uint32 = 3  // (signer, nonce) already used or pending
	CodeUnknownNamespace     uint32 = 4  // namespace not registered
	CodeForeignNamespace     uint32 = 5  // namespace owned by another key
	CodeTooLarge             uint32 = 6  // transaction over the size limit
	CodeNotValidator         uint32 = 7  // attestation signer is not a validator
	CodeInvalid              uint32 = 8  // a field breaks its rules (name, key, CID, params, query)
	CodeConflict             uint32 = 9  // namespace already taken
	CodeNotFound             uint32 = 10 // record or namespace not found
	CodeDuplicateAttestation uint32 = 11 // validator already attested this version
	CodeStale                uint32 = 12 // attestation names a version or CID that is not current
	CodeUnauthorized         uint32 = 13 // parameter change not signed by a genesis admin
	CodeInternal             uint32 = 14 // the node failed to read its own state (CheckTx/Query only)
	CodeInsufficientFunds    uint32 = 15 // spending or bonding more than the balance, or below the write minimum
	CodeBelowMinimum         uint32 = 16 // stake below the minimum for a node or a validator
	CodeNotBonded            uint32 = 17 // unbonding more than is bonded, or no registration to act on
	CodeBadBinding           uint32 = 18 // a node key's signature over the binding does not verify
	CodeAlreadyRegistered    uint32 = 19 // peer id, consensus key or account already registered
	CodeJailed               uint32 = 20 // unjail before the jail time, or a tombstoned validator
)

// Sentinel errors, one per response code. Each wraps an xnode error kind so
// the API maps it to its HTTP status in one place.
var (
	ErrBadEncoding          = fmt.Errorf("abci: bad transaction encoding: %w", xnode.ErrInvalidArgument)
	ErrBadSignature         = fmt.Errorf("abci: bad signature (wrong key or chain id): %w", xnode.ErrInvalidArgument)
	ErrReplay               = fmt.Errorf("abci: nonce already used: %w", xnode.ErrConflict)
	ErrUnknownNamespace     = fmt.Errorf("abci: namespace %w", xnode.ErrNotFound)
	ErrForeignNamespace     = fmt.Errorf("abci: namespace owned by another key: %w", xnode.ErrInvalidArgument)
	ErrTooLarge             = fmt.Errorf("abci: transaction %w", xnode.ErrTooLarge)
	ErrNotValidator         = fmt.Errorf("abci: signer is not a validator: %w", xnode.ErrInvalidArgument)
	ErrInvalid              = fmt.Errorf("abci: %w", xnode.ErrInvalidArgument)
	ErrConflict             = fmt.Errorf("abci: namespace taken: %w", xnode.ErrConflict)
	ErrNotFound             = fmt.Errorf("abci: record %w", xnode.ErrNotFound)
	ErrDuplicateAttestation = fmt.Errorf("abci: validator already attested this version: %w", xnode.ErrConflict)
	ErrStale                = fmt.Errorf("abci: attestation is not for the current version: %w", xnode.ErrConflict)
	ErrUnauthorized         = fmt.Errorf("abci: signer is not an admin: %w", xnode.ErrInvalidArgument)
	ErrInternal             = errors.New("abci: internal error")
	ErrInsufficientFunds    = fmt.Errorf("abci: insufficient funds: %w", xnode.ErrInvalidArgument)
	ErrBelowMinimum         = fmt.Errorf("abci: stake below the minimum: %w", xnode.ErrInvalidArgument)
	ErrNotBonded            = fmt.Errorf("abci: not bonded: %w", xnode.ErrInvalidArgument)
	ErrBadBinding           = fmt.Errorf("abci: bad key binding: %w", xnode.ErrInvalidArgument)
	ErrAlreadyRegistered    = fmt.Errorf("abci: already registered: %w", xnode.ErrConflict)
	ErrJailed               = fmt.Errorf("abci: jailed: %w", xnode.ErrInvalidArgument)
)

// codeTable maps each code to its metric label and sentinel. Indexed by code.
var codeTable = [...]struct {
	name string
	err  error
}{
	CodeOK:                   {"ok", nil},
	CodeBadEncoding:          {"bad_encoding", ErrBadEncoding},
	CodeBadSignature:         {"bad_signature", ErrBadSignature},
	CodeReplay:               {"replay", ErrReplay},
	CodeUnknownNamespace:     {"unknown_namespace", ErrUnknownNamespace},
	CodeForeignNamespace:     {"foreign_namespace", ErrForeignNamespace},
	CodeTooLarge:             {"too_large", ErrTooLarge},
	CodeNotValidator:         {"not_validator", ErrNotValidator},
	CodeInvalid:              {"invalid", ErrInvalid},
	CodeConflict:             {"conflict", ErrConflict},
	CodeNotFound:             {"not_found", ErrNotFound},
	CodeDuplicateAttestation: {"duplicate_attestation", ErrDuplicateAttestation},
	CodeStale:                {"stale", ErrStale},
	CodeUnauthorized:         {"unauthorized", ErrUnauthorized},
	CodeInternal:             {"internal", ErrInternal},
	CodeInsufficientFunds:    {"insufficient_funds", ErrInsufficientFunds},
	CodeBelowMinimum:         {"below_minimum", ErrBelowMinimum},
	CodeNotBonded:            {"not_bonded", ErrNotBonded},
	CodeBadBinding:           {"bad_binding", ErrBadBinding},
	CodeAlreadyRegistered:    {"already_registered", ErrAlreadyRegistered},
	CodeJailed:               {"jailed", ErrJailed},
}

// CodeName is the short name of a response code, as used in metric labels.
func CodeName(code uint32) string {
	if int(code) < len(codeTable) {
		return codeTable[code].name
	}
	return fmt.Sprintf("code_%d", code)
}

// CodeOf returns the response code for an error from this package (DecodeTx,
// Verify, the constructors). An error that matches no sentinel is
// CodeInternal; nil is CodeOK.
func CodeOf(err error) uint32 {
	if err == nil {
		return CodeOK
	}
	for code := range codeTable {
		if s := codeTable[code].err; s != nil && errors.Is(err, s) {
			return uint32(code)
		}
	}
	return CodeInternal
}

// CodeError turns a non-zero response code and its log back into an error
// that wraps the matching sentinel (and so an xnode error kind), for callers
// that broadcast a transaction and want to report its failure. CodeOK is nil.
func CodeError(code uint32, log string) error {
	if code == CodeOK {
		return nil
	}
	if int(code) < len(codeTable) {
		return fmt.Errorf("%w: %s", codeTable[code].err, log)
	}
	return fmt.Errorf("%w: code %d: %s", ErrInternal, code, log)
}

// reject builds an error carrying a sentinel and a precise message.
func reject(sentinel error, format string, args ...any) error {
	return fmt.Errorf("%w: %s", sentinel, fmt.Sprintf(format, args...))
}
