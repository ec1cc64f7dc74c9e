package abci

import (
	"crypto/sha256"
	"encoding/binary"
	"errors"
	"slices"
	"strings"

	"github.com/dgraph-io/badger/v4"
)

// Record statuses.
const (
	StatusPending  = "pending"
	StatusVerified = "verified"
	StatusFailed   = "failed"
)

// Record is the committed state of namespace/key: its current version and
// the attestations on that version.
type Record struct {
	Namespace    string        `json:"namespace"`
	Key          string        `json:"key"`
	CID          string        `json:"cid"`
	Size         uint64        `json:"size"`
	Version      uint64        `json:"version"`
	Owner        []byte        `json:"owner"`
	Height       int64         `json:"height"` // height the current version was committed at
	Status       string        `json:"status"`
	Attestations []Attestation `json:"attestations"`
}

// Attestation is one validator's verdict on a record version.
type Attestation struct {
	Validator []byte `json:"validator"` // ed25519 public key
	Power     int64  `json:"power"`     // voting power when it attested
	OK        bool   `json:"ok"`
	Reason    string `json:"reason,omitempty"`
	Height    int64  `json:"height"`
}

// Namespace is a registered namespace.
type Namespace struct {
	Name   string `json:"name"`
	Owner  []byte `json:"owner"`
	Height int64  `json:"height"`
}

// Validator is one entry of the validator table.
type Validator struct {
	PubKey []byte `json:"pub_key"` // ed25519 public key
	Power  int64  `json:"power"`
}

// ComputeStatus returns verified when OK attestations carry more than 2/3 of
// totalPower, failed when mismatch attestations carry more than 1/3, else
// pending. Integer math only.
func ComputeStatus(atts []Attestation, totalPower int64) string {
	if totalPower <= 0 {
		return StatusPending
	}
	var ok, bad int64
	for _, a := range atts {
		if a.OK {
			ok += a.Power
		} else {
			bad += a.Power
		}
	}
	switch {
	case 3*ok > 2*totalPower:
		return StatusVerified
	case 3*bad > totalPower:
		return StatusFailed
	}
	return StatusPending
}

// State layout. Every key lives under one of these prefixes; see doc.go.
const (
	prefixMeta      = "m/" // m/meta, m/journal: bookkeeping, not hashed
	prefixChainID   = "c"  // chain id
	prefixParams    = "p"  // Params
	prefixAdmin     = "a/" // a/<pubkey> → empty
	prefixValidator = "v/" // v/<pubkey> → power, 8 bytes big endian
	prefixNamespace = "n/" // n/<name> → Namespace
	prefixRecord    = "r/" // r/<ns>/<key> → Record
	prefixPending   = "q/" // q/<ns>/<key> → empty, while the record is pending
	prefixNonce     = "x/" // x/<signer 32 bytes><nonce 8 bytes BE> → empty
)

var (
	keyMeta    = []byte(prefixMeta + "meta")
	keyJournal = []byte(prefixMeta + "journal")
)

func keyChainID() string               { return prefixChainID }
func keyParams() string                { return prefixParams }
func keyAdmin(pub []byte) string       { return prefixAdmin + string(pub) }
func keyValidator(pub []byte) string   { return prefixValidator + string(pub) }
func keyNamespace(name string) string  { return prefixNamespace + name }
func keyRecord(ns, key string) string  { return prefixRecord + ns + "/" + key }
func keyPending(ns, key string) string { return prefixPending + ns + "/" + key }

func keyNonce(signer []byte, nonce uint64) string {
	var b [len(prefixNonce) + 32 + 8]byte
	n := copy(b[:], prefixNonce)
	n += copy(b[n:], signer)
	binary.BigEndian.PutUint64(b[n:], nonce)
	return string(b[:])
}

// splitRecordPath splits "ns/key" at the first slash (names hold none).
func splitRecordPath(p string) (ns, key string, ok bool) {
	return strings.Cut(p, "/")
}

// meta is the bookkeeping stored under keyMeta in the same write as a block.
type meta struct {
	Height  int64
	AppHash []byte
}

// reader reads committed or staged state. ok is false for an absent key.
type reader interface {
	get(key string) (val []byte, ok bool, err error)
}

// dbReader reads committed state from badger.
type dbReader struct{ db *badger.DB }

func (r dbReader) get(key string) ([]byte, bool, error) {
	var val []byte
	err := r.db.View(func(txn *badger.Txn) error {
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
	if err != nil {
		return nil, false, err
	}
	return val, true, nil
}

// write is one staged change; del marks a deletion.
type write struct {
	val []byte
	del bool
}

// overlay stages writes over a parent reader. A block's state is an
// overlay over the DB; each transaction runs in a child overlay that is
// merged into the block only if the transaction succeeds.
type overlay struct {
	parent reader
	writes map[string]write
}

func newOverlay(parent reader) *overlay {
	return &overlay{parent: parent, writes: make(map[string]write)}
}

func (o *overlay) get(key string) ([]byte, bool, error) {
	if w, ok := o.writes[key]; ok {
		if w.del {
			return nil, false, nil
		}
		return w.val, true, nil
	}
	return o.parent.get(key)
}

func (o *overlay) set(key string, val []byte) { o.writes[key] = write{val: val} }
func (o *overlay) del(key string)             { o.writes[key] = write{del: true} }

// mergeInto copies o's writes into parent, which must be o's parent.
func (o *overlay) mergeInto(parent *overlay) {
	for k, w := range o.writes {
		parent.writes[k] = w
	}
}

// sortedKeys returns the staged keys in byte order; every walk over writes
// that affects the hash or the DB goes through it, never map order.
func (o *overlay) sortedKeys() []string {
	keys := make([]string, 0, len(o.writes))
	for k := range o.writes {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// digest hashes the staged writes in key order: for each key,
// uvarint(len key) key, then 0x00 for a delete or 0x01 uvarint(len val) val.
func (o *overlay) digest() [32]byte {
	h := sha256.New()
	var lenBuf [binary.MaxVarintLen64]byte
	for _, k := range o.sortedKeys() {
		w := o.writes[k]
		h.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(k)))])
		h.Write([]byte(k))
		if w.del {
			h.Write([]byte{0})
			continue
		}
		h.Write([]byte{1})
		h.Write(lenBuf[:binary.PutUvarint(lenBuf[:], uint64(len(w.val)))])
		h.Write(w.val)
	}
	var d [32]byte
	h.Sum(d[:0])
	return d
}

// chainHash is hash_h = sha256(hash_{h-1} || digest_h).
func chainHash(prev []byte, digest [32]byte) []byte {
	h := sha256.New()
	h.Write(prev)
	h.Write(digest[:])
	return h.Sum(nil)
}

// getCBOR decodes the value at key into v; ok is false if absent.
func getCBOR(r reader, key string, v any) (bool, error) {
	b, ok, err := r.get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := stateDecMode.Unmarshal(b, v); err != nil {
		return false, errors.Join(ErrInternal, err)
	}
	return true, nil
}

// setCBOR stages v, canonically encoded, at key.
func setCBOR(o *overlay, key string, v any) error {
	b, err := encMode.Marshal(v)
	if err != nil {
		return errors.Join(ErrInternal, err)
	}
	o.set(key, b)
	return nil
}
