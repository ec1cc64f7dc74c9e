package storage

import (
	"log/slog"

	"github.com/dgraph-io/badger/v4"
)

// BadgerOptions returns the badger options a Store opened with cfg uses, so
// a benchmark can measure raw badger with exactly the same tuning. Badger's
// own SyncWrites is off in them: the Store calls DB.Sync when it acknowledges
// a write, and a raw baseline should do the same once per batch.
func BadgerOptions(cfg Config, log *slog.Logger) badger.Options {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return cfg.badgerOptions(log)
}
