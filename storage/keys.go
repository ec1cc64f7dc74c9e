package storage

import (
	"encoding/binary"
	"fmt"

	"github.com/ipfs/go-cid"
)

// Key prefixes; see the layout in doc.go.
var (
	prefixBlock     = []byte("b/")
	prefixLocation  = []byte("l/")
	prefixSize      = []byte("s/")
	prefixTentative = []byte("t/")
)

const prefixLen = 2

func key(prefix []byte, c cid.Cid) []byte {
	cb := c.Bytes()
	k := make([]byte, 0, len(prefix)+len(cb))
	return append(append(k, prefix...), cb...)
}

func blockKey(c cid.Cid) []byte     { return key(prefixBlock, c) }
func locationKey(c cid.Cid) []byte  { return key(prefixLocation, c) }
func sizeKey(c cid.Cid) []byte      { return key(prefixSize, c) }
func tentativeKey(c cid.Cid) []byte { return key(prefixTentative, c) }

// cidOf decodes the CID from a key of any of the key spaces.
func cidOf(k []byte) (cid.Cid, error) {
	if len(k) <= prefixLen {
		return cid.Undef, fmt.Errorf("storage: short key %q", k)
	}
	_, c, err := cid.CidFromBytes(k[prefixLen:])
	if err != nil {
		return cid.Undef, fmt.Errorf("storage: key %x: %w", k, err)
	}
	return c, nil
}

func encodeSize(n int) []byte { return binary.AppendUvarint(nil, uint64(n)) }

func decodeSize(v []byte) (int, error) {
	n, k := binary.Uvarint(v)
	if k <= 0 || k != len(v) {
		return 0, fmt.Errorf("storage: bad size record %x", v)
	}
	return int(n), nil
}

func encodeTime(nanos int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(nanos)) }

func decodeTime(v []byte) (int64, error) {
	if len(v) != 8 {
		return 0, fmt.Errorf("storage: bad tentative record %x", v)
	}
	return int64(binary.BigEndian.Uint64(v)), nil
}
