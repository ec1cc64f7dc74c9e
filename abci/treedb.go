package abci

import (
	"bytes"
	"errors"
	"fmt"

	corestore "cosmossdk.io/core/store"
	iavldb "github.com/cosmos/iavl/db"
	"github.com/dgraph-io/badger/v4"
)

// treeDB is the IAVL tree's node store: the keys of one badger DB under a
// prefix. It implements iavl's db.DB.
//
// A batch holds its writes in memory and writes them in as few badger
// transactions as fit, in order. IAVL itself flushes a version's nodes in
// several batches and writes the version's root last; badger's write-ahead
// log replays a prefix of what was written, so after a crash either the
// root and every node under it are there, or the version is absent and the
// tree loads the one before (CometBFT then replays the block). WriteSync
// (IAVL's commit of a version) also syncs the DB.
type treeDB struct {
	db     *badger.DB
	prefix []byte
}

var _ iavldb.DB = (*treeDB)(nil)

func newTreeDB(db *badger.DB, prefix string) *treeDB {
	return &treeDB{db: db, prefix: []byte(prefix)}
}

func (t *treeDB) key(k []byte) []byte {
	out := make([]byte, 0, len(t.prefix)+len(k))
	return append(append(out, t.prefix...), k...)
}

// Get returns the value at key, or nil if it is absent.
func (t *treeDB) Get(key []byte) ([]byte, error) {
	if len(key) == 0 {
		return nil, errors.New("abci: tree db: empty key")
	}
	var val []byte
	err := t.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get(t.key(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, nil
	}
	return val, err
}

// Has reports whether key is present.
func (t *treeDB) Has(key []byte) (bool, error) {
	if len(key) == 0 {
		return false, errors.New("abci: tree db: empty key")
	}
	err := t.db.View(func(txn *badger.Txn) error {
		_, err := txn.Get(t.key(key))
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return false, nil
	}
	return err == nil, err
}

// Iterator walks [start, end) in ascending order.
func (t *treeDB) Iterator(start, end []byte) (corestore.Iterator, error) {
	return t.newIterator(start, end, false)
}

// ReverseIterator walks [start, end) in descending order.
func (t *treeDB) ReverseIterator(start, end []byte) (corestore.Iterator, error) {
	return t.newIterator(start, end, true)
}

// Close does nothing: the App owns the badger DB and closes it.
func (t *treeDB) Close() error { return nil }

// NewBatch starts a batch of writes.
func (t *treeDB) NewBatch() corestore.Batch { return &treeBatch{t: t} }

// NewBatchWithSize starts a batch of writes; the size is only a hint.
func (t *treeDB) NewBatchWithSize(int) corestore.Batch { return &treeBatch{t: t} }

// treeIterator is a badger iterator inside its own read transaction,
// limited to [start, end) of the tree's keys.
type treeIterator struct {
	t          *treeDB
	txn        *badger.Txn
	it         *badger.Iterator
	start, end []byte // in the tree's key space, without prefix
	reverse    bool
	seekEnd    []byte // prefixed seek target for reverse iteration
}

func (t *treeDB) newIterator(start, end []byte, reverse bool) (*treeIterator, error) {
	if (start != nil && len(start) == 0) || (end != nil && len(end) == 0) {
		return nil, errors.New("abci: tree db: empty iterator bound")
	}
	txn := t.db.NewTransaction(false)
	it := txn.NewIterator(badger.IteratorOptions{
		PrefetchValues: true,
		PrefetchSize:   16,
		Reverse:        reverse,
		Prefix:         t.prefix,
	})
	ti := &treeIterator{t: t, txn: txn, it: it, start: start, end: end, reverse: reverse}
	if reverse {
		if end == nil {
			// Seek past every key under the prefix.
			ti.seekEnd = append(append([]byte{}, t.prefix...), 0xff, 0xff, 0xff, 0xff)
			it.Seek(ti.seekEnd)
		} else {
			it.Seek(t.key(end))
			// Reverse Seek lands on the largest key <= end; end is exclusive.
			if it.Valid() && bytes.Equal(it.Item().Key(), t.key(end)) {
				it.Next()
			}
		}
	} else {
		if start == nil {
			it.Rewind()
		} else {
			it.Seek(t.key(start))
		}
	}
	return ti, nil
}

func (i *treeIterator) Domain() ([]byte, []byte) { return i.start, i.end }

func (i *treeIterator) Valid() bool {
	if i.it == nil || !i.it.Valid() {
		return false
	}
	k := i.it.Item().Key()[len(i.t.prefix):]
	if i.reverse {
		return i.start == nil || bytes.Compare(k, i.start) >= 0
	}
	return i.end == nil || bytes.Compare(k, i.end) < 0
}

func (i *treeIterator) Next() {
	if !i.Valid() {
		panic("abci: tree db: Next on an invalid iterator")
	}
	i.it.Next()
}

func (i *treeIterator) Key() []byte {
	if !i.Valid() {
		panic("abci: tree db: Key on an invalid iterator")
	}
	return i.it.Item().KeyCopy(nil)[len(i.t.prefix):]
}

func (i *treeIterator) Value() []byte {
	if !i.Valid() {
		panic("abci: tree db: Value on an invalid iterator")
	}
	v, err := i.it.Item().ValueCopy(nil)
	if err != nil {
		panic(fmt.Sprintf("abci: tree db: read value: %v", err))
	}
	return v
}

func (i *treeIterator) Error() error { return nil }

func (i *treeIterator) Close() error {
	if i.it != nil {
		i.it.Close()
		i.txn.Discard()
		i.it = nil
	}
	return nil
}

// treeBatch buffers writes until Write.
type treeBatch struct {
	t      *treeDB
	keys   [][]byte
	vals   [][]byte // nil marks a delete
	size   int
	closed bool
}

func (b *treeBatch) Set(key, value []byte) error {
	if b.closed {
		return errors.New("abci: tree db: batch already written")
	}
	if len(key) == 0 {
		return errors.New("abci: tree db: empty key")
	}
	if value == nil {
		return errors.New("abci: tree db: nil value")
	}
	b.keys = append(b.keys, b.t.key(key))
	b.vals = append(b.vals, append([]byte{}, value...))
	b.size += len(key) + len(value) + len(b.t.prefix)
	return nil
}

func (b *treeBatch) Delete(key []byte) error {
	if b.closed {
		return errors.New("abci: tree db: batch already written")
	}
	if len(key) == 0 {
		return errors.New("abci: tree db: empty key")
	}
	b.keys = append(b.keys, b.t.key(key))
	b.vals = append(b.vals, nil)
	b.size += len(key) + len(b.t.prefix)
	return nil
}

// Write commits the batch in order, in as few badger transactions as fit.
func (b *treeBatch) Write() error {
	if b.closed {
		return errors.New("abci: tree db: batch already written")
	}
	b.closed = true
	txn := b.t.db.NewTransaction(true)
	defer func() { txn.Discard() }()
	for i := 0; i < len(b.keys); {
		var err error
		if b.vals[i] == nil {
			err = txn.Delete(b.keys[i])
		} else {
			err = txn.Set(b.keys[i], b.vals[i])
		}
		if errors.Is(err, badger.ErrTxnTooBig) {
			if err := txn.Commit(); err != nil {
				return fmt.Errorf("abci: tree db: write: %w", err)
			}
			txn = b.t.db.NewTransaction(true)
			continue // retry this entry in the new transaction
		}
		if err != nil {
			return fmt.Errorf("abci: tree db: write: %w", err)
		}
		i++
	}
	if err := txn.Commit(); err != nil {
		return fmt.Errorf("abci: tree db: write: %w", err)
	}
	b.keys, b.vals = nil, nil
	return nil
}

// WriteSync commits the batch and syncs the DB to disk.
func (b *treeBatch) WriteSync() error {
	if err := b.Write(); err != nil {
		return err
	}
	if err := b.t.db.Sync(); err != nil {
		return fmt.Errorf("abci: tree db: sync: %w", err)
	}
	return nil
}

func (b *treeBatch) Close() error {
	b.closed = true
	b.keys, b.vals = nil, nil
	return nil
}

func (b *treeBatch) GetByteSize() (int, error) { return b.size, nil }
