package keyring

import (
	"bytes"
	"crypto/ed25519"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"testing"
)

// FuzzParse: `xnode keys import` reads a key file the user names, in any of
// several forms. Parse never panics, refuses with ErrBadImport in a short
// message that does not quote the data (it may be a secret), and what it
// accepts is a whole ed25519 key that Armor writes and Parse reads back.
func FuzzParse(f *testing.F) {
	seed := bytes.Repeat([]byte{7}, ed25519.SeedSize)
	priv := ed25519.NewKeyFromSeed(seed)
	pemKey, err := Armor(priv)
	if err != nil {
		f.Fatal(err)
	}
	b64 := base64.StdEncoding.EncodeToString(priv)
	for _, s := range []string{
		string(pemKey),
		fmt.Sprintf(`{"type":"ed25519","priv_key":%q}`, b64),
		fmt.Sprintf(`{"address":"AB","pub_key":{"type":"tendermint/PubKeyEd25519","value":"x"},"priv_key":{"type":"tendermint/PrivKeyEd25519","value":%q}}`, b64),
		hex.EncodeToString(seed),
		"0x" + hex.EncodeToString(priv),
		base64.RawURLEncoding.EncodeToString(seed),
		b64,
		`{"seed":"x","sealed":"y"}`,
		"-----BEGIN ENCRYPTED PRIVATE KEY-----\nAAAA\n-----END ENCRYPTED PRIVATE KEY-----\n",
		string(pemKey) + string(pemKey),
		"abc",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		k, err := Parse(data)
		if err != nil {
			if !errors.Is(err, ErrBadImport) {
				t.Fatalf("refused with an error that is not ErrBadImport: %v", err)
			}
			msg := err.Error()
			if len(msg) > 512 {
				t.Fatalf("an error of %d bytes", len(msg))
			}
			if s := bytes.TrimSpace(data); len(s) >= 24 && bytes.Contains([]byte(msg), s) {
				t.Fatalf("the error quotes the data: %q", msg)
			}
			return
		}
		if len(k) != ed25519.PrivateKeySize || !bytes.Equal(k, ed25519.NewKeyFromSeed(k.Seed())) {
			t.Fatalf("accepted a key of %d bytes whose halves do not agree", len(k))
		}
		armored, err := Armor(k)
		if err != nil {
			t.Fatalf("an accepted key does not armor: %v", err)
		}
		again, err := Parse(armored)
		if err != nil || !bytes.Equal(again, k) {
			t.Fatalf("armored key reads back as %x (%v)", again, err)
		}
	})
}
