package abci

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
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
	// namespaces and records (with their status and attestations),
	// balances, and the bonded validators and nodes.
	State GenesisState
	// Validators is the new chain's CometBFT validator set, in key order:
	// every validator of State.Validators with power = stake, and every
	// genesis-fixed validator (one no account is bound to) at its power.
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
		err = exportStake(src, &out)
	}
	if err != nil {
		return out, fmt.Errorf("abci: export: %w", err)
	}
	if err := out.State.Validate(); err != nil {
		return out, fmt.Errorf("abci: exported state does not validate: %w", err)
	}
	return out, nil
}

// exportStake carries balances and registrations over. What a new chain
// cannot carry as it is becomes balance: unbonding entries, and the stake
// of a registration too small to stand or tombstoned. A jailed validator
// starts the new chain as a node; the top max_validators of the others as
// validators, at power = stake.
func exportStake(src stateSource, out *Exported) error {
	balances := map[Address]uint64{}
	var order []Address
	credit := func(a Address, v uint64) {
		if _, ok := balances[a]; !ok {
			order = append(order, a)
		}
		balances[a] += v
	}
	err := src.scan(prefixBalance, func(k, v []byte) error {
		if len(v) != 8 {
			return fmt.Errorf("balance entry of %d bytes", len(v))
		}
		var a Address
		copy(a[:], k[len(prefixBalance):])
		credit(a, binary.BigEndian.Uint64(v))
		return nil
	})
	if err != nil {
		return err
	}
	var all []Stake
	err = src.scan(prefixStake, func(_, v []byte) error {
		st, err := DecodeStake(v)
		all = append(all, st)
		return err
	})
	if err != nil {
		return err
	}
	p := out.State.Params
	var cands []Stake
	for _, st := range all {
		for _, u := range st.Unbonding {
			credit(st.Address, u.Amount)
		}
		switch {
		case st.ConsPubKey != nil && !st.Jailed && !st.Tombstoned && st.Bonded >= p.MinValidatorStake:
			cands = append(cands, st)
		case !st.Tombstoned && st.Bonded >= p.MinNodeStake && st.Bonded > 0:
			out.State.Nodes = append(out.State.Nodes, GenesisNode{Address: st.Address, PeerID: st.PeerID, Stake: st.Bonded})
		default:
			credit(st.Address, st.Bonded)
		}
	}
	slices.SortStableFunc(cands, func(x, y Stake) int { return cmp.Compare(y.Bonded, x.Bonded) })
	for i, st := range cands {
		if i >= int(p.MaxValidators) {
			out.State.Nodes = append(out.State.Nodes, GenesisNode{Address: st.Address, PeerID: st.PeerID, Stake: st.Bonded})
			continue
		}
		out.State.Validators = append(out.State.Validators, GenesisValidator{Address: st.Address, PubKey: st.ConsPubKey, PeerID: st.PeerID, Stake: st.Bonded})
		out.Validators = append(out.Validators, Validator{PubKey: st.ConsPubKey, Power: int64(st.Bonded)})
	}
	// Genesis-fixed validators keep their power.
	err = src.scan(prefixValidator, func(k, v []byte) error {
		pub := k[len(prefixValidator):]
		if _, bound, err := src.get(keyBinding(pub)); err != nil || bound {
			return err
		}
		power, err := DecodeValidatorPower(v)
		out.Validators = append(out.Validators, Validator{PubKey: append([]byte{}, pub...), Power: power})
		return err
	})
	if err != nil {
		return err
	}
	slices.SortFunc(out.Validators, func(x, y Validator) int { return bytes.Compare(x.PubKey, y.PubKey) })
	for _, a := range order {
		if balances[a] > 0 {
			out.State.Accounts = append(out.State.Accounts, GenesisAccount{Address: a, Balance: balances[a]})
		}
	}
	return nil
}
