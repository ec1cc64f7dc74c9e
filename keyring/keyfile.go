package keyring

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"golang.org/x/crypto/chacha20poly1305"
	"golang.org/x/crypto/scrypt"
)

// FileVersion is the key file format this package writes and reads.
const FileVersion = 1

// Algorithm names recorded in a key file.
const (
	KeyType = "ed25519"
	KDF     = "scrypt"
	Cipher  = "xchacha20-poly1305"
)

// aadDomain separates this use of the passphrase-derived key from any other.
const aadDomain = "xnode/keyring/v1\x00"

// ScryptParams are the cost parameters of the passphrase key derivation.
type ScryptParams struct {
	// N is the CPU/memory cost, a power of two. Default 1<<15 (32 MiB with
	// R 8, about 0.1 s on a laptop).
	N int `json:"n"`
	// R is the block size. Default 8.
	R int `json:"r"`
	// P is the parallelism. Default 1.
	P int `json:"p"`
}

// DefaultScrypt is the cost a new sealed key is written with.
func DefaultScrypt() ScryptParams { return ScryptParams{N: 1 << 15, R: 8, P: 1} }

// maxScryptMemory bounds what a key file may make a reader allocate
// (128·N·R bytes), so a hostile file cannot exhaust memory.
const maxScryptMemory = 256 << 20

// Validate checks the parameters, naming the bad field.
func (p ScryptParams) Validate() error {
	switch {
	case p.N < 2 || p.N&(p.N-1) != 0:
		return fmt.Errorf("keyring: scrypt n %d: must be a power of two >= 2", p.N)
	case p.R < 1 || p.R > 64:
		return fmt.Errorf("keyring: scrypt r %d: must be 1-64", p.R)
	case p.P < 1 || p.P > 16:
		return fmt.Errorf("keyring: scrypt p %d: must be 1-16", p.P)
	case int64(p.N)*int64(p.R)*128 > maxScryptMemory:
		return fmt.Errorf("keyring: scrypt n %d, r %d: would need %d MiB, limit %d", p.N, p.R,
			int64(p.N)*int64(p.R)*128>>20, maxScryptMemory>>20)
	}
	return nil
}

// Sealed is a private key's seed sealed under a passphrase.
type Sealed struct {
	KDF string `json:"kdf"`
	ScryptParams
	// Salt, Nonce and Ciphertext are standard base64.
	Salt       string `json:"salt"`
	Cipher     string `json:"cipher"`
	Nonce      string `json:"nonce"`
	Ciphertext string `json:"ciphertext"`
}

// KeyFile is the JSON content of one key file. Exactly one of Seed and
// Sealed is set.
type KeyFile struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Type    string `json:"type"`
	// PublicKey is the ed25519 public key, hex.
	PublicKey string    `json:"public_key"`
	Created   time.Time `json:"created"`
	// Seed is the private key's 32-byte seed, standard base64, for a key
	// kept without a passphrase.
	Seed string `json:"seed,omitempty"`
	// Sealed is the seed sealed under the key's passphrase.
	Sealed *Sealed `json:"sealed,omitempty"`
}

