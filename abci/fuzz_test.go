package abci

import (
	"bytes"
	"errors"
	"testing"
)

// FuzzDecodeTx checks that DecodeTx never panics, fails only with
// ErrBadEncoding or ErrTooLarge, and accepts only canonical bytes: whatever
// it accepts re-encodes to exactly the input.
func FuzzDecodeTx(f *testing.F) {
	// The committed corpus in testdata/fuzz/FuzzDecodeTx holds one valid
	// transaction of each kind and several broken ones; add a fresh valid
	// one so the seed set stays valid if the signing key derivation changes.
	tx, err := NewRegisterNamespace(key("fuzz"), testChain, 1, "fuzzing")
	if err != nil {
		f.Fatal(err)
	}
	f.Add(tx)
	f.Fuzz(func(t *testing.T, b []byte) {
		env, err := DecodeTx(b)
		if err != nil {
			if env != nil {
				t.Fatal("envelope returned with an error")
			}
			if !errors.Is(err, ErrBadEncoding) && !errors.Is(err, ErrTooLarge) {
				t.Fatalf("unexpected error kind: %v", err)
			}
			return
		}
		if len(b) > MaxTxBytes {
			t.Fatalf("accepted %d bytes", len(b))
		}
		full, _, err := env.encode()
		if err != nil || !bytes.Equal(full, b) {
			t.Fatalf("accepted a non-canonical encoding (%v)", err)
		}
		_ = env.Verify(testChain)
		_ = env.Payload.ValidateBasic()
	})
}
