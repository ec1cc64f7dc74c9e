package abci

import (
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/ipfs/go-cid"
)

// Limits on names and keys.
const (
	MinNamespaceLen = 3
	MaxNamespaceLen = 63
	MaxKeyLen       = 256
)

// ValidateNamespace checks a namespace name: 3–63 characters of [a-z0-9-],
// starting with a letter. The error wraps ErrInvalid.
func ValidateNamespace(name string) error {
	if len(name) < MinNamespaceLen || len(name) > MaxNamespaceLen {
		return reject(ErrInvalid, "namespace %q must be %d-%d characters", truncate(name), MinNamespaceLen, MaxNamespaceLen)
	}
	if name[0] < 'a' || name[0] > 'z' {
		return reject(ErrInvalid, "namespace %q must start with a letter a-z", name)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '-') {
			return reject(ErrInvalid, "namespace %q may only hold a-z, 0-9 and '-'", name)
		}
	}
	return nil
}

// ValidateKey checks a record key: 1–256 bytes of printable UTF-8, not
// starting with '/'. Slashes inside are allowed (keys look like paths).
func ValidateKey(key string) error {
	if len(key) < 1 || len(key) > MaxKeyLen {
		return reject(ErrInvalid, "key must be 1-%d bytes, got %d", MaxKeyLen, len(key))
	}
	if key[0] == '/' {
		return reject(ErrInvalid, "key %q must not start with '/'", key)
	}
	if !utf8.ValidString(key) {
		return reject(ErrInvalid, "key is not valid UTF-8")
	}
	if strings.IndexFunc(key, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
		return reject(ErrInvalid, "key %q holds a non-printable character", key)
	}
	return nil
}

// ValidateCID checks that s is a CIDv1 in its canonical string form (base32,
// as users see it), so that equal CIDs are always equal strings.
func ValidateCID(s string) error {
	c, err := cid.Decode(s)
	if err != nil {
		return reject(ErrInvalid, "cid %q: %v", truncate(s), err)
	}
	if c.Version() != 1 {
		return reject(ErrInvalid, "cid %q is version %d, want 1", s, c.Version())
	}
	if c.String() != s {
		return reject(ErrInvalid, "cid %q is not in canonical base32 form %q", s, c.String())
	}
	return nil
}

func truncate(s string) string {
	if len(s) > 80 {
		return s[:80] + "..."
	}
	return s
}