// NewKeyFile builds the file of key priv named name, created at now. An
// empty passphrase keeps the seed in clear; otherwise it is sealed with
// cost p, salt and nonce read from random (nil: crypto/rand).
func NewKeyFile(name string, priv ed25519.PrivateKey, passphrase []byte, p ScryptParams, random io.Reader, now time.Time) (KeyFile, error) {
	if err := ValidateName(name); err != nil {
		return KeyFile{}, err
	}
	if len(priv) != ed25519.PrivateKeySize {
		return KeyFile{}, fmt.Errorf("keyring: private key is %d bytes, want %d", len(priv), ed25519.PrivateKeySize)
	}
	pub := priv.Public().(ed25519.PublicKey)
	f := KeyFile{
		Version:   FileVersion,
		Name:      name,
		Type:      KeyType,
		PublicKey: hex.EncodeToString(pub),
		Created:   now.UTC().Truncate(time.Second),
	}
	if len(passphrase) == 0 {
		f.Seed = base64.StdEncoding.EncodeToString(priv.Seed())
		return f, nil
	}
	if err := p.Validate(); err != nil {
		return KeyFile{}, err
	}
	if random == nil {
		random = rand.Reader
	}
	salt := make([]byte, 16)
	nonce := make([]byte, chacha20poly1305.NonceSizeX)
	if _, err := io.ReadFull(random, salt); err != nil {
		return KeyFile{}, fmt.Errorf("keyring: salt: %w", err)
	}
	if _, err := io.ReadFull(random, nonce); err != nil {
		return KeyFile{}, fmt.Errorf("keyring: nonce: %w", err)
	}
	aead, err := deriveAEAD(passphrase, salt, p)
	if err != nil {
		return KeyFile{}, err
	}
	ct := aead.Seal(nil, nonce, priv.Seed(), aad(pub))
	f.Sealed = &Sealed{
		KDF:          KDF,
		ScryptParams: p,
		Salt:         base64.StdEncoding.EncodeToString(salt),
		Cipher:       Cipher,
		Nonce:        base64.StdEncoding.EncodeToString(nonce),
		Ciphertext:   base64.StdEncoding.EncodeToString(ct),
	}
	return f, nil
}

func deriveAEAD(passphrase, salt []byte, p ScryptParams) (interface {
	Seal(dst, nonce, plaintext, additionalData []byte) []byte
	Open(dst, nonce, ciphertext, additionalData []byte) ([]byte, error)
}, error) {
	k, err := scrypt.Key(passphrase, salt, p.N, p.R, p.P, chacha20poly1305.KeySize)
	if err != nil {
		return nil, fmt.Errorf("keyring: scrypt: %w", err)
	}
	aead, err := chacha20poly1305.NewX(k)
	if err != nil {
		return nil, fmt.Errorf("keyring: cipher: %w", err)
	}
	return aead, nil
}

// aad binds the sealed seed to its public key and the format, so a
// ciphertext moved into another key's file does not open.
func aad(pub ed25519.PublicKey) []byte { return append([]byte(aadDomain), pub...) }

// Encode is the file's bytes: indented JSON and a newline.
func (f KeyFile) Encode() []byte {
	b, err := json.MarshalIndent(f, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("keyring: encode key file: %v", err)) // plain strings and ints always encode
	}
	return append(b, '\n')
}

// maxKeyFile bounds a key file read from disk.
const maxKeyFile = 16 << 10

// DecodeKeyFile reads and checks a key file: its version, type, name,
// public key, and either a 32-byte seed matching the public key or a
// sealed seed with sane parameters. It does not open a sealed seed.
func DecodeKeyFile(b []byte) (KeyFile, error) {
	var f KeyFile
	if len(b) > maxKeyFile {
		return f, fmt.Errorf("%w: %d bytes, a key file is under %d", ErrBadKeyFile, len(b), maxKeyFile)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&f); err != nil {
		return KeyFile{}, fmt.Errorf("%w: %v", ErrBadKeyFile, err)
	}
	if f.Version != FileVersion {
		return KeyFile{}, fmt.Errorf("%w: version %d, this xnode reads version %d", ErrBadKeyFile, f.Version, FileVersion)
	}
	if f.Type != KeyType {
		return KeyFile{}, fmt.Errorf("%w: type %q, want %q", ErrBadKeyFile, f.Type, KeyType)
	}
	if err := ValidateName(f.Name); err != nil {
		return KeyFile{}, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
	}
	pub, err := hex.DecodeString(f.PublicKey)
	if err != nil || len(pub) != ed25519.PublicKeySize {
		return KeyFile{}, fmt.Errorf("%w: public_key is not %d bytes of hex", ErrBadKeyFile, ed25519.PublicKeySize)
	}
	switch {
	case f.Seed != "" && f.Sealed != nil:
		return KeyFile{}, fmt.Errorf("%w: both seed and sealed are set", ErrBadKeyFile)
	case f.Seed != "":
		seed, err := base64.StdEncoding.DecodeString(f.Seed)
		if err != nil || len(seed) != ed25519.SeedSize {
			return KeyFile{}, fmt.Errorf("%w: seed is not %d bytes of base64", ErrBadKeyFile, ed25519.SeedSize)
		}
		if !bytes.Equal(ed25519.NewKeyFromSeed(seed).Public().(ed25519.PublicKey), pub) {
			return KeyFile{}, fmt.Errorf("%w: seed does not match public_key", ErrBadKeyFile)
		}
	case f.Sealed != nil:
		s := f.Sealed
		if s.KDF != KDF || s.Cipher != Cipher {
			return KeyFile{}, fmt.Errorf("%w: sealed with %s/%s, this xnode reads %s/%s", ErrBadKeyFile, s.KDF, s.Cipher, KDF, Cipher)
		}
		if err := s.ScryptParams.Validate(); err != nil {
			return KeyFile{}, fmt.Errorf("%w: %w", ErrBadKeyFile, err)
		}
		// n > 0: exactly n bytes; n < 0: at least -n.
		for _, want := range []struct {
			field, v string
			n        int
		}{
			{"salt", s.Salt, -16},
			{"nonce", s.Nonce, chacha20poly1305.NonceSizeX},
			{"ciphertext", s.Ciphertext, ed25519.SeedSize + chacha20poly1305.Overhead},
		} {
			raw, err := base64.StdEncoding.DecodeString(want.v)
			if err != nil || (want.n > 0 && len(raw) != want.n) || (want.n < 0 && len(raw) < -want.n) {
				return KeyFile{}, fmt.Errorf("%w: sealed %s is malformed", ErrBadKeyFile, want.field)
			}
		}
	default:
		return KeyFile{}, fmt.Errorf("%w: neither seed nor sealed is set", ErrBadKeyFile)
	}
	return f, nil
}

