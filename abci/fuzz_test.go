package abci

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"testing"

	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// FuzzDecodeTx checks that DecodeTx never panics, fails only with
// ErrBadEncoding or ErrTooLarge, and accepts only canonical bytes: whatever
// it accepts re-encodes to exactly the input.
func FuzzDecodeTx(f *testing.F) {
	// The committed corpus in testdata/fuzz/FuzzDecodeTx holds valid
	// transactions of the first kinds and several broken ones; the seeds
	// below are made fresh, so they stay valid if the encoding or the
	// signing changes.
	k := key("fuzz")
	peerKey, _, err := libp2pcrypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	pid, err := peer.IDFromPrivateKey(peerKey)
	if err != nil {
		f.Fatal(err)
	}
	c := "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
	// One valid transaction of every kind, built by its constructor.
	for _, build := range []func() ([]byte, error){
		func() ([]byte, error) { return NewRegisterNamespace(k, testChain, 1, "fuzzing") },
		func() ([]byte, error) { return NewSubmitRecord(k, testChain, 2, "fuzzing", "a/b", c, 3) },
		func() ([]byte, error) {
			return NewSend(k, testChain, 3, AddressOf(key("to").Public().(ed25519.PublicKey)), 10)
		},
		func() ([]byte, error) { return NewCreateValidator(k, testChain, 4, key("cons"), peerKey, 100) },
		func() ([]byte, error) { return NewRegisterNode(k, testChain, 5, peerKey, 50) },
		func() ([]byte, error) { return NewBond(k, testChain, 6, 7) },
		func() ([]byte, error) { return NewUnbond(k, testChain, 7, 7) },
		func() ([]byte, error) { return NewUnjail(k, testChain, 8) },
		func() ([]byte, error) { return NewNamespaceAllow(k, testChain, 9, "fuzzing", pid.String()) },
		func() ([]byte, error) { return NewNamespaceDisallow(k, testChain, 10, "fuzzing", pid.String()) },
	} {
		tx, err := build()
		if err != nil {
			f.Fatal(err)
		}
		if _, err := DecodeTx(tx); err != nil {
			f.Fatalf("a constructor's transaction does not decode: %v", err)
		}
		f.Add(tx)
	}
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
