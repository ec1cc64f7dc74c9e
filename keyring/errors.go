package keyring

import (
	"errors"
	"fmt"

	"github.com/xnode/xnode"
)

// Sentinel errors. Each wraps a root error kind, so callers (and the CLI's
// exit status) can branch on the kind or on the sentinel.
var (
	// ErrBadName is a key name outside [a-z0-9_-]{1,32}.
	ErrBadName = fmt.Errorf("keyring: bad key name: %w", xnode.ErrInvalidArgument)
	// ErrNotFound is a name with no key.
	ErrNotFound = fmt.Errorf("keyring: key %w", xnode.ErrNotFound)
	// ErrExists is Add or Import of a name already taken.
	ErrExists = fmt.Errorf("keyring: key already exists: %w", xnode.ErrConflict)
	// ErrReadOnly is a write to the operator key's name.
	ErrReadOnly = fmt.Errorf("keyring: the operator key is the node's own and read-only here: %w", xnode.ErrInvalidArgument)
	// ErrWrongPassphrase is a passphrase that does not open a sealed key
	// (or a sealed key whose file was altered).
	ErrWrongPassphrase = errors.New("keyring: wrong passphrase (or the key file was altered)")
	// ErrNoPassphrase is a sealed key with no passphrase to open it and no
	// terminal to ask on.
	ErrNoPassphrase = errors.New("keyring: passphrase needed")
	// ErrBadKeyFile is a key file that does not decode.
	ErrBadKeyFile = fmt.Errorf("keyring: bad key file: %w", xnode.ErrInvalidArgument)
	// ErrBadImport is import data that holds no ed25519 private key.
	ErrBadImport = fmt.Errorf("keyring: not a private key: %w", xnode.ErrInvalidArgument)
)