// Encrypted reports whether the seed is sealed under a passphrase.
func (f KeyFile) Encrypted() bool { return f.Sealed != nil }

// Public returns the public key of a decoded file.
func (f KeyFile) Public() ed25519.PublicKey {
	b, _ := hex.DecodeString(f.PublicKey)
	return ed25519.PublicKey(b)
}

// PrivateKey opens a decoded file's private key. A sealed key needs its
// passphrase: none is ErrNoPassphrase, a wrong one ErrWrongPassphrase. A
// passphrase given for a key kept in clear is ignored.
func (f KeyFile) PrivateKey(passphrase []byte) (ed25519.PrivateKey, error) {
	pub := f.Public()
	var seed []byte
	if f.Sealed == nil {
		var err error
		if seed, err = base64.StdEncoding.DecodeString(f.Seed); err != nil {
			return nil, fmt.Errorf("%w: seed: %v", ErrBadKeyFile, err)
		}
	} else {
		if len(passphrase) == 0 {
			return nil, fmt.Errorf("%w: key %q is sealed under a passphrase", ErrNoPassphrase, f.Name)
		}
		s := f.Sealed
		salt, err1 := base64.StdEncoding.DecodeString(s.Salt)
		nonce, err2 := base64.StdEncoding.DecodeString(s.Nonce)
		ct, err3 := base64.StdEncoding.DecodeString(s.Ciphertext)
		if err1 != nil || err2 != nil || err3 != nil || len(nonce) != chacha20poly1305.NonceSizeX {
			return nil, fmt.Errorf("%w: sealed fields are malformed", ErrBadKeyFile)
		}
		aead, err := deriveAEAD(passphrase, salt, s.ScryptParams)
		if err != nil {
			return nil, err
		}
		if seed, err = aead.Open(nil, nonce, ct, aad(pub)); err != nil {
			return nil, fmt.Errorf("%w: key %q", ErrWrongPassphrase, f.Name)
		}
	}
	if len(seed) != ed25519.SeedSize {
		return nil, fmt.Errorf("%w: seed is %d bytes, want %d", ErrBadKeyFile, len(seed), ed25519.SeedSize)
	}
	priv := ed25519.NewKeyFromSeed(seed)
	if !bytes.Equal(priv.Public().(ed25519.PublicKey), pub) {
		return nil, fmt.Errorf("%w: key %q: seed does not match public_key", ErrBadKeyFile, f.Name)
	}
	return priv, nil
}
