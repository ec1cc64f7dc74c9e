package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"strings"
)

// PEMType is the PEM block type Export writes: PKCS#8, as
// `openssl genpkey -algorithm ed25519` writes it.
const PEMType = "PRIVATE KEY"

// MaxImportBytes bounds the data Parse reads.
const MaxImportBytes = 64 << 10

// Armor writes priv as a PKCS#8 PEM block ("-----BEGIN PRIVATE KEY-----"),
// which openssl and most tools read.
func Armor(priv ed25519.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(priv)
	if err != nil {
		return nil, fmt.Errorf("keyring: armor: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PEMType, Bytes: der}), nil
}

// Parse reads an ed25519 private key in any of these forms (surrounding
// white space ignored):
//
//   - PKCS#8 PEM, "-----BEGIN PRIVATE KEY-----" (what Export and
//     `openssl genpkey -algorithm ed25519` write);
//   - the node's operator key file, {"type":"ed25519","priv_key":BASE64};
//   - CometBFT's priv_validator_key.json, whose priv_key.value is BASE64;
//   - hex (optionally 0x-prefixed) or base64 (standard or URL, padded or
//     not) of the 32-byte seed or of the 64-byte private key (seed then
//     public key; the public half must match the seed).
//
// Anything else is ErrBadImport, with a message that does not echo the
// data (it may be a secret).
func Parse(data []byte) (ed25519.PrivateKey, error) {
	if len(data) > MaxImportBytes {
		return nil, fmt.Errorf("%w: %d bytes; a key file is a few hundred", ErrBadImport, len(data))
	}
	s := bytes.TrimSpace(data)
	if len(s) == 0 {
		return nil, fmt.Errorf("%w: empty", ErrBadImport)
	}
	switch {
	case bytes.HasPrefix(s, []byte("-----BEGIN")):
		return parsePEM(s)
	case s[0] == '{':
		return parseJSON(s)
	}
	text := string(s)
	if h := strings.TrimPrefix(strings.TrimPrefix(text, "0x"), "0X"); isHex(h) {
		raw, err := hex.DecodeString(h)
		if err != nil {
			return nil, fmt.Errorf("%w: hex of odd length %d", ErrBadImport, len(h))
		}
		return fromRaw(raw, "hex")
	}
	for _, enc := range []*base64.Encoding{base64.StdEncoding, base64.RawStdEncoding, base64.URLEncoding, base64.RawURLEncoding} {
		if raw, err := enc.DecodeString(text); err == nil {
			return fromRaw(raw, "base64")
		}
	}
	return nil, fmt.Errorf("%w: neither PEM, a JSON key file, hex nor base64 (%d bytes)", ErrBadImport, len(s))
}

func isHex(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F') {
			return false
		}
	}
	return true
}

func parsePEM(s []byte) (ed25519.PrivateKey, error) {
	blk, rest := pem.Decode(s)
	if blk == nil {
		return nil, fmt.Errorf("%w: a PEM header without a valid PEM block", ErrBadImport)
	}
	if len(bytes.TrimSpace(rest)) != 0 {
		return nil, fmt.Errorf("%w: more than one PEM block", ErrBadImport)
	}
	if blk.Type != PEMType {
		hint := ""
		if blk.Type == "ENCRYPTED PRIVATE KEY" {
			hint = " (decrypt it first: openssl pkey -in FILE -out PLAIN)"
		}
		return nil, fmt.Errorf("%w: PEM block %q, want %q%s", ErrBadImport, blk.Type, PEMType, hint)
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		return nil, fmt.Errorf("%w: PKCS#8: %v", ErrBadImport, err)
	}
	priv, ok := k.(ed25519.PrivateKey)
	if !ok {
		return nil, fmt.Errorf("%w: PKCS#8 holds a %T, want an ed25519 key", ErrBadImport, k)
	}
	return priv, nil
}

// parseJSON reads the operator key file or CometBFT's priv_validator_key.json.
func parseJSON(s []byte) (ed25519.PrivateKey, error) {
	var v struct {
		Type    string          `json:"type"`
		PrivKey json.RawMessage `json:"priv_key"`
		Seed    string          `json:"seed"`
		Sealed  json.RawMessage `json:"sealed"`
	}
	err := json.Unmarshal(s, &v)
	if err == nil && (v.Seed != "" || len(v.Sealed) > 0) {
		return nil, fmt.Errorf("%w: this is a keyring key file; export the key with 'xnode keys export NAME -o FILE' and import that", ErrBadImport)
	}
	if err != nil || len(v.PrivKey) == 0 {
		return nil, fmt.Errorf("%w: JSON without a priv_key", ErrBadImport)
	}
	var b64 string
	if err := json.Unmarshal(v.PrivKey, &b64); err == nil {
		if v.Type != "" && v.Type != KeyType {
			return nil, fmt.Errorf("%w: key type %q, want %q", ErrBadImport, v.Type, KeyType)
		}
	} else {
		var cmt struct {
			Type  string `json:"type"`
			Value string `json:"value"`
		}
		if err := json.Unmarshal(v.PrivKey, &cmt); err != nil || cmt.Value == "" {
			return nil, fmt.Errorf("%w: priv_key is neither base64 nor {\"type\",\"value\"}", ErrBadImport)
		}
		if cmt.Type != "tendermint/PrivKeyEd25519" {
			return nil, fmt.Errorf("%w: priv_key type %q, want tendermint/PrivKeyEd25519", ErrBadImport, cmt.Type)
		}
		b64 = cmt.Value
	}
	raw, err := base64.StdEncoding.DecodeString(b64)
	if err != nil {
		return nil, fmt.Errorf("%w: priv_key is not base64", ErrBadImport)
	}
	return fromRaw(raw, "priv_key")
}

// fromRaw takes a 32-byte seed or a 64-byte private key whose public half
// must match its seed.
func fromRaw(raw []byte, form string) (ed25519.PrivateKey, error) {
	switch len(raw) {
	case ed25519.SeedSize:
		return ed25519.NewKeyFromSeed(raw), nil
	case ed25519.PrivateKeySize:
		priv := ed25519.NewKeyFromSeed(raw[:ed25519.SeedSize])
		if !bytes.Equal(priv, raw) {
			return nil, fmt.Errorf("%w: %s holds 64 bytes whose public half does not match the seed", ErrBadImport, form)
		}
		return priv, nil
	}
	return nil, fmt.Errorf("%w: %s holds %d bytes, want a %d-byte seed or a %d-byte private key",
		ErrBadImport, form, len(raw), ed25519.SeedSize, ed25519.PrivateKeySize)
}
