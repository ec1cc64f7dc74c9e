package verify_test

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/storage"
	"github.com/xnode/xnode/verify"
)

// otherOwner serves intact copies, as another owner would.
type otherOwner map[cid.Cid][]byte

func (o otherOwner) FetchBlock(ctx context.Context, c cid.Cid) (block.Block, error) {
	d, ok := o[c]
	if !ok {
		return block.Block{}, fmt.Errorf("%w", xnode.ErrNotFound)
	}
	return block.Block{CID: c, Data: d}, nil
}

// TestScrubberRepairsFromAnotherOwner corrupts blocks on disk in a real
// badger store; one pass finds them, drops the bad copies and stores intact
// ones fetched elsewhere; a block no one else has stays counted as corrupt.
func TestScrubberRepairsFromAnotherOwner(t *testing.T) {
	s, err := storage.Open(storage.DefaultConfig(t.TempDir()), nil, tu.Logger("store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	other := otherOwner{}
	var blocks []block.Block
	for range 10 {
		d := make([]byte, 64<<10)
		rand.Read(d)
		b := block.NewRaw(d)
		blocks = append(blocks, b)
		if err := s.Put(ctx, b, false); err != nil {
			t.Fatal(err)
		}
	}
	for _, b := range blocks[:3] {
		other[b.CID] = b.Data
	}
	for _, b := range blocks[:4] { // the fourth has no other copy
		err := s.DB().Update(func(txn *badger.Txn) error {
			v := append([]byte(nil), b.Data...)
			v[100] ^= 1
			return txn.Set(storage.BlockKey(b.CID), v)
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	sc, err := verify.NewScrubber(verify.ScrubConfig{Interval: 1 << 40}, s, other, nil, tu.Logger("scrub"))
	if err != nil {
		t.Fatal(err)
	}
	res, err := sc.ScrubOnce(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 10 || res.Corrupt != 4 || res.Repaired != 3 {
		t.Fatalf("scrub result %+v, want 10 checked, 4 corrupt, 3 repaired", res)
	}
	for i, b := range blocks {
		got, err := s.Get(ctx, b.CID)
		switch {
		case i == 3:
			if err == nil {
				t.Fatal("the unrepairable corrupt block is still served")
			}
		case err != nil:
			t.Fatalf("block %d after scrub: %v", i, err)
		case string(got.Data) != string(b.Data):
			t.Fatalf("block %d has wrong bytes after scrub", i)
		}
	}
	// A second pass finds nothing more.
	if res, _ := sc.ScrubOnce(ctx); res.Corrupt != 0 || res.Checked != 9 {
		t.Fatalf("second pass %+v", res)
	}
}
