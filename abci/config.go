package abci

import (
	"fmt"
	"log/slog"
)

// Config configures the application.
type Config struct {
	// Dir is the badger directory of the app state (the node puts it at
	// <home>/data/app). Required unless InMemory.
	Dir string
	// InMemory keeps the state in memory only. For tests; nothing survives
	// Close. Dir must be empty.
	InMemory bool
	// MaxTxBytes is the mempool's size limit on a transaction, in bytes.
	// Default and maximum: MaxTxBytes (16 KiB), the protocol limit that
	// FinalizeBlock enforces on every node.
	MaxTxBytes int
	// KeepRecent is how many recent heights of state are kept for queries
	// and proofs; older versions of the state tree are deleted after each
	// Commit. 0 keeps every height. Default DefaultKeepRecent.
	KeepRecent int64
	// Logger receives the app's logs; nil discards them.
	Logger *slog.Logger
}

// DefaultKeepRecent is the default number of recent heights kept: a day
// of blocks at one a minute, or a quarter of an hour at one a second. A
// height that saw no transaction costs one root entry.
const DefaultKeepRecent = 1000

// DefaultConfig returns a Config storing state in dir.
func DefaultConfig(dir string) Config {
	return Config{Dir: dir, MaxTxBytes: MaxTxBytes, KeepRecent: DefaultKeepRecent}
}

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	if c.InMemory && c.Dir != "" {
		return fmt.Errorf("abci: config: Dir must be empty when InMemory, got %q", c.Dir)
	}
	if !c.InMemory && c.Dir == "" {
		return fmt.Errorf("abci: config: Dir is required (got %q) unless InMemory", c.Dir)
	}
	if c.MaxTxBytes < 1 || c.MaxTxBytes > MaxTxBytes {
		return fmt.Errorf("abci: config: MaxTxBytes must be in [1, %d], got %d", MaxTxBytes, c.MaxTxBytes)
	}
	if c.KeepRecent < 0 {
		return fmt.Errorf("abci: config: KeepRecent must be >= 0 (0 keeps every height), got %d", c.KeepRecent)
	}
	return nil
}
