package abci

import (
	"fmt"
	"log/slog"

	"github.com/dgraph-io/badger/v4"
	"github.com/dgraph-io/badger/v4/options"
)

// badgerOptions tunes badger for a small, write-once-per-second state DB on
// a node that also runs a chunk store, so memory stays low:
//
//   - MemTableSize 16 MiB (default 64), NumMemtables 2 (default 5): at most
//     ~32 MiB of memtables. A single transaction may carry 15% of a memtable
//     (~2.4 MiB); larger blocks commit through the journal (see commit).
//   - BlockCacheSize 8 MiB (default 256), IndexCacheSize 4 MiB (default 0 =
//     all indexes on heap): the working set is small and mostly recent.
//   - NumLevelZeroTables 2 / stall at 8, NumCompactors 2 (the minimum
//     besides 0), BaseTableSize 2 MiB: few, small tables and little
//     background work.
//   - ValueThreshold 64 KiB: tree nodes stay in the LSM tree,
//     ValueLogFileSize 64 MiB.
//   - No SyncWrites: the tree writes a version in several transactions and
//     syncs once at the end (treeBatch.WriteSync), so a committed height
//     survives a power cut for one fsync per block, not one per write.
//   - No compression: values are small CBOR and hashing dominates anyway.
func badgerOptions(cfg Config, logger *slog.Logger) badger.Options {
	var opts badger.Options
	if cfg.InMemory {
		opts = badger.DefaultOptions("").WithInMemory(true)
	} else {
		opts = badger.DefaultOptions(cfg.Dir)
	}
	return opts.
		WithMemTableSize(16 << 20).
		WithNumMemtables(2).
		WithBlockCacheSize(8 << 20).
		WithIndexCacheSize(4 << 20).
		WithNumLevelZeroTables(2).
		WithNumLevelZeroTablesStall(8).
		WithNumCompactors(2).
		WithBaseTableSize(2 << 20).
		WithValueThreshold(64 << 10).
		WithValueLogFileSize(64 << 20).
		WithSyncWrites(false).
		WithCompression(options.None).
		WithMetricsEnabled(false).
		WithLogger(badgerLogger{logger})
}

// badgerLogger routes badger's logs to slog; its chatty info goes to debug.
type badgerLogger struct{ l *slog.Logger }

func (b badgerLogger) Errorf(f string, a ...any) {
	b.l.Error(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Warningf(f string, a ...any) {
	b.l.Warn(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Infof(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
func (b badgerLogger) Debugf(f string, a ...any) {
	b.l.Debug(fmt.Sprintf(f, a...), "component", "badger")
}
