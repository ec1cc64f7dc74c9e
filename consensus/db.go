package consensus

import (
	"errors"
	"fmt"
	"sync"

	dbm "github.com/cometbft/cometbft-db"
	cmtcfg "github.com/cometbft/cometbft/config"
)

// errDBClosed is returned for writes to a database after it was closed.
var errDBClosed = errors.New("consensus: database closed")

// dbTracker opens CometBFT's databases (goleveldb under <home>/data) wrapped
// in guardedDB, and remembers them so Close can close every one: the node
// closes its block, state and evidence stores but not every database it
// opens, and an open goleveldb keeps goroutines.
type dbTracker struct {
	mu  sync.Mutex
	dbs []*guardedDB
}

func (t *dbTracker) provider(ctx *cmtcfg.DBContext) (dbm.DB, error) {
	db, err := cmtcfg.DefaultDBProvider(ctx)
	if err != nil {
		return nil, err
	}
	g := &guardedDB{DB: db, name: ctx.ID}
	t.mu.Lock()
	t.dbs = append(t.dbs, g)
	t.mu.Unlock()
	return g, nil
}

// closeAll closes every database not closed yet.
func (t *dbTracker) closeAll() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	var errs []error
	for _, db := range t.dbs {
		if err := db.Close(); err != nil {
			errs = append(errs, fmt.Errorf("consensus: close %s db: %w", db.name, err))
		}
	}
	t.dbs = nil
	return errors.Join(errs...)
}

// guardedDB makes a closed database read as empty instead of failing.
//
// Why: CometBFT v0.38 closes its block store in Node.OnStop while per-peer
// consensus goroutines it does not wait for (queryMaj23Routine and friends)
// may still be between their "am I running" check and a block store read;
// the store panics on any read error, and goleveldb answers ErrClosed, which
// takes the whole process down at shutdown. Reads after Close return "not
// found" (which those goroutines handle), writes return an error, and Close
// waits for reads in flight so the underlying database is never used after
// it is closed.
type guardedDB struct {
	dbm.DB
	name string

	mu     sync.RWMutex
	closed bool
}

func (g *guardedDB) Get(key []byte) ([]byte, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return nil, nil
	}
	return g.DB.Get(key)
}

func (g *guardedDB) Has(key []byte) (bool, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return false, nil
	}
	return g.DB.Has(key)
}

func (g *guardedDB) write(f func() error) error {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return errDBClosed
	}
	return f()
}

func (g *guardedDB) Set(k, v []byte) error { return g.write(func() error { return g.DB.Set(k, v) }) }
func (g *guardedDB) SetSync(k, v []byte) error {
	return g.write(func() error { return g.DB.SetSync(k, v) })
}
func (g *guardedDB) Delete(k []byte) error { return g.write(func() error { return g.DB.Delete(k) }) }
func (g *guardedDB) DeleteSync(k []byte) error {
	return g.write(func() error { return g.DB.DeleteSync(k) })
}

func (g *guardedDB) Iterator(start, end []byte) (dbm.Iterator, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return dbm.NewMemDB().Iterator(start, end)
	}
	return g.DB.Iterator(start, end)
}

func (g *guardedDB) ReverseIterator(start, end []byte) (dbm.Iterator, error) {
	g.mu.RLock()
	defer g.mu.RUnlock()
	if g.closed {
		return dbm.NewMemDB().ReverseIterator(start, end)
	}
	return g.DB.ReverseIterator(start, end)
}

func (g *guardedDB) NewBatch() dbm.Batch {
	return &guardedBatch{Batch: g.DB.NewBatch(), db: g}
}

func (g *guardedDB) Compact(start, end []byte) error {
	return g.write(func() error { return g.DB.Compact(start, end) })
}

// Close closes the database once; later calls are no-ops.
func (g *guardedDB) Close() error {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.closed {
		return nil
	}
	g.closed = true
	return g.DB.Close()
}

// guardedBatch refuses to write once its database is closed.
type guardedBatch struct {
	dbm.Batch
	db *guardedDB
}

func (b *guardedBatch) Write() error     { return b.db.write(b.Batch.Write) }
func (b *guardedBatch) WriteSync() error { return b.db.write(b.Batch.WriteSync) }
