package storage

import (
	"context"
	"testing"

	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
)

func TestTentative(t *testing.T) {
	s, err := Open(DefaultConfig(t.TempDir()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	ctx := context.Background()
	b := block.NewRaw([]byte("tentative until confirmed"))
	if got, _ := s.Tentative(ctx, b.CID); got {
		t.Fatal("a missing block is tentative")
	}
	if err := s.Put(ctx, b, true); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tentative(ctx, b.CID); !got {
		t.Fatal("a tentative put is not tentative")
	}
	if err := s.Confirm(ctx, []cid.Cid{b.CID}); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.Tentative(ctx, b.CID); got {
		t.Fatal("a confirmed block is still tentative")
	}
}
