package abci

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/dgraph-io/badger/v4"
	"github.com/prometheus/client_golang/prometheus"
)

func info(t *testing.T, app *App) (int64, []byte) {
	t.Helper()
	resp, err := app.Info(context.Background(), &abcitypes.RequestInfo{})
	if err != nil {
		t.Fatal(err)
	}
	return resp.LastBlockHeight, resp.LastBlockAppHash
}

// TestCrashBetweenFinalizeAndCommit closes the DB after FinalizeBlock and
// before Commit, reopens it, and replays the block as CometBFT's handshake
// would: the app must report the previous height and then reach the same
// hashes as an instance that never crashed.
func TestCrashBetweenFinalizeAndCommit(t *testing.T) {
	vals := equalVals(4)
	blocks := genBlocks(t, 7, 5, 20, vals)
	dir := t.TempDir()
	reg := prometheus.NewRegistry()

	ref := openApp(t, "", nil)
	initChain(t, ref, vals)
	want := make([][]byte, len(blocks)+1)
	for i, txs := range blocks {
		_, want[i+1] = finalizeAndCommit(t, ref, int64(i+1), txs)
	}

	app := openApp(t, dir, reg)
	initChain(t, app, vals)
	for i := range 2 {
		if _, h := finalizeAndCommit(t, app, int64(i+1), blocks[i]); !bytes.Equal(h, want[i+1]) {
			t.Fatalf("height %d: hash %X, want %X", i+1, h, want[i+1])
		}
	}
	fin, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{Height: 3, Txs: blocks[2]})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(fin.AppHash, want[3]) {
		t.Fatalf("height 3 staged hash %X, want %X", fin.AppHash, want[3])
	}
	if err := app.Close(); err != nil { // the crash: staged block 3 is lost
		t.Fatal(err)
	}

	app = openApp(t, dir, reg) // same registry: Close unregistered the metrics
	if h, hash := info(t, app); h != 2 || !bytes.Equal(hash, want[2]) {
		t.Fatalf("after restart Info = %d %X, want 2 %X", h, hash, want[2])
	}
	if resp := query(t, app, QueryParams, "", nil); resp.Height != 2 {
		t.Errorf("query after restart at height %d, want 2", resp.Height)
	}
	for i := 2; i < len(blocks); i++ {
		if _, h := finalizeAndCommit(t, app, int64(i+1), blocks[i]); !bytes.Equal(h, want[i+1]) {
			t.Fatalf("replayed height %d: hash %X, want %X", i+1, h, want[i+1])
		}
	}
	// Both instances hold the same records.
	for _, path := range []string{QueryValidators, QueryParams} {
		if a, b := query(t, app, path, "", nil), query(t, ref, path, "", nil); !bytes.Equal(a.Value, b.Value) {
			t.Errorf("%s differs after replay", path)
		}
	}
}

// TestCrashBeforeFirstCommit: CometBFT calls InitChain again when the app
// reports height 0; it must give the same hash whatever was there.
func TestCrashBeforeFirstCommit(t *testing.T) {
	dir := t.TempDir()
	app := openApp(t, dir, nil)
	h0 := initChain(t, app, equalVals(2))
	if _, err := app.FinalizeBlock(context.Background(), &abcitypes.RequestFinalizeBlock{Height: 1}); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	app = openApp(t, dir, nil)
	if h, hash := info(t, app); h != 0 || hash != nil {
		t.Fatalf("Info = %d %X, want 0 and no hash: genesis is saved with the first block", h, hash)
	}
	if again := initChain(t, app, equalVals(2)); !bytes.Equal(again, h0) {
		t.Fatalf("second InitChain hash %X, want %X", again, h0)
	}
	// A different genesis starts from scratch, not on top of the old one.
	if other := initChain(t, app, equalVals(1)); bytes.Equal(other, h0) {
		t.Fatal("different genesis gave the same hash")
	}
	var vs []Validator
	query(t, app, QueryValidators, "", &vs)
	if len(vs) != 1 {
		t.Errorf("after re-InitChain with 1 validator the table holds %d", len(vs))
	}
}

// TestLargeVersionSurvivesReopen saves a version far larger than one
// badger transaction (the tree's batch spans several) and reads it back
// after a reopen.
func TestLargeVersionSurvivesReopen(t *testing.T) {
	dir := t.TempDir()
	app := openApp(t, dir, nil)
	const n = 30000 // ~4 MB of values, over the ~2.4 MB transaction limit
	o := newOverlay(emptyReader{})
	for i := range n {
		o.set(fmt.Sprintf("t/%08d", i), bytes.Repeat([]byte{byte(i)}, 100))
	}
	o.set("t/gone", []byte("x"))
	if _, err := app.tree.apply(o); err != nil {
		t.Fatal(err)
	}
	if _, v, err := app.tree.save(); err != nil || v != 1 {
		t.Fatalf("save = %d, %v", v, err)
	}
	del := newOverlay(emptyReader{})
	del.del("t/gone")
	if _, err := app.tree.apply(del); err != nil {
		t.Fatal(err)
	}
	want, _, err := app.tree.save()
	if err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	app = openApp(t, dir, nil)
	if h, hash := info(t, app); h != 2 || !bytes.Equal(hash, want) {
		t.Fatalf("Info after reopen = %d %X, want 2 %X", h, hash, want)
	}
	imm, err := app.tree.at(2)
	if err != nil {
		t.Fatal(err)
	}
	r := treeReader{imm}
	for _, i := range []int{0, n / 2, n - 1} {
		v, ok, err := r.get(fmt.Sprintf("t/%08d", i))
		if err != nil || !ok || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Errorf("write %d: ok=%v err=%v", i, ok, err)
		}
	}
	if _, ok, _ := r.get("t/gone"); ok {
		t.Error("staged delete was not applied")
	}
}

// TestOldLayoutRefused: a state DB of the layout before the tree is
// refused with ErrOldLayout, which names the way out.
func TestOldLayoutRefused(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(oldKeyMeta), []byte{0xa0}) }); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	cfg := DefaultConfig(dir)
	_, err = New(cfg, nil)
	if !errors.Is(err, ErrOldLayout) {
		t.Fatalf("New on an old-layout DB = %v, want ErrOldLayout", err)
	}
}
