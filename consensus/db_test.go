package consensus

import (
	"errors"
	"testing"

	dbm "github.com/cometbft/cometbft-db"
)

func TestGuardedDBReadsEmptyAfterClose(t *testing.T) {
	g := &guardedDB{DB: dbm.NewMemDB(), name: "test"}
	if err := g.Set([]byte("k"), []byte("v")); err != nil {
		t.Fatal(err)
	}
	if v, err := g.Get([]byte("k")); err != nil || string(v) != "v" {
		t.Fatalf("get before close: %q %v", v, err)
	}
	b := g.NewBatch()
	if err := b.Set([]byte("k2"), []byte("v2")); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatal(err)
	}
	if err := g.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if v, err := g.Get([]byte("k")); err != nil || v != nil {
		t.Fatalf("get after close: %q %v, want nil nil", v, err)
	}
	if ok, err := g.Has([]byte("k")); err != nil || ok {
		t.Fatalf("has after close: %v %v", ok, err)
	}
	it, err := g.Iterator(nil, nil)
	if err != nil || it.Valid() {
		t.Fatalf("iterator after close: valid=%v err=%v", it != nil && it.Valid(), err)
	}
	if err := g.Set([]byte("k"), []byte("x")); !errors.Is(err, errDBClosed) {
		t.Fatalf("set after close: %v", err)
	}
	if err := b.Write(); !errors.Is(err, errDBClosed) {
		t.Fatalf("batch write after close: %v", err)
	}
}
