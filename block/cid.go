package block

import (
	"bytes"
	"crypto/sha256"
	"fmt"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"

	"github.com/xnode/xnode"
)

// Codecs of the two kinds of block.
const (
	// CodecRaw marks a chunk of blob bytes: a UnixFS raw leaf.
	CodecRaw = cid.Raw
	// CodecNode marks a UnixFS file node (dag-pb): the root of a blob of
	// more than one chunk, or an intermediate node of a large one.
	CodecNode = cid.DagProtobuf
	// CodecManifest is CodecNode: a blob's manifest is its UnixFS root.
	CodecManifest = CodecNode
)

var (
	// ErrInvalidCID is a string or byte form that is not an xnode block CID.
	ErrInvalidCID = fmt.Errorf("block: %w: not an xnode CID", xnode.ErrInvalidArgument)
	// ErrMismatch means a block's bytes do not hash to its CID.
	ErrMismatch = fmt.Errorf("block: %w: bytes do not match CID", xnode.ErrIntegrity)
)

// Block is a CID and the bytes it names. A Block made by this package, or
// checked by Verify, holds bytes that match its CID.
type Block struct {
	CID  cid.Cid
	Data []byte
}

// Sum returns the CIDv1 of data under codec, with a sha2-256 multihash.
func Sum(codec uint64, data []byte) cid.Cid {
	d := sha256.Sum256(data)
	m, err := mh.Encode(d[:], mh.SHA2_256)
	if err != nil { // only for an unknown code, which SHA2_256 is not
		panic(err)
	}
	return cid.NewCidV1(codec, m)
}

// NewRaw returns the raw chunk block holding data. It does not copy data.
func NewRaw(data []byte) Block {
	return Block{CID: Sum(CodecRaw, data), Data: data}
}

// maxCheckedCIDBytes is the longest CID whose refusal by Check quotes it.
const maxCheckedCIDBytes = 64

// Check reports whether c is a CID this system stores: version 1, codec raw
// or dag-pb, sha2-256.
func Check(c cid.Cid) error {
	if !c.Defined() {
		return fmt.Errorf("%w: empty", ErrInvalidCID)
	}
	// A CID from outside can be of any length (an identity multihash holds
	// any bytes); one this long is no sha2-256 CID, and the error need not
	// echo it.
	if n := c.ByteLen(); n > maxCheckedCIDBytes {
		return fmt.Errorf("%w: a CID of %d bytes, want a 36-byte CIDv1 sha2-256", ErrInvalidCID, n)
	}
	p := c.Prefix()
	if p.Version != 1 {
		return fmt.Errorf("%w: %s is CIDv%d, want CIDv1", ErrInvalidCID, c, p.Version)
	}
	if p.Codec != CodecRaw && p.Codec != CodecManifest {
		return fmt.Errorf("%w: %s has codec 0x%x, want raw or dag-pb", ErrInvalidCID, c, p.Codec)
	}
	if p.MhType != mh.SHA2_256 || p.MhLength != sha256.Size {
		return fmt.Errorf("%w: %s is not sha2-256", ErrInvalidCID, c)
	}
	return nil
}

// Parse decodes the string form of a CID and checks it with Check.
func Parse(s string) (cid.Cid, error) {
	c, err := cid.Decode(s)
	if err != nil {
		if len(s) > 80 { // an error message need not echo a huge input
			s = s[:64] + "..." + fmt.Sprintf(" (%d bytes)", len(s))
		}
		return cid.Undef, fmt.Errorf("%w: %q: %v", ErrInvalidCID, s, err)
	}
	if err := Check(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// Cast decodes the binary form of a CID and checks it with Check.
func Cast(b []byte) (cid.Cid, error) {
	c, err := cid.Cast(b)
	if err != nil {
		return cid.Undef, fmt.Errorf("%w: %v", ErrInvalidCID, err)
	}
	if err := Check(c); err != nil {
		return cid.Undef, err
	}
	return c, nil
}

// Verify returns nil when data hashes to c, ErrMismatch when it does not, and
// ErrInvalidCID when c is not a CID this system makes.
func Verify(c cid.Cid, data []byte) error {
	if err := Check(c); err != nil {
		return err
	}
	d := sha256.Sum256(data)
	h := c.Hash()
	// A checked sha2-256 multihash is the 2-byte header and the 32-byte digest.
	if !bytes.Equal(h[len(h)-sha256.Size:], d[:]) {
		return fmt.Errorf("%w: %s", ErrMismatch, c)
	}
	return nil
}

// IsManifest reports whether c names a UnixFS node (dag-pb) rather than a
// raw leaf: the root of a blob of several chunks, or one of its
// intermediate nodes. A blob of one chunk has a raw root.
func IsManifest(c cid.Cid) bool { return c.Prefix().Codec == CodecNode }
