package block

import (
	"bytes"
	"crypto/rand"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/xnode/xnode"
)

func chunkAll(t *testing.T, data []byte, size int) (Manifest, []Block) {
	t.Helper()
	ch, err := NewChunker(bytes.NewReader(data), size)
	if err != nil {
		t.Fatal(err)
	}
	var m Manifest
	var blocks []Block
	for {
		b, err := ch.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		m.Add(b)
		blocks = append(blocks, b)
	}
	return m, blocks
}

func TestChunkerSizes(t *testing.T) {
	for _, tc := range []struct {
		n, size, chunks int
	}{
		{0, 1024, 0}, {1, 1024, 1}, {1024, 1024, 1}, {1025, 1024, 2}, {5000, 1024, 5},
	} {
		data := make([]byte, tc.n)
		rand.Read(data)
		m, blocks := chunkAll(t, data, tc.size)
		if len(blocks) != tc.chunks || m.Size != uint64(tc.n) {
			t.Fatalf("n=%d: %d chunks size %d, want %d chunks", tc.n, len(blocks), m.Size, tc.chunks)
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

func TestManifestRoundTripAndDeterminism(t *testing.T) {
	data := make([]byte, 10_000)
	rand.Read(data)
	m, _ := chunkAll(t, data, 1024)
	b1, err := m.Block()
	if err != nil {
		t.Fatal(err)
	}
	m2, _ := chunkAll(t, data, 1024)
	b2, _ := m2.Block()
	if !b1.CID.Equals(b2.CID) {
		t.Fatal("same blob gave two roots")
	}
	if !IsManifest(b1.CID) {
		t.Fatal("root is not a manifest CID")
	}
	got, err := DecodeManifest(b1.Data)
	if err != nil {
		t.Fatal(err)
	}
	if got.Size != m.Size || len(got.Chunks) != len(m.Chunks) {
		t.Fatalf("decoded %+v, want %+v", got, m)
	}
	for i := range got.Chunks {
		if !got.Chunks[i].CID.Equals(m.Chunks[i].CID) || got.Chunks[i].Size != m.Chunks[i].Size {
			t.Fatalf("chunk %d differs", i)
		}
	}
	// An empty blob still has a manifest root.
	var empty Manifest
	eb, err := empty.Block()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := DecodeManifest(eb.Data); err != nil {
		t.Fatalf("empty manifest: %v", err)
	}
}

func TestChunkAt(t *testing.T) {
	m, _ := chunkAll(t, make([]byte, 2500), 1024)
	for _, tc := range []struct {
		off   uint64
		idx   int
		start uint64
	}{{0, 0, 0}, {1023, 0, 0}, {1024, 1, 1024}, {2499, 2, 2048}, {2500, -1, 2500}} {
		i, s := m.ChunkAt(tc.off)
		if i != tc.idx || s != tc.start {
			t.Errorf("ChunkAt(%d) = %d,%d want %d,%d", tc.off, i, s, tc.idx, tc.start)
		}
	}
}

func TestBadManifests(t *testing.T) {
	m, blocks := chunkAll(t, make([]byte, 3000), 1024)
	good, _ := m.Encode()
	wrongSize := m
	wrongSize.Size++
	ws, _ := wrongSize.Encode()
	notRaw := Manifest{Size: 10, Chunks: []ChunkRef{{CID: Sum(CodecManifest, []byte("x")), Size: 10}}}
	nr, _ := notRaw.Encode()
	for name, data := range map[string][]byte{
		"garbage":     []byte("not cbor at all"),
		"empty":       nil,
		"truncated":   good[:len(good)-3],
		"trailing":    append(append([]byte{}, good...), 0),
		"wrong size":  ws,
		"not raw":     nr,
		"map of junk": {0xa1, 0x61, 'x', 0x01},
	} {
		if _, err := DecodeManifest(data); !errors.Is(err, ErrBadManifest) {
			t.Errorf("%s: err %v, want ErrBadManifest", name, err)
		}
	}
	_ = blocks
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
	for _, s := range []string{"", "hello", "bafy", "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"} {
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

func FuzzDecodeManifest(f *testing.F) {
	m := Manifest{}
	m.Add(NewRaw([]byte("abc")))
	m.Add(NewRaw([]byte("defg")))
	good, _ := m.Encode()
	f.Add(good)
	f.Add([]byte{0xa0})
	f.Add([]byte("garbage"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := DecodeManifest(data)
		if err != nil {
			return
		}
		again, err := got.Encode()
		if err != nil || !bytes.Equal(again, data) {
			t.Fatalf("accepted a manifest that does not re-encode to itself")
		}
	})
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
