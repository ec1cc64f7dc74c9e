package block

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
)

// seedCIDs are CIDs of every kind a user or peer sends, good and bad.
func seedCIDs(tb testing.TB) []cid.Cid {
	tb.Helper()
	raw := NewRaw([]byte("fuzz")).CID
	node := Sum(CodecManifest, []byte("node"))
	id, err := mh.Sum([]byte("x"), mh.IDENTITY, -1)
	if err != nil {
		tb.Fatal(err)
	}
	long, err := mh.Sum(bytes.Repeat([]byte("x"), 4000), mh.IDENTITY, -1)
	if err != nil {
		tb.Fatal(err)
	}
	sha512, err := mh.Sum([]byte("x"), mh.SHA2_512, -1)
	if err != nil {
		tb.Fatal(err)
	}
	return []cid.Cid{
		raw, node,
		cid.NewCidV0(raw.Hash()),              // CIDv0: refused
		cid.NewCidV1(cid.DagCBOR, raw.Hash()), // another codec: refused
		cid.NewCidV1(cid.Raw, id),             // identity hash: refused
		cid.NewCidV1(cid.Raw, long),           // a long one: refused without echoing it
		cid.NewCidV1(cid.Raw, sha512),         // another hash: refused
	}
}

// FuzzParseCID: the string form of a CID, as the API's paths and the CLI's
// arguments carry it. Parse never panics, refuses with ErrInvalidCID in a
// message of bounded length whatever the input's, and what it accepts is a
// CID this system stores whose canonical string parses back to it.
func FuzzParseCID(f *testing.F) {
	for _, c := range seedCIDs(f) {
		f.Add(c.String())
		s, err := c.StringOfBase('z') // base58btc
		if err == nil {
			f.Add(s)
		}
	}
	f.Add("")
	f.Add("bafy")
	f.Add("Qm" + strings.Repeat("1", 44))
	f.Add(strings.Repeat("b", 10_000))
	f.Fuzz(func(t *testing.T, s string) {
		c, err := Parse(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidCID) {
				t.Fatalf("refused with an error that is not ErrInvalidCID: %v", err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Fatalf("an error of %d bytes for an input of %d", n, len(s))
			}
			return
		}
		if err := Check(c); err != nil {
			t.Fatalf("accepted an unchecked CID: %v", err)
		}
		back, err := Parse(c.String())
		if err != nil || !back.Equals(c) {
			t.Fatalf("%s does not parse back: %v", c, err)
		}
		if strings.ToLower(c.String()) != c.String() || c.String()[0] != 'b' {
			t.Fatalf("%s is not in lower-case base32", c)
		}
	})
}

// FuzzCastCID: the binary form, as the block protocol and UnixFS links
// carry it. What Cast accepts is a checked CID of exactly the bytes given.
func FuzzCastCID(f *testing.F) {
	for _, c := range seedCIDs(f) {
		f.Add(c.Bytes())
	}
	f.Add([]byte{})
	f.Add([]byte{0x01, 0x55, 0x12, 0x20})
	f.Add([]byte{0x01, 0x55, 0x12, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		c, err := Cast(b)
		if err != nil {
			if !errors.Is(err, ErrInvalidCID) {
				t.Fatalf("refused with an error that is not ErrInvalidCID: %v", err)
			}
			if n := len(err.Error()); n > 1024 {
				t.Fatalf("an error of %d bytes for an input of %d", n, len(b))
			}
			return
		}
		if err := Check(c); err != nil {
			t.Fatalf("accepted an unchecked CID: %v", err)
		}
		if !bytes.Equal(c.Bytes(), b) {
			t.Fatalf("cast %x, which is %x", b, c.Bytes())
		}
		if len(b) != 36 {
			t.Fatalf("a %d-byte CID; a CIDv1 sha2-256 is 36", len(b))
		}
	})
}
