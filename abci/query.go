package abci

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/dgraph-io/badger/v4"
)

// Query paths.
const (
	QueryRecord     = "/record"     // data "ns/key" → Record JSON
	QueryNamespace  = "/namespace"  // data name → Namespace JSON
	QueryParams     = "/params"     // → Params JSON
	QueryPending    = "/pending"    // data validator pubkey hex → []Record JSON
	QueryValidators = "/validators" // → []Validator JSON, in key order
)

// MaxPendingResults caps one /pending answer; the verifier asks again after
// it has attested those.
const MaxPendingResults = 1000

// txnReader reads committed state inside one badger read transaction, so a
// query sees one consistent height.
type txnReader struct{ txn *badger.Txn }

func (r txnReader) get(key string) ([]byte, bool, error) {
	item, err := r.txn.Get([]byte(key))
	if errors.Is(err, badger.ErrKeyNotFound) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	v, err := item.ValueCopy(nil)
	return v, err == nil, err
}

// Query answers from committed state only, with Height set to the height
// the answer was read at. Only the latest height is served; req.Height 0
// means latest. Failures are response codes, never Go errors.
func (a *App) Query(_ context.Context, req *abcitypes.RequestQuery) (*abcitypes.ResponseQuery, error) {
	a.commitMu.RLock()
	defer a.commitMu.RUnlock()
	resp := &abcitypes.ResponseQuery{Key: req.Data}
	err := a.db.View(func(txn *badger.Txn) error {
		r := txnReader{txn}
		var m meta
		if b, ok, err := r.get(string(keyMeta)); err != nil {
			return internal(err)
		} else if ok {
			if err := stateDecMode.Unmarshal(b, &m); err != nil {
				return internal(err)
			}
		}
		resp.Height = m.Height
		if req.Height != 0 && req.Height != m.Height {
			return reject(ErrInvalid, "only the latest height %d is served, asked for %d", m.Height, req.Height)
		}
		v, err := a.query(txn, r, req.Path, req.Data)
		if err != nil {
			return err
		}
		resp.Value, err = json.Marshal(v)
		if err != nil {
			return internal(err)
		}
		return nil
	})
	if err != nil {
		if errors.Is(err, badger.ErrDBClosed) {
			err = internal(err)
		}
		resp.Code = CodeOf(err)
		resp.Log = err.Error()
	}
	return resp, nil
}

func (a *App) query(txn *badger.Txn, r txnReader, path string, data []byte) (any, error) {
	switch path {
	case QueryRecord:
		ns, key, ok := splitRecordPath(string(data))
		if !ok {
			return nil, reject(ErrInvalid, "record query data must be namespace/key, got %q", truncate(string(data)))
		}
		var rec Record
		if found, err := getCBOR(r, keyRecord(ns, key), &rec); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, reject(ErrNotFound, "no record %s/%s", ns, key)
		}
		return normalize(rec), nil
	case QueryNamespace:
		var ns Namespace
		if found, err := getCBOR(r, keyNamespace(string(data)), &ns); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, reject(ErrUnknownNamespace, "namespace %q is not registered", truncate(string(data)))
		}
		return ns, nil
	case QueryParams:
		var p Params
		if found, err := getCBOR(r, keyParams(), &p); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, reject(ErrNotFound, "no params before InitChain")
		}
		return p, nil
	case QueryPending:
		pub, err := hex.DecodeString(strings.TrimSpace(string(data)))
		if err != nil || len(pub) != 32 {
			return nil, reject(ErrInvalid, "pending query data must be a hex ed25519 public key")
		}
		return pendingFor(txn, r, pub)
	case QueryValidators:
		return validators(txn)
	}
	return nil, reject(ErrInvalid, "unknown query path %q", path)
}

// pendingFor lists pending records whose current version has no
// attestation from validator pub, in key order, at most MaxPendingResults.
func pendingFor(txn *badger.Txn, r txnReader, pub []byte) ([]Record, error) {
	out := []Record{}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixPending)})
	defer it.Close()
	for it.Rewind(); it.Valid() && len(out) < MaxPendingResults; it.Next() {
		path := string(it.Item().Key()[len(prefixPending):])
		var rec Record
		if found, err := getCBOR(r, prefixRecord+path, &rec); err != nil {
			return nil, internal(err)
		} else if !found {
			return nil, internal(fmt.Errorf("pending index names missing record %q", path))
		}
		attested := false
		for _, at := range rec.Attestations {
			if bytes.Equal(at.Validator, pub) {
				attested = true
				break
			}
		}
		if !attested {
			out = append(out, normalize(rec))
		}
	}
	return out, nil
}

func validators(txn *badger.Txn) ([]Validator, error) {
	out := []Validator{}
	it := txn.NewIterator(badger.IteratorOptions{Prefix: []byte(prefixValidator)})
	defer it.Close()
	for it.Rewind(); it.Valid(); it.Next() {
		item := it.Item()
		v, err := item.ValueCopy(nil)
		if err != nil || len(v) != 8 {
			return nil, internal(fmt.Errorf("validator entry: %v", err))
		}
		out = append(out, Validator{
			PubKey: item.KeyCopy(nil)[len(prefixValidator):],
			Power:  int64(binary.BigEndian.Uint64(v)),
		})
	}
	return out, nil
}

// normalize makes JSON show an empty attestation list as [] rather than null.
func normalize(r Record) Record {
	if r.Attestations == nil {
		r.Attestations = []Attestation{}
	}
	return r
}
