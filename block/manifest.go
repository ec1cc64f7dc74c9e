package block

import (
	"bytes"
	"fmt"

	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
)

// MaxManifestChunks bounds a manifest so that it fits in one MaxChunkSize
// block (each entry encodes to under 48 bytes). With 1 MiB chunks a blob may
// hold up to about 85 GiB.
const MaxManifestChunks = MaxChunkSize / 48

// ErrBadManifest is a manifest block that does not decode or is inconsistent.
var ErrBadManifest = fmt.Errorf("block: %w: bad manifest", xnode.ErrInvalidArgument)

// ChunkRef names one chunk of a blob.
type ChunkRef struct {
	CID  cid.Cid
	Size uint32
}

// Manifest is a blob's root: its chunks in order and its total size.
type Manifest struct {
	Size   uint64
	Chunks []ChunkRef
}

// Add appends a chunk to the manifest.
func (m *Manifest) Add(b Block) {
	m.Chunks = append(m.Chunks, ChunkRef{CID: b.CID, Size: uint32(len(b.Data))})
	m.Size += uint64(len(b.Data))
}

// ChunkAt returns the index of the chunk holding byte offset off and that
// chunk's first byte offset, or -1 when off is past the end.
func (m *Manifest) ChunkAt(off uint64) (int, uint64) {
	var start uint64
	for i, c := range m.Chunks {
		if off < start+uint64(c.Size) {
			return i, start
		}
		start += uint64(c.Size)
	}
	return -1, start
}

type wireChunk struct {
	CID  cbor.Tag `cbor:"cid"`
	Size uint32   `cbor:"size"`
}

type wireManifest struct {
	Size   uint64      `cbor:"size"`
	Chunks []wireChunk `cbor:"chunks"`
}

const cidTag = 42 // the CBOR tag for a CID (dag-cbor)

var (
	encMode cbor.EncMode
	decMode cbor.DecMode
)

func init() {
	var err error
	if encMode, err = cbor.CoreDetEncOptions().EncMode(); err != nil {
		panic(err)
	}
	if decMode, err = (cbor.DecOptions{
		DupMapKey:         cbor.DupMapKeyEnforcedAPF,
		ExtraReturnErrors: cbor.ExtraDecErrorUnknownField,
		MaxArrayElements:  MaxManifestChunks,
		MaxMapPairs:       16,
		MaxNestedLevels:   8,
		IndefLength:       cbor.IndefLengthForbidden,
	}).DecMode(); err != nil {
		panic(err)
	}
}

// Encode returns the manifest's deterministic encoding.
func (m *Manifest) Encode() ([]byte, error) {
	if len(m.Chunks) > MaxManifestChunks {
		return nil, fmt.Errorf("%w: %d chunks, at most %d", ErrBadManifest, len(m.Chunks), MaxManifestChunks)
	}
	w := wireManifest{Size: m.Size, Chunks: make([]wireChunk, len(m.Chunks))}
	for i, c := range m.Chunks {
		w.Chunks[i] = wireChunk{CID: cbor.Tag{Number: cidTag, Content: append([]byte{0}, c.CID.Bytes()...)}, Size: c.Size}
	}
	return encMode.Marshal(w)
}

// Block returns the manifest as a root block.
func (m *Manifest) Block() (Block, error) {
	data, err := m.Encode()
	if err != nil {
		return Block{}, err
	}
	return Block{CID: Sum(CodecManifest, data), Data: data}, nil
}

// DecodeManifest decodes and checks a manifest: every chunk CID is a raw xnode
// CID, every chunk size is in (0, MaxChunkSize], the sizes add up to Size, and
// the bytes are the canonical encoding.
func DecodeManifest(data []byte) (Manifest, error) {
	var w wireManifest
	if err := decMode.Unmarshal(data, &w); err != nil {
		return Manifest{}, fmt.Errorf("%w: %v", ErrBadManifest, err)
	}
	m := Manifest{Size: w.Size, Chunks: make([]ChunkRef, len(w.Chunks))}
	var total uint64
	for i, wc := range w.Chunks {
		raw, ok := wc.CID.Content.([]byte)
		if wc.CID.Number != cidTag || !ok || len(raw) < 2 || raw[0] != 0 {
			return Manifest{}, fmt.Errorf("%w: chunk %d: not a CID", ErrBadManifest, i)
		}
		c, err := Cast(raw[1:])
		if err != nil {
			return Manifest{}, fmt.Errorf("%w: chunk %d: %v", ErrBadManifest, i, err)
		}
		if c.Prefix().Codec != CodecRaw {
			return Manifest{}, fmt.Errorf("%w: chunk %d: %s is not a raw block", ErrBadManifest, i, c)
		}
		if wc.Size == 0 || wc.Size > MaxChunkSize {
			return Manifest{}, fmt.Errorf("%w: chunk %d: size %d", ErrBadManifest, i, wc.Size)
		}
		total += uint64(wc.Size)
		m.Chunks[i] = ChunkRef{CID: c, Size: wc.Size}
	}
	if total != m.Size {
		return Manifest{}, fmt.Errorf("%w: chunk sizes add to %d, manifest says %d", ErrBadManifest, total, m.Size)
	}
	// Only the canonical form is accepted, so one blob has one root.
	again, err := m.Encode()
	if err != nil || !bytes.Equal(again, data) {
		return Manifest{}, fmt.Errorf("%w: not canonically encoded", ErrBadManifest)
	}
	return m, nil
}
