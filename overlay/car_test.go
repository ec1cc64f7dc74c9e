package overlay

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"testing"

	"github.com/ipfs/go-cid"
	carv2 "github.com/ipld/go-car/v2"
	carstorage "github.com/ipld/go-car/v2/storage"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// dagOf imports data as a UnixFS file of small chunks and returns its root
// and its blocks in CAR order (root first, depth first).
func dagOf(t testing.TB, data []byte) (cid.Cid, []block.Block) {
	t.Helper()
	ch, err := block.NewChunker(bytes.NewReader(data), block.MinChunkSize)
	if err != nil {
		t.Fatal(err)
	}
	m := map[cid.Cid][]byte{}
	res, err := block.Import(ch, func(b block.Block) error {
		m[b.CID] = append([]byte(nil), b.Data...)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	var out []block.Block
	fetch := func(_ context.Context, c cid.Cid) (block.Block, error) { return block.Block{CID: c, Data: m[c]}, nil }
	if err := block.Walk(context.Background(), res.Root.CID, fetch, func(b block.Block) error {
		out = append(out, b)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return res.Root.CID, out
}

// writeCAR writes a CARv1 with go-car; it does not check the blocks, so a
// test can write a bad one.
func writeCAR(t testing.TB, roots []cid.Cid, blocks []block.Block) []byte {
	t.Helper()
	var buf bytes.Buffer
	w, err := carstorage.NewWritable(&buf, roots, carv2.WriteAsCarV1(true), carv2.AllowDuplicatePuts(true))
	if err != nil {
		t.Fatal(err)
	}
	for _, b := range blocks {
		if err := w.Put(context.Background(), b.CID.KeyString(), b.Data); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func rnd(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, seed))
	b := make([]byte, n)
	for i := range b {
		b[i] = byte(r.Uint32())
	}
	return b
}

// TestImportCARPlacesAndReadsBack: a CAR of a two-level DAG, exported from
// one node's blocks, imports into another; every block is placed on its
// owners and confirmed, and the blob reads back byte-identical.
func TestImportCARPlacesAndReadsBack(t *testing.T) {
	data := rnd((block.MaxLinks+10)*block.MinChunkSize+3, 1)
	root, blocks := dagOf(t, data)
	remote := newMemberStores()
	bs, _ := confirmPath(t, remote, "b", "c", "d")
	ctx := context.Background()
	res, err := bs.ImportCAR(ctx, bytes.NewReader(writeCAR(t, []cid.Cid{root}, blocks)))
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Roots) != 1 || res.Roots[0] != root.String() || res.Blocks != len(blocks) || res.Replicas != 3 {
		t.Fatalf("import %+v", res)
	}
	v := bs.view()
	for _, b := range blocks {
		for _, p := range v.owners(b.CID) {
			if p == bs.self {
				continue
			}
			remote.mu.Lock()
			ok := remote.confirmed[p][b.CID]
			remote.mu.Unlock()
			if !ok {
				t.Fatalf("block %s not confirmed on its owner %s", b.CID, p)
			}
		}
	}
	bl, err := bs.OpenBlob(ctx, root)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := bl.Range(ctx, 0, bl.Size())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	if got, err := io.ReadAll(rc); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read back after import: %v", err)
	}
}

// TestImportCARRefusesBadCARs: each bad CAR is refused with a clear
// INVALID_ARGUMENT, and nothing is acknowledged: no copy stays on this node
// and none is confirmed anywhere.
func TestImportCARRefusesBadCARs(t *testing.T) {
	data := rnd((block.MaxLinks+10)*block.MinChunkSize+3, 2)
	root, blocks := dagOf(t, data)
	good := writeCAR(t, []cid.Cid{root}, blocks)
	corrupt := append([]block.Block(nil), blocks...)
	flipped := append([]byte(nil), corrupt[5].Data...)
	flipped[0] ^= 1
	corrupt[5] = block.Block{CID: corrupt[5].CID, Data: flipped}
	other, _ := dagOf(t, rnd(5000, 3))
	lastLeaf := len(blocks) - 1
	for _, tc := range []struct {
		name string
		car  []byte
		says string
	}{
		{"a block that does not match its CID", writeCAR(t, []cid.Cid{root}, corrupt), "do not match"},
		{"a truncated CAR", good[:len(good)-100], "truncated"},
		{"a CAR cut inside its header", good[:20], "header"},
		{"a CAR with no roots", writeCAR(t, nil, blocks), ""},
		{"a CAR whose root is missing", writeCAR(t, []cid.Cid{other}, blocks), "root"},
		{"a CAR missing a block of the DAG", writeCAR(t, []cid.Cid{root}, append(append([]block.Block(nil), blocks[:lastLeaf]...), blocks[lastLeaf+1:]...)), "linked from"},
		{"not a CAR", []byte("hello, this is not a CAR at all"), ""},
		{"empty", nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			remote := newMemberStores()
			bs, local := confirmPath(t, remote, "b", "c", "d")
			_, err := bs.ImportCAR(context.Background(), bytes.NewReader(tc.car))
			if !errors.Is(err, ErrBadCAR) || !errors.Is(err, xnode.ErrInvalidArgument) {
				t.Fatalf("err %v, want ErrBadCAR", err)
			}
			if tc.says != "" && !bytes.Contains([]byte(err.Error()), []byte(tc.says)) {
				t.Fatalf("error %q does not say %q", err, tc.says)
			}
			if u := local.Usage(); u.Blocks != 0 {
				t.Fatalf("%d blocks left on this node", u.Blocks)
			}
			remote.mu.Lock()
			defer remote.mu.Unlock()
			for p, cs := range remote.confirmed {
				if len(cs) > 0 {
					t.Fatalf("%d blocks confirmed on %s", len(cs), p)
				}
			}
		})
	}
}
