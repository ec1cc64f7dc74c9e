package abci

import (
	"encoding/binary"
	"errors"
	"slices"
	"strings"
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
	// Publishers are the peer ids, sorted, that the owner allows to publish
	// the namespace's services (NamespaceAllow).
	Publishers []string `json:"publishers,omitempty" cbor:",omitempty"`
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
	prefixChainID   = "c"  // chain id
	prefixParams    = "p"  // Params
	prefixAdmin     = "a/" // a/<pubkey> → empty
	prefixValidator = "v/" // v/<pubkey> → power, 8 bytes big endian
	prefixNamespace = "n/" // n/<name> → Namespace
	prefixRecord    = "r/" // r/<ns>/<key> → Record
	prefixPending   = "q/" // q/<ns>/<key> → empty, while the record is pending
	prefixNonce     = "x/" // x/<signer 32 bytes><nonce/256 8 bytes BE> → 32-byte bitmap
)

// oldKeyMeta is where the layout before the state tree kept its height;
// its presence marks such a DB.
const oldKeyMeta = "m/meta"

// present is the value of a key whose presence is all it says (a spent
// nonce, a pending record, an admin). IAVL reads an empty value as absent.
var present = []byte{1}

func keyChainID() string               { return prefixChainID }
func keyParams() string                { return prefixParams }
func keyAdmin(pub []byte) string       { return prefixAdmin + string(pub) }
func keyValidator(pub []byte) string   { return prefixValidator + string(pub) }
func keyNamespace(name string) string  { return prefixNamespace + name }
func keyRecord(ns, key string) string  { return prefixRecord + ns + "/" + key }
func keyPending(ns, key string) string { return prefixPending + ns + "/" + key }

// nonceBucketBits is how many consecutive nonces share one key: a signer
// that counts its nonces up (as a node does) writes one leaf per 256
// transactions instead of one each.
const nonceBucketBits = 8

// keyNonce is the key of the bucket holding nonce's spent bit, and the
// bit's index in the bucket's 32-byte bitmap.
func keyNonce(signer []byte, nonce uint64) (string, uint) {
	var b [len(prefixNonce) + 32 + 8]byte
	n := copy(b[:], prefixNonce)
	n += copy(b[n:], signer)
	binary.BigEndian.PutUint64(b[n:], nonce>>nonceBucketBits)
	return string(b[:]), uint(nonce & (1<<nonceBucketBits - 1))
}

// NonceKey is the state key of the bucket that records whether signer
// spent nonce; its value is a 32-byte bitmap, bit nonce%256 (bit i of
// byte i/8, least significant first).
func NonceKey(signer []byte, nonce uint64) []byte {
	k, _ := keyNonce(signer, nonce)
	return []byte(k)
}

// nonceSpent reports whether bit is set in a bucket (nil: none spent).
func nonceSpent(bucket []byte, bit uint) bool {
	return len(bucket) == 32 && bucket[bit/8]&(1<<(bit%8)) != 0
}

// withNonce returns a copy of bucket with bit set.
func withNonce(bucket []byte, bit uint) []byte {
	out := make([]byte, 32)
	copy(out, bucket)
	out[bit/8] |= 1 << (bit % 8)
	return out
}

// splitRecordPath splits "ns/key" at the first slash (names hold none).
func splitRecordPath(p string) (ns, key string, ok bool) {
	return strings.Cut(p, "/")
}

// reader reads committed or staged state. ok is false for an absent key.
type reader interface {
	get(key string) (val []byte, ok bool, err error)
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
