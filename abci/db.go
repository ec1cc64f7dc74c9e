package abci

import (
	"errors"
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
//   - ValueThreshold 64 KiB: records stay in the LSM tree; only a large
//     block journal goes to the value log, ValueLogFileSize 64 MiB.
//   - SyncWrites: each Commit is fsynced, so a committed height survives a
//     power cut; one fsync per block is cheap.
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
		WithSyncWrites(!cfg.InMemory).
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

// loadMeta reads the committed height and app hash; zero values on a new DB.
func loadMeta(db *badger.DB) (meta, error) {
	var m meta
	b, ok, err := dbReader{db}.get(string(keyMeta))
	if err != nil || !ok {
		return m, err
	}
	if err := stateDecMode.Unmarshal(b, &m); err != nil {
		return m, fmt.Errorf("abci: decode meta: %w", err)
	}
	return m, nil
}

// journal is a block's writes plus its meta, written as one value when the
// block is too large for one badger transaction.
type journal struct {
	Keys [][]byte
	Vals [][]byte
	Dels []bool
	Meta meta
}

// commit persists the overlay's writes and m atomically. The normal path is
// one badger transaction. If the block is too large for one transaction,
// the writes are first stored as one journal value together with the new
// meta (that single write is the commit point), then applied in batches, and
// the journal deleted; recoverJournal finishes the job after a crash.
func commit(db *badger.DB, o *overlay, m meta) error {
	mb, err := encMode.Marshal(m)
	if err != nil {
		return fmt.Errorf("abci: encode meta: %w", err)
	}
	keys := o.sortedKeys()
	err = db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			w := o.writes[k]
			var err error
			if w.del {
				err = txn.Delete([]byte(k))
			} else {
				err = txn.Set([]byte(k), w.val)
			}
			if err != nil {
				return err
			}
		}
		return txn.Set(keyMeta, mb)
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		if err != nil {
			return fmt.Errorf("abci: commit height %d: %w", m.Height, err)
		}
		return nil
	}
	j := journal{Meta: m}
	for _, k := range keys {
		w := o.writes[k]
		j.Keys = append(j.Keys, []byte(k))
		j.Vals = append(j.Vals, w.val)
		j.Dels = append(j.Dels, w.del)
	}
	if err := writeJournal(db, j, mb); err != nil {
		return err
	}
	return applyJournal(db, j)
}

// writeJournal stores j and the new meta in one transaction: the commit
// point of a journaled block.
func writeJournal(db *badger.DB, j journal, mb []byte) error {
	jb, err := encMode.Marshal(j)
	if err != nil {
		return fmt.Errorf("abci: encode journal: %w", err)
	}
	err = db.Update(func(txn *badger.Txn) error {
		if err := txn.Set(keyJournal, jb); err != nil {
			return err
		}
		return txn.Set(keyMeta, mb)
	})
	if err != nil {
		return fmt.Errorf("abci: write journal for height %d: %w", j.Meta.Height, err)
	}
	return nil
}

// applyJournal writes a journal's entries in batches, then deletes it.
// Applying it twice is harmless: it holds final values, not increments.
func applyJournal(db *badger.DB, j journal) error {
	if len(j.Keys) != len(j.Vals) || len(j.Keys) != len(j.Dels) {
		return fmt.Errorf("abci: corrupt journal: %d keys, %d values, %d flags", len(j.Keys), len(j.Vals), len(j.Dels))
	}
	wb := db.NewWriteBatch()
	for i, k := range j.Keys {
		var err error
		if j.Dels[i] {
			err = wb.Delete(k)
		} else {
			err = wb.Set(k, j.Vals[i])
		}
		if err != nil {
			wb.Cancel()
			return fmt.Errorf("abci: apply journal: %w", err)
		}
	}
	if err := wb.Flush(); err != nil {
		return fmt.Errorf("abci: apply journal: %w", err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Delete(keyJournal) }); err != nil {
		return fmt.Errorf("abci: delete journal: %w", err)
	}
	return nil
}

// recoverJournal finishes a journaled commit interrupted by a crash.
func recoverJournal(db *badger.DB, logger *slog.Logger) error {
	b, ok, err := dbReader{db}.get(string(keyJournal))
	if err != nil || !ok {
		return err
	}
	var j journal
	if err := stateDecMode.Unmarshal(b, &j); err != nil {
		return fmt.Errorf("abci: decode journal: %w", err)
	}
	logger.Warn("finishing interrupted commit from journal", "height", j.Meta.Height, "writes", len(j.Keys))
	return applyJournal(db, j)
}
