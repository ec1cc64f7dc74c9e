package block

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"os"
	"sync"
	"testing"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	mh "github.com/multiformats/go-multihash"

	"github.com/xnode/xnode"
)

// xorshiftBytes returns the first size bytes of the xorshift32 stream
// (shifts 13, 17, 5) from state seed, each 32-bit output little-endian: the
// bytes interop/golden.mjs hands the outside importer.
func xorshiftBytes(size int, seed uint32) []byte {
	out := make([]byte, (size+3)/4*4)
	x := seed
	for i := 0; i < len(out); i += 4 {
		x ^= x << 13
		x ^= x >> 17
		x ^= x << 5
		binary.LittleEndian.PutUint32(out[i:], x)
	}
	return out[:size]
}

// imported runs Import over data in chunks of size and returns what it
// built and every block it emitted, in order.
func imported(t testing.TB, data []byte, size int) (Imported, []Block) {
	t.Helper()
	ch, err := NewChunker(bytes.NewReader(data), size)
	if err != nil {
		t.Fatal(err)
	}
	var emitted []Block
	res, err := Import(ch, func(b Block) error {
		emitted = append(emitted, b)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return res, emitted
}

// TestImportGolden checks the root CID of each golden case against the one
// an importer outside the project computed for the same bytes with Kubo's
// parameters (testdata/unixfs-golden.json, made by interop/golden.mjs).
func TestImportGolden(t *testing.T) {
	raw, err := os.ReadFile("testdata/unixfs-golden.json")
	if err != nil {
		t.Fatal(err)
	}
	var golden struct {
		Cases []struct {
			Name string
			Size int
			Seed uint32
			CID  string
		}
	}
	if err := json.Unmarshal(raw, &golden); err != nil {
		t.Fatal(err)
	}
	if len(golden.Cases) < 6 {
		t.Fatalf("only %d golden cases", len(golden.Cases))
	}
	for _, tc := range golden.Cases {
		t.Run(tc.Name, func(t *testing.T) {
			data := xorshiftBytes(tc.Size, tc.Seed)
			res, emitted := imported(t, data, DefaultChunkSize)
			if got := res.Root.CID.String(); got != tc.CID {
				t.Fatalf("root %s, the outside importer made %s", got, tc.CID)
			}
			if res.Size != uint64(tc.Size) {
				t.Fatalf("size %d, want %d", res.Size, tc.Size)
			}
			wantLeaves := max(1, (tc.Size+DefaultChunkSize-1)/DefaultChunkSize)
			if res.Leaves != wantLeaves {
				t.Fatalf("%d leaves, want %d", res.Leaves, wantLeaves)
			}
			if last := emitted[len(emitted)-1]; !last.CID.Equals(res.Root.CID) {
				t.Fatal("the root is not the last block emitted")
			}
			checkEmitted(t, emitted)
			if wantLeaves == 1 && IsManifest(res.Root.CID) {
				t.Fatal("a blob of one chunk is not its own raw root")
			}
			if wantLeaves > MaxLinks { // 175 leaves need an intermediate level
				root, err := DecodeNode(res.Root)
				if err != nil {
					t.Fatal(err)
				}
				if len(root.Links) != 2 || !IsManifest(root.Links[0].CID) || IsManifest(root.Links[1].CID) == (wantLeaves-MaxLinks > 1) {
					t.Fatalf("root of %d leaves has links %v", wantLeaves, root.Links)
				}
			}
			got := readAll(t, res.Root, emitted)
			if !bytes.Equal(got, data) {
				t.Fatal("the DAG does not read back to the bytes")
			}
		})
	}
}

// checkEmitted checks each block matches its CID, is emitted once, and
// comes after every child it links to.
func checkEmitted(t *testing.T, emitted []Block) {
	t.Helper()
	seen := map[cid.Cid]bool{}
	for _, b := range emitted {
		if err := Verify(b.CID, b.Data); err != nil {
			t.Fatal(err)
		}
		if seen[b.CID] && IsManifest(b.CID) {
			t.Fatalf("node %s emitted twice", b.CID)
		}
		nd, err := DecodeNode(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(nd.Links) > MaxLinks {
			t.Fatalf("node with %d links", len(nd.Links))
		}
		for _, l := range nd.Links {
			if !seen[l.CID] {
				t.Fatalf("%s emitted before its child %s", b.CID, l.CID)
			}
		}
		seen[b.CID] = true
	}
}

func mapFetcher(blocks []Block) (Fetcher, *int) {
	m := map[cid.Cid][]byte{}
	for _, b := range blocks {
		m[b.CID] = b.Data
	}
	var calls int
	var mu sync.Mutex
	return func(_ context.Context, c cid.Cid) (Block, error) {
		mu.Lock()
		defer mu.Unlock()
		calls++
		d, ok := m[c]
		if !ok {
			return Block{}, fmt.Errorf("block %s: %w", c, xnode.ErrNotFound)
		}
		return Block{CID: c, Data: d}, nil
	}, &calls
}

// readRange reads [off, off+n) of the file under root through Pieces.
func readRange(t *testing.T, root Block, blocks []Block, off, n uint64) []byte {
	t.Helper()
	fetch, _ := mapFetcher(blocks)
	nd, err := DecodeNode(root)
	if err != nil {
		t.Fatal(err)
	}
	var out []byte
	err = Pieces(context.Background(), nd, off, n, fetch, func(p Piece) error {
		data := p.Data
		if p.CID.Defined() {
			b, err := fetch(context.Background(), p.CID)
			if err != nil {
				return err
			}
			if err := CheckLeaf(p, b.Data); err != nil {
				return err
			}
			data = b.Data
		}
		lo := max(off, p.Start) - p.Start
		hi := min(off+n, p.Start+p.Size) - p.Start
		out = append(out, data[lo:hi]...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func readAll(t *testing.T, root Block, blocks []Block) []byte {
	nd, err := DecodeNode(root)
	if err != nil {
		t.Fatal(err)
	}
	return readRange(t, root, blocks, 0, nd.Size)
}

// TestPiecesRanges reads random ranges of a two-level DAG of small chunks
// and checks each against the bytes, and that a range fetches only the
// nodes above it.
func TestPiecesRanges(t *testing.T) {
	const chunk = MinChunkSize
	data := xorshiftBytes(chunk*(MaxLinks*2+5)+100, 7)
	res, emitted := imported(t, data, chunk)
	root, err := DecodeNode(res.Root)
	if err != nil {
		t.Fatal(err)
	}
	if len(root.Links) != 3 || root.Size != uint64(len(data)) {
		t.Fatalf("root: %d links, size %d", len(root.Links), root.Size)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := 0; i < 200; i++ {
		off := rng.Uint64N(uint64(len(data)))
		n := rng.Uint64N(uint64(len(data))-off) + 1
		if i%4 == 0 {
			n = min(n, 3000)
		}
		if got := readRange(t, res.Root, emitted, off, n); !bytes.Equal(got, data[off:off+n]) {
			t.Fatalf("range %d+%d differs", off, n)
		}
	}
	// The last bytes need only the last intermediate node.
	fetch, calls := mapFetcher(emitted)
	var pieces int
	if err := Pieces(context.Background(), root, uint64(len(data))-10, 10, fetch, func(Piece) error { pieces++; return nil }); err != nil {
		t.Fatal(err)
	}
	if *calls != 1 || pieces != 1 {
		t.Fatalf("the last 10 bytes took %d fetches and %d pieces", *calls, pieces)
	}
	if err := Pieces(context.Background(), root, 10, uint64(len(data)), fetch, func(Piece) error { return nil }); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("a range past the end: %v", err)
	}
}

// TestWalkOrder checks Walk visits every block once, root first, each node
// before its children and the children in order.
func TestWalkOrder(t *testing.T) {
	data := xorshiftBytes(MinChunkSize*(MaxLinks+3), 9)
	res, emitted := imported(t, data, MinChunkSize)
	fetch, _ := mapFetcher(emitted)
	var order []Block
	if err := Walk(context.Background(), res.Root.CID, fetch, func(b Block) error {
		order = append(order, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(order) != len(emitted) || !order[0].CID.Equals(res.Root.CID) {
		t.Fatalf("walked %d blocks, emitted %d", len(order), len(emitted))
	}
	var joined []byte
	for _, b := range order {
		if !IsManifest(b.CID) {
			joined = append(joined, b.Data...)
		}
	}
	if !bytes.Equal(joined, data) {
		t.Fatal("leaves in walk order do not join to the bytes")
	}
	missing := emitted[:len(emitted)-1]
	fetch, _ = mapFetcher(missing[1:]) // the first leaf is gone
	if err := Walk(context.Background(), res.Root.CID, fetch, func(Block) error { return nil }); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("walk with a missing leaf: %v", err)
	}
}

func TestImportStopsOnEmitError(t *testing.T) {
	boom := errors.New("placement failed")
	ch, _ := NewChunker(bytes.NewReader(make([]byte, 5*MinChunkSize)), MinChunkSize)
	n := 0
	_, err := Import(ch, func(Block) error {
		if n++; n == 2 {
			return boom
		}
		return nil
	})
	if !errors.Is(err, boom) || n != 2 {
		t.Fatalf("err %v after %d emits", err, n)
	}
}

var cidBuilder = cid.V1Builder{Codec: CodecNode, MhType: mh.SHA2_256}

// pbNode builds a dag-pb block with the given UnixFS data and links.
func pbNode(t *testing.T, data []byte, links ...cid.Cid) Block {
	t.Helper()
	nd := dag.NodeWithData(data)
	nd.SetCidBuilder(cidBuilder)
	for _, l := range links {
		if err := nd.AddRawLink("", &ipld.Link{Cid: l, Size: 1}); err != nil {
			t.Fatal(err)
		}
	}
	return Block{CID: nd.Cid(), Data: nd.RawData()}
}

func fileData(t *testing.T, data []byte, sizes ...uint64) []byte {
	t.Helper()
	f := ft.NewFSNode(ft.TFile)
	f.SetData(data)
	for _, s := range sizes {
		f.AddBlockSize(s)
	}
	b, err := f.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestDecodeNodeRefusesWhatIsNotAFile(t *testing.T) {
	leaf := NewRaw([]byte("abc"))
	v0, _ := cid.Decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	bad := map[string]Block{
		"dag-cbor codec":      {CID: Sum(cid.DagCBOR, []byte{0xa0}), Data: []byte{0xa0}},
		"not protobuf":        {CID: Sum(CodecNode, []byte("garbage")), Data: []byte("garbage")},
		"directory":           pbNode(t, ft.FolderPBData()),
		"no unixfs data":      pbNode(t, []byte{}),
		"links without sizes": pbNode(t, fileData(t, nil), leaf.CID),
		"sizes without links": pbNode(t, fileData(t, nil, 3)),
		"CIDv0 child":         pbNode(t, fileData(t, nil, 3), v0),
		"dag-cbor child":      pbNode(t, fileData(t, nil, 3), Sum(cid.DagCBOR, nil)),
	}
	for name, b := range bad {
		if _, err := DecodeNode(b); !errors.Is(err, ErrBadNode) || !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("%s: %v, want ErrBadNode", name, err)
		}
	}
	// A file node with inline data (how Kubo stores small files without
	// raw leaves) is read: its data, then its children.
	inline := pbNode(t, fileData(t, []byte("xy"), 3), leaf.CID)
	nd, err := DecodeNode(inline)
	if err != nil || nd.Size != 5 || string(nd.Data) != "xy" {
		t.Fatalf("inline node: %+v %v", nd, err)
	}
	got := readRange(t, inline, []Block{leaf}, 0, 5)
	if string(got) != "xyabc" {
		t.Fatalf("inline node read %q", got)
	}
}

// TestPiecesRefusesLyingParents: a parent that says a child holds other
// than it does is an integrity error, not wrong bytes.
func TestPiecesRefusesLyingParents(t *testing.T) {
	leaf := NewRaw([]byte("abcdef"))
	liar := pbNode(t, fileData(t, nil, 4), leaf.CID) // says 4, holds 6
	fetch, _ := mapFetcher([]Block{leaf})
	nd, err := DecodeNode(liar)
	if err != nil {
		t.Fatal(err)
	}
	err = Pieces(context.Background(), nd, 0, 4, fetch, func(p Piece) error {
		b, _ := fetch(context.Background(), p.CID)
		return CheckLeaf(p, b.Data)
	})
	if !errors.Is(err, ErrBadDAG) || !errors.Is(err, xnode.ErrIntegrity) {
		t.Fatalf("lying leaf size: %v", err)
	}
	fetch, _ = mapFetcher([]Block{leaf, liar})
	if err := Walk(context.Background(), liar.CID, fetch, func(Block) error { return nil }); !errors.Is(err, ErrBadDAG) {
		t.Fatalf("walk over a lying leaf size: %v", err)
	}
	inner := pbNode(t, fileData(t, nil, 6), leaf.CID)
	top := pbNode(t, fileData(t, nil, 9), inner.CID) // says 9, inner holds 6
	fetch, _ = mapFetcher([]Block{leaf, inner})
	nd, _ = DecodeNode(top)
	if err := Pieces(context.Background(), nd, 0, 9, fetch, func(Piece) error { return nil }); !errors.Is(err, ErrBadDAG) {
		t.Fatalf("lying node size: %v", err)
	}
}

func FuzzDecodeNode(f *testing.F) {
	res, emitted := imported(f, xorshiftBytes(3*MinChunkSize, 3), MinChunkSize)
	f.Add(res.Root.Data)
	f.Add(emitted[0].Data)
	f.Add([]byte{0x0a, 0x02, 0x08, 0x02})
	f.Fuzz(func(t *testing.T, data []byte) {
		b := Block{CID: Sum(CodecNode, data), Data: data}
		nd, err := DecodeNode(b)
		if err != nil {
			return
		}
		var sum uint64 = uint64(len(nd.Data))
		for _, l := range nd.Links {
			if Check(l.CID) != nil {
				t.Fatalf("accepted a node linking to %s", l.CID)
			}
			sum += l.Size
		}
		if sum != nd.Size {
			t.Fatalf("sizes add to %d, node says %d", sum, nd.Size)
		}
	})
}

func BenchmarkImport64MiB(b *testing.B) {
	data := xorshiftBytes(64<<20, 1)
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		ch, _ := NewChunker(bytes.NewReader(data), DefaultChunkSize)
		if _, err := Import(ch, func(Block) error { return nil }); err != nil {
			b.Fatal(err)
		}
	}
}
