package abci

import (
	"errors"
	"fmt"
	"log/slog"

	"github.com/cosmos/iavl"
	"github.com/dgraph-io/badger/v4"
)

// treePrefix is where the tree's nodes live in the app's badger DB. Every
// key of the application state is a key inside the tree; nothing else is
// stored beside it.
const treePrefix = "s/"

// treeCacheNodes is how many tree nodes the tree keeps decoded in memory.
const treeCacheNodes = 100_000

// ErrOldLayout is returned by New for a state DB written before the state
// moved into the IAVL tree (the layout whose app hash chained per block).
// Such a chain cannot be carried on: export its state with `xnode
// export-genesis` and start a new chain from the file.
var ErrOldLayout = errors.New("abci: the state DB predates the state tree")

// ErrPruned is returned for a query at a height whose state was pruned.
var ErrPruned = errors.New("abci: height pruned")

// stateTree is the application state: an IAVL tree (cosmos/iavl v1) over
// the app's badger DB, one saved version per height. Version h holds the
// state after block h; its root hash is the app hash that block h returns
// and that header h+1 carries. A block that writes nothing saves a version
// with the same root, so its app hash is unchanged.
//
// The tree is not safe for concurrent mutation; the App serialises apply,
// save and rollback under its mutex. at (and the ImmutableTrees it returns)
// may be used concurrently with them.
type stateTree struct {
	tree   *iavl.MutableTree
	logger *slog.Logger
	// keepRecent versions are kept; older ones are deleted after each save.
	// 0 keeps every version.
	keepRecent int64
	// oldest is the oldest version still stored (0 when none is saved).
	oldest int64
}

// openTree loads the latest saved version of the tree stored in db.
func openTree(db *badger.DB, keepRecent int64, logger *slog.Logger) (*stateTree, error) {
	if err := checkLayout(db); err != nil {
		return nil, err
	}
	t := &stateTree{
		tree: iavl.NewMutableTree(newTreeDB(db, treePrefix), treeCacheNodes, true, logger,
			iavl.SyncOption(true), iavl.FlushThresholdOption(1<<20)),
		logger:     logger,
		keepRecent: keepRecent,
	}
	if _, err := t.tree.Load(); err != nil {
		return nil, fmt.Errorf("abci: load state tree: %w", err)
	}
	if v := t.tree.Version(); v > 0 {
		versions := t.tree.AvailableVersions()
		t.oldest = v
		if len(versions) > 0 {
			t.oldest = int64(versions[0])
		}
	}
	return t, nil
}

// checkLayout refuses a DB written in the layout before the tree: its keys
// sat at the top level, among them "m/meta".
func checkLayout(db *badger.DB) error {
	return db.View(func(txn *badger.Txn) error {
		_, err := txn.Get([]byte(oldKeyMeta))
		if errors.Is(err, badger.ErrKeyNotFound) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("abci: check state layout: %w", err)
		}
		return ErrOldLayout
	})
}

// version is the last saved version (the committed height), 0 if none.
func (t *stateTree) version() int64 { return t.tree.Version() }

// hash is the root hash of the last saved version, nil if none.
func (t *stateTree) hash() []byte {
	if t.tree.Version() == 0 {
		return nil
	}
	return t.tree.Hash()
}

// at returns the saved version v for reading. It fails with ErrPruned for
// a version older than the oldest kept, and with ErrNotFound for one not
// yet saved.
func (t *stateTree) at(v int64) (*iavl.ImmutableTree, error) {
	latest := t.tree.Version()
	if v > latest || v <= 0 {
		return nil, reject(ErrNotFound, "no state at height %d; the latest is %d", v, latest)
	}
	// A deleted version reads as an empty tree: check the bound first.
	if v < t.oldest {
		return nil, fmt.Errorf("%w: the state at height %d is pruned; the oldest retained height is %d",
			ErrPruned, v, t.oldest)
	}
	imm, err := t.tree.GetImmutable(v)
	if err != nil {
		return nil, fmt.Errorf("%w: the state at height %d is gone (%v); the oldest retained height is %d",
			ErrPruned, v, err, t.oldest)
	}
	return imm, nil
}

// apply writes o's staged changes into the working tree in key order and
// returns the working root hash. The working tree starts from the last
// saved version: call rollback before applying another block's writes.
func (t *stateTree) apply(o *overlay) ([]byte, error) {
	for _, k := range o.sortedKeys() {
		w := o.writes[k]
		if w.del {
			if _, _, err := t.tree.Remove([]byte(k)); err != nil {
				return nil, fmt.Errorf("abci: tree remove: %w", err)
			}
			continue
		}
		if _, err := t.tree.Set([]byte(k), w.val); err != nil {
			return nil, fmt.Errorf("abci: tree set: %w", err)
		}
	}
	return t.tree.WorkingHash(), nil
}

// rollback drops the working tree's unsaved changes.
func (t *stateTree) rollback() { t.tree.Rollback() }

// setInitialVersion makes the first saved version v (a chain whose first
// height is v).
func (t *stateTree) setInitialVersion(v int64) {
	if v > 1 {
		t.tree.SetInitialVersion(uint64(v))
	}
}

// save persists the working tree as the next version (synced), then
// deletes versions older than keepRecent.
func (t *stateTree) save() ([]byte, int64, error) {
	hash, v, err := t.tree.SaveVersion()
	if err != nil {
		return nil, 0, fmt.Errorf("abci: save state version: %w", err)
	}
	if t.oldest == 0 {
		t.oldest = v
	}
	if t.keepRecent > 0 && v-t.keepRecent >= t.oldest {
		to := v - t.keepRecent
		if err := t.tree.DeleteVersionsTo(to); err != nil {
			// Pruning is housekeeping: the version is saved; try again
			// after the next block.
			t.logger.Warn("pruning old state versions failed", "to", to, "err", err)
		} else {
			t.oldest = to + 1
		}
	}
	return hash, v, nil
}

// treeReader reads a saved version of the tree.
type treeReader struct{ t *iavl.ImmutableTree }

func (r treeReader) get(key string) ([]byte, bool, error) {
	v, err := r.t.Get([]byte(key))
	if err != nil {
		return nil, false, err
	}
	return v, v != nil, nil
}

// emptyReader is the state before genesis.
type emptyReader struct{}

func (emptyReader) get(string) ([]byte, bool, error) { return nil, false, nil }
