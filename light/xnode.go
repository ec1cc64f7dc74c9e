package light

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/xnode/xnode/abci"
)

// Record reads and verifies the record ns/key. When present, Result.Value
// is its abci.Record (current version, status and attestations, as
// committed); when absent, Result.Found is false, proven by an absence
// proof.
func (v *Verifier) Record(ctx context.Context, ns, key string) (Result, error) {
	if ns == "" || key == "" || strings.Contains(ns, "/") {
		return Result{}, fmt.Errorf("light: record %q/%q: want a namespace without '/' and a non-empty key", ns, key)
	}
	res, err := v.Query(ctx, abci.QueryRecord, []byte(ns+"/"+key), abci.RecordKey(ns, key))
	return decode(res, err, abci.DecodeRecord)
}

// Namespace reads and verifies the namespace name; Result.Value is its
// abci.Namespace when present.
func (v *Verifier) Namespace(ctx context.Context, name string) (Result, error) {
	if name == "" {
		return Result{}, fmt.Errorf("light: namespace: empty name")
	}
	res, err := v.Query(ctx, abci.QueryNamespace, []byte(name), abci.NamespaceKey(name))
	return decode(res, err, abci.DecodeNamespace)
}

// Params reads and verifies the network parameters; Result.Value is the
// abci.Params.
func (v *Verifier) Params(ctx context.Context) (Result, error) {
	res, err := v.Query(ctx, abci.QueryParams, nil, abci.ParamsKey())
	return decode(res, err, abci.DecodeParams)
}

// ValidatorPower reads and verifies the voting power the state records for
// the validator with ed25519 public key pub; Result.Value is an int64.
func (v *Verifier) ValidatorPower(ctx context.Context, pub []byte) (Result, error) {
	if len(pub) != 32 {
		return Result{}, fmt.Errorf("light: validator key of %d bytes, want 32", len(pub))
	}
	res, err := v.Query(ctx, abci.QueryValidator, []byte(hex.EncodeToString(pub)), abci.ValidatorKey(pub))
	return decode(res, err, abci.DecodeValidatorPower)
}

// Key reads and verifies any raw state key; Result.Raw is its stored value.
func (v *Verifier) Key(ctx context.Context, key []byte) (Result, error) {
	return v.Query(ctx, abci.QueryKey, key, key)
}

// decode fills Result.Value with the proven raw value decoded by fn.
func decode[T any](res Result, err error, fn func([]byte) (T, error)) (Result, error) {
	if err != nil || !res.Found {
		return res, err
	}
	val, err := fn(res.Raw)
	if err != nil {
		return Result{}, fmt.Errorf("%w: %s at height %d: %w", ErrBadValue, res.Path, res.Height, err)
	}
	res.Value = val
	return res, nil
}

// Balance reads and verifies the balance of the account address (bech32,
// as `xnode keys show` prints it); Result.Value is the balance, a uint64.
// An account the state does not hold has a balance of 0: Result.Found is
// false and Value is uint64(0), proven by an absence proof.
func (v *Verifier) Balance(ctx context.Context, address string) (Result, error) {
	a, err := abci.ParseAddress(address)
	if err != nil {
		return Result{}, fmt.Errorf("light: account %q: %w", address, err)
	}
	res, err := v.Query(ctx, abci.QueryAccount, []byte(address), abci.AccountKey(a))
	if err == nil && !res.Found {
		res.Value = uint64(0)
	}
	return decode(res, err, func(raw []byte) (uint64, error) {
		if len(raw) != 8 {
			return 0, fmt.Errorf("a balance of %d bytes, want 8", len(raw))
		}
		return binary.BigEndian.Uint64(raw), nil
	})
}

// Stake reads and verifies the registration of the account address (the
// node it runs, what it has bonded, its standing); Result.Value is its
// abci.Stake when present.
func (v *Verifier) Stake(ctx context.Context, address string) (Result, error) {
	a, err := abci.ParseAddress(address)
	if err != nil {
		return Result{}, fmt.Errorf("light: account %q: %w", address, err)
	}
	key := abci.StakeKey(a)
	res, err := v.Query(ctx, abci.QueryKey, key, key)
	return decode(res, err, abci.DecodeStake)
}
