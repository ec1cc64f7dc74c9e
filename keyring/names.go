package keyring

import "fmt"

// OperatorName is the account name of the node's own operator key.
const OperatorName = "operator"

// MaxNameLen is the longest key name.
const MaxNameLen = 32

// ValidateName checks a key name: 1 to 32 characters of a-z, 0-9, '_' and
// '-'. Names become file names, so nothing else (no '.', '/', upper case)
// is allowed.
func ValidateName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: empty; names are 1-%d characters of a-z, 0-9, '_' and '-'", ErrBadName, MaxNameLen)
	}
	if len(name) > MaxNameLen {
		return fmt.Errorf("%w: %q is %d characters, limit %d", ErrBadName, shorten(name), len(name), MaxNameLen)
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		if !(c >= 'a' && c <= 'z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return fmt.Errorf("%w: %q has %q at %d; names are 1-%d characters of a-z, 0-9, '_' and '-'",
				ErrBadName, shorten(name), rune(c), i, MaxNameLen)
		}
	}
	return nil
}

// shorten bounds user input echoed in an error.
func shorten(s string) string {
	if len(s) > 64 {
		return s[:64] + "..."
	}
	return s
}
