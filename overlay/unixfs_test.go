package overlay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	dag "github.com/ipfs/boxo/ipld/merkledag"
	ft "github.com/ipfs/boxo/ipld/unixfs"
	"github.com/ipfs/go-cid"
	ipld "github.com/ipfs/go-ipld-format"
	"github.com/libp2p/go-libp2p/core/peer"
	mh "github.com/multiformats/go-multihash"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// TestPutBuildsUnixFSAndPlacesEveryBlock puts a blob of enough small chunks
// to need an intermediate level, on a node whose other members are stores
// in memory. The root is what the UnixFS importer makes of the bytes, every
// block (leaves, intermediate nodes, root) is placed on its own three
// owners, and the blob reads back whole and in ranges that cross leaves and
// intermediate nodes.
func TestPutBuildsUnixFSAndPlacesEveryBlock(t *testing.T) {
	remote := newMemberStores()
	members := []peer.ID{"b", "c", "d", "e"}
	bs, _ := confirmPath(t, remote, members...)
	data := make([]byte, (block.MaxLinks+30)*block.MinChunkSize+77)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range data {
		data[i] = byte(rng.Uint32())
	}
	ctx := context.Background()
	res, err := bs.PutBlob(ctx, bytes.NewReader(data))
	if err != nil {
		t.Fatal(err)
	}
	ch, _ := block.NewChunker(bytes.NewReader(data), block.MinChunkSize)
	want, err := block.Import(ch, func(block.Block) error { return nil })
	if err != nil {
		t.Fatal(err)
	}
	if res.CID != want.Root.CID.String() || res.Size != uint64(len(data)) || res.Chunks != block.MaxLinks+31 {
		t.Fatalf("put %+v, the importer makes %s", res, want.Root.CID)
	}
	root := want.Root.CID
	_, size, below, _, err := bs.dagBlocks(ctx, root)
	if err != nil || size != uint64(len(data)) {
		t.Fatalf("dag blocks: size %d, %v", size, err)
	}
	var nodes int
	v := bs.view()
	for _, c := range append([]cid.Cid{root}, below...) {
		if block.IsManifest(c) {
			nodes++
		}
		owners := v.owners(c)
		remote.mu.Lock()
		for _, p := range owners {
			if p == bs.self {
				continue
			}
			if _, ok := remote.held[p][c]; !ok || !remote.confirmed[p][c] {
				remote.mu.Unlock()
				t.Fatalf("block %s is not confirmed on its owner %s", c, p)
			}
		}
		remote.mu.Unlock()
	}
	if nodes != 3 { // the root over two intermediate nodes
		t.Fatalf("%d dag-pb nodes, want 3", nodes)
	}
	b, err := bs.OpenBlob(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	read := func(off, n uint64) []byte {
		t.Helper()
		rc, err := b.Range(ctx, off, n)
		if err != nil {
			t.Fatal(err)
		}
		defer rc.Close()
		got, err := io.ReadAll(rc)
		if err != nil {
			t.Fatal(err)
		}
		return got
	}
	if !bytes.Equal(read(0, uint64(len(data))), data) {
		t.Fatal("the blob does not read back whole")
	}
	edge := uint64(block.MaxLinks * block.MinChunkSize) // where the second intermediate node starts
	for _, r := range [][2]uint64{{edge - 5, 10}, {edge, 1}, {1000, 3000}, {uint64(len(data)) - 1, 1}, {0, 0}} {
		if got := read(r[0], r[1]); !bytes.Equal(got, data[r[0]:r[0]+r[1]]) {
			t.Fatalf("range %d+%d differs", r[0], r[1])
		}
	}
	if _, err := b.Range(ctx, uint64(len(data)), 1); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("a range past the end: %v", err)
	}
	// A chunk is a file of its own: it opens and reads as one.
	leaf := below[len(below)-1]
	lb, err := bs.OpenBlob(ctx, leaf)
	if err != nil || lb.Size() != 77 {
		t.Fatalf("a leaf as a blob: %v", err)
	}
}

// TestGetRefusesALeafOfTheWrongSize: a root whose links say a leaf holds
// other than it does fails the read with an integrity error instead of
// returning shifted bytes.
func TestGetRefusesALeafOfTheWrongSize(t *testing.T) {
	remote := newMemberStores()
	bs, local := confirmPath(t, remote)
	ctx := context.Background()
	a, b := block.NewRaw([]byte("aaaa")), block.NewRaw([]byte("bbbbbb"))
	root := lyingRoot(t, a, b, 4, 3)
	for _, blk := range []block.Block{a, b, root} {
		if err := local.Put(ctx, blk, false); err != nil {
			t.Fatal(err)
		}
	}
	bl, err := bs.OpenBlob(ctx, root.CID)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := bl.Range(ctx, 0, bl.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if _, err := io.ReadAll(rc); !errors.Is(err, xnode.ErrIntegrity) {
		t.Fatalf("a leaf of the wrong size: %v", err)
	}
}

// lyingRoot is a UnixFS file node over a and b whose block sizes say sa and
// sb bytes.
func lyingRoot(t *testing.T, a, b block.Block, sa, sb uint64) block.Block {
	t.Helper()
	f := ft.NewFSNode(ft.TFile)
	f.AddBlockSize(sa)
	f.AddBlockSize(sb)
	fd, err := f.GetBytes()
	if err != nil {
		t.Fatal(err)
	}
	nd := dag.NodeWithData(fd)
	nd.SetCidBuilder(cid.V1Builder{Codec: cid.DagProtobuf, MhType: mh.SHA2_256})
	for _, c := range []block.Block{a, b} {
		if err := nd.AddRawLink("", &ipld.Link{Cid: c.CID, Size: uint64(len(c.Data))}); err != nil {
			t.Fatal(err)
		}
	}
	return block.Block{CID: nd.Cid(), Data: nd.RawData()}
}
