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
	if h, hash := info(t, app); h != 0 || !bytes.Equal(hash, h0) {
		t.Fatalf("Info = %d %X, want 0 %X", h, hash, h0)
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

// bigOverlay stages n writes of 100-byte values plus a delete.
func bigOverlay(app *App, n int) *overlay {
	o := newOverlay(dbReader{app.db})
	for i := range n {
		o.set(fmt.Sprintf("t/%08d", i), bytes.Repeat([]byte{byte(i)}, 100))
	}
	o.del("t/gone")
	return o
}

// TestLargeBlockCommitsThroughJournal commits a block too large for one
// badger transaction.
func TestLargeBlockCommitsThroughJournal(t *testing.T) {
	app := openApp(t, t.TempDir(), nil)
	if err := app.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("t/gone"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	const n = 30000 // ~4 MB, over the ~2.4 MB transaction limit
	o := bigOverlay(app, n)
	err := app.db.Update(func(txn *badger.Txn) error {
		for k, w := range o.writes {
			if err := txn.Set([]byte(k), w.val); err != nil {
				return err
			}
		}
		return nil
	})
	if !errors.Is(err, badger.ErrTxnTooBig) {
		t.Fatalf("precondition: one transaction of the block gave %v, want ErrTxnTooBig", err)
	}
	if err := commit(app.db, o, meta{Height: 9, AppHash: []byte("h")}); err != nil {
		t.Fatalf("commit: %v", err)
	}
	checkBigState(t, app, n, 9)
}

// TestJournalRecoveredOnOpen crashes right after the journal's commit point.
func TestJournalRecoveredOnOpen(t *testing.T) {
	dir := t.TempDir()
	app := openApp(t, dir, nil)
	if err := app.db.Update(func(txn *badger.Txn) error { return txn.Set([]byte("t/gone"), []byte("x")) }); err != nil {
		t.Fatal(err)
	}
	const n = 500
	o := bigOverlay(app, n)
	j := journal{Meta: meta{Height: 4, AppHash: []byte("h")}}
	for _, k := range o.sortedKeys() {
		j.Keys = append(j.Keys, []byte(k))
		j.Vals = append(j.Vals, o.writes[k].val)
		j.Dels = append(j.Dels, o.writes[k].del)
	}
	mb, _ := encMode.Marshal(j.Meta)
	if err := writeJournal(app.db, j, mb); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	app = openApp(t, dir, nil)
	if h, _ := info(t, app); h != 4 {
		t.Errorf("Info after recovery: height %d, want 4", h)
	}
	checkBigState(t, app, n, 4)
}

func checkBigState(t *testing.T, app *App, n int, height int64) {
	t.Helper()
	if m, err := loadMeta(app.db); err != nil || m.Height != height || string(m.AppHash) != "h" {
		t.Errorf("meta = %+v, %v; want height %d", m, err, height)
	}
	r := dbReader{app.db}
	for _, i := range []int{0, n / 2, n - 1} {
		v, ok, err := r.get(fmt.Sprintf("t/%08d", i))
		if err != nil || !ok || !bytes.Equal(v, bytes.Repeat([]byte{byte(i)}, 100)) {
			t.Errorf("write %d: ok=%v err=%v", i, ok, err)
		}
	}
	if _, ok, _ := r.get("t/gone"); ok {
		t.Error("staged delete was not applied")
	}
	if _, ok, _ := r.get(string(keyJournal)); ok {
		t.Error("journal left behind")
	}
}
