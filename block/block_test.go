package block

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
)

func chunkAll(t *testing.T, data []byte, size int) (uint64, []Block) {
	t.Helper()
	ch, err := NewChunker(bytes.NewReader(data), size)
	if err != nil {
		t.Fatal(err)
	}
	var total uint64
	var blocks []Block
	for {
		b, err := ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		total += uint64(len(b.Data))
		blocks = append(blocks, b)
	}
	return total, blocks
}

func TestChunkerSizes(t *testing.T) {
	for _, tc := range []struct {
		n, size, chunks int
	}{
		{0, 1024, 0}, {1, 1024, 1}, {1024, 1024, 1}, {1025, 1024, 2}, {5000, 1024, 5},
	} {
		data := make([]byte, tc.n)
		rand.Read(data)
		size, blocks := chunkAll(t, data, tc.size)
		if len(blocks) != tc.chunks || size != uint64(tc.n) {
			t.Fatalf("n=%d: %d chunks size %d, want %d chunks", tc.n, len(blocks), size, tc.chunks)
		}
		var joined []byte
		for _, b := range blocks {
			if err := Verify(b.CID, b.Data); err != nil {
				t.Fatal(err)
			}
			if len(b.Data) > tc.size {
				t.Fatalf("chunk of %d > %d", len(b.Data), tc.size)
			}
			joined = append(joined, b.Data...)
		}
		if !bytes.Equal(joined, data) {
			t.Fatalf("n=%d: chunks do not join to the input", tc.n)
		}
	}
}

// TestChunkerNextInto checks that reading every chunk into one reused
// buffer yields the chunks Next yields, and that a buffer too small for a
// chunk is refused without consuming input.
func TestChunkerNextInto(t *testing.T) {
	data := make([]byte, 5000)
	rand.Read(data)
	_, want := chunkAll(t, data, 1024)
	ch, err := NewChunker(bytes.NewReader(data), 1024)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := ch.NextInto(make([]byte, 1023)); err == nil {
		t.Fatal("NextInto accepted a buffer smaller than a chunk")
	}
	buf := make([]byte, 0, 2048)
	for i := 0; ; i++ {
		got, err := ch.NextInto(buf)
		if err == io.EOF {
			if i != len(want) {
				t.Fatalf("%d chunks, want %d", i, len(want))
			}
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if i >= len(want) || !bytes.Equal(got, want[i].Data) {
			t.Fatalf("chunk %d differs from Next's", i)
		}
		if &got[0] != &buf[:1][0] {
			t.Fatalf("chunk %d not read into the buffer given", i)
		}
	}
}

func TestChunkSizeBounds(t *testing.T) {
	for _, n := range []int{0, MinChunkSize - 1, MaxChunkSize + 1} {
		if _, err := NewChunker(bytes.NewReader(nil), n); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("size %d: err %v, want invalid argument", n, err)
		}
	}
}

func TestVerifyAndParse(t *testing.T) {
	b := NewRaw([]byte("hello"))
	if err := Verify(b.CID, []byte("hellp")); !errors.Is(err, ErrMismatch) || !errors.Is(err, xnode.ErrIntegrity) {
		t.Fatalf("mismatch: %v", err)
	}
	c, err := Parse(b.CID.String())
	if err != nil || !c.Equals(b.CID) {
		t.Fatalf("parse round trip: %v", err)
	}
	// CIDv0, dag-cbor (the old manifest's codec) and junk are refused.
	cbor := Sum(cid.DagCBOR, []byte("old manifest")).String()
	for _, s := range []string{"", "hello", "bafy", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG", cbor} {
		if _, err := Parse(s); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("Parse(%q) = %v, want invalid argument", s, err)
		}
	}
	// A huge bad input is not echoed whole in the error.
	huge := strings.Repeat("z", 5000)
	if _, err := Parse(huge); !errors.Is(err, xnode.ErrInvalidArgument) || len(err.Error()) > 300 || !strings.Contains(err.Error(), "5000 bytes") {
		t.Errorf("Parse(5000 bytes): %d-byte error %.100q", len(err.Error()), err)
	}
}

func BenchmarkVerify1MiB(b *testing.B) {
	data := make([]byte, DefaultChunkSize)
	blk := NewRaw(data)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		if err := Verify(blk.CID, data); err != nil {
			b.Fatal(err)
		}
	}
}
