package abci

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"

	"github.com/cosmos/iavl"
	"github.com/dgraph-io/badger/v4"
)

// Exported is a chain's state as ExportState reads it: what a new chain
// needs to start where the old one stands.
type Exported struct {
	// ChainID is the old chain's id.
	ChainID string
	// Height is the height the state was read at.
	Height int64
	// State is the app_state for the new genesis: params, admins,
	// namespaces and records (with their status and attestations).
	State GenesisState
	// Validators is the validator table, in key order.
	Validators []Validator
}

// ExportState reads the state DB in dir, in the state tree's layout or in
// the layout before it, and returns what a new genesis needs. Spent nonces
// are not exported: a new chain has a new chain id, and signatures cover
// the chain id, so no old transaction replays on it. The DB must not be
// open elsewhere (stop the node first); it is not modified.
func ExportState(dir string, logger *slog.Logger) (Exported, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	db, err := badger.Open(badgerOptions(Config{Dir: dir}, logger))
	if err != nil {
		if strings.Contains(err.Error(), "Cannot acquire directory lock") {
			return Exported{}, fmt.Errorf("abci: the state DB %s is in use: stop the node first (%w)", dir, err)
		}
		return Exported{}, fmt.Errorf("abci: open state db %q: %w", dir, err)
	}
	defer db.Close()
	var src stateSource
	var height int64
	switch err := checkLayout(db); {
	case errors.Is(err, ErrOldLayout):
		src = oldLayout{db}
		var m struct {
			Height  int64
			AppHash []byte
		}
		if b, ok, err := src.get(oldKeyMeta); err != nil {
			return Exported{}, err
		} else if ok {
			if err := stateDecMode.Unmarshal(b, &m); err != nil {
				return Exported{}, fmt.Errorf("abci: decode old meta: %w", err)
			}
		}
		height = m.Height
	case err != nil:
		return Exported{}, err
	default:
		t, err := openTree(db, 0, logger)
		if err != nil {
			return Exported{}, err
		}
		height = t.version()
		if height == 0 {
			return Exported{}, fmt.Errorf("abci: the state DB %s holds no committed height", dir)
		}
		imm, err := t.at(height)
		if err != nil {
			return Exported{}, err
		}
		src = treeSource{imm}
	}
	out, err := export(src)
	out.Height = height
	return out, err
}

// stateSource is what export reads: single keys and key ranges.
type stateSource interface {
	reader
	scan(prefix string, fn func(key, val []byte) error) error
}

type treeSource struct{ t *iavl.ImmutableTree }

func (s treeSource) get(key string) ([]byte, bool, error) { return treeReader(s).get(key) }

func (s treeSource) scan(prefix string, fn func(key, val []byte) error) error {
	return scan(s.t, prefix, func(k, v []byte) (bool, error) { return true, fn(k, v) })
}

// oldLayout reads the layout before the tree: the same keys and values,
// at the top level of the DB.
type oldLayout struct{ db *badger.DB }

func (s oldLayout) get(key string) ([]byte, bool, error) {
	var val []byte
	err := s.db.View(func(txn *badger.Txn) error {
		item, err := txn.Get([]byte(key))
		if err != nil {
			return err
		}
		val, err = item.ValueCopy(nil)
		return err
	})
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	return val, err == nil, err
}

func (s oldLayout) scan(prefix string, fn func(key, val []byte) error) error {
	return s.db.View(func(txn *badger.Txn) error {
		it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefix)})
		defer it.Close()
		for it.Rewind(); it.Valid(); it.Next() {
			v, err := it.Item().ValueCopy(nil)
			if err != nil {
				return err
			}
			if err := fn(it.Item().KeyCopy(nil), v); err != nil {
				return err
			}
		}
		return nil
	})
}

func export(src stateSource) (Exported, error) {
	var out Exported
	if id, ok, err := src.get(keyChainID()); err != nil {
		return out, err
	} else if !ok {
		return out, errors.New("abci: the state holds no chain id: was the chain initialised?")
	} else {
		out.ChainID = string(id)
	}
	out.State.Admins = [][]byte{}
	if found, err := getCBOR(src, keyParams(), &out.State.Params); err != nil {
		return out, fmt.Errorf("abci: export params: %w", err)
	} else if !found {
		return out, errors.New("abci: the state holds no params")
	}
	err := src.scan(prefixAdmin, func(k, _ []byte) error {
		out.State.Admins = append(out.State.Admins, append([]byte{}, k[len(prefixAdmin):]...))
		return nil
	})
	if err == nil {
		err = src.scan(prefixNamespace, func(_, v []byte) error {
			ns, err := DecodeNamespace(v)
			out.State.Namespaces = append(out.State.Namespaces, ns)
			return err
		})
	}
	if err == nil {
		err = src.scan(prefixRecord, func(_, v []byte) error {
			r, err := DecodeRecord(v)
			out.State.Records = append(out.State.Records, r)
			return err
		})
	}
	if err == nil {
		err = src.scan(prefixValidator, func(k, v []byte) error {
			p, err := DecodeValidatorPower(v)
			out.Validators = append(out.Validators, Validator{PubKey: append([]byte{}, k[len(prefixValidator):]...), Power: p})
			return err
		})
	}
	if err != nil {
		return out, fmt.Errorf("abci: export: %w", err)
	}
	if err := out.State.Validate(); err != nil {
		return out, fmt.Errorf("abci: exported state does not validate: %w", err)
	}
	return out, nil
}
