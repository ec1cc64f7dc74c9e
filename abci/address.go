package abci

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"strings"

	"github.com/btcsuite/btcd/btcutil/bech32"
)

// AddressPrefix is the human-readable part of an address's text form.
const AddressPrefix = "xnode"

// Address identifies an account: the first 20 bytes of the SHA-256 of its
// ed25519 public key. Its text form is bech32 with the prefix "xnode"
// (xnode1…), whose checksum catches a mistyped address before any token
// moves.
type Address [20]byte

// AddressOf returns the address of an account key.
func AddressOf(pub ed25519.PublicKey) Address {
	sum := sha256.Sum256(pub)
	var a Address
	copy(a[:], sum[:20])
	return a
}

// String is the bech32 form, xnode1….
func (a Address) String() string {
	conv, err := bech32.ConvertBits(a[:], 8, 5, true)
	if err != nil {
		panic(fmt.Sprintf("abci: address bits: %v", err)) // 20 bytes always convert
	}
	s, err := bech32.Encode(AddressPrefix, conv)
	if err != nil {
		panic(fmt.Sprintf("abci: address encode: %v", err))
	}
	return s
}

// MarshalText implements encoding.TextMarshaler (JSON shows the bech32 form).
func (a Address) MarshalText() ([]byte, error) { return []byte(a.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (a *Address) UnmarshalText(b []byte) error {
	v, err := ParseAddress(string(b))
	if err != nil {
		return err
	}
	*a = v
	return nil
}

// ParseAddress reads an address in its bech32 form (xnode1…). The error
// names what is wrong: the prefix, the checksum or the length.
func ParseAddress(s string) (Address, error) {
	var a Address
	s = strings.TrimSpace(s)
	if len(s) > 90 {
		return a, reject(ErrInvalid, "address is %d characters; an xnode address is 44", len(s))
	}
	hrp, data, err := bech32.Decode(s)
	if err != nil {
		return a, reject(ErrInvalid, "%q is not an xnode address (bech32 xnode1…): %v", truncate(s), err)
	}
	if hrp != AddressPrefix {
		return a, reject(ErrInvalid, "address %q has prefix %q, want %q", truncate(s), hrp, AddressPrefix)
	}
	raw, err := bech32.ConvertBits(data, 5, 8, false)
	if err != nil || len(raw) != len(a) {
		return a, reject(ErrInvalid, "address %q holds %d bytes, want %d", truncate(s), len(raw), len(a))
	}
	copy(a[:], raw)
	return a, nil
}

// hexKey is a short hex form of a public key for logs and events.
func hexKey(pub []byte) string { return hex.EncodeToString(pub) }
