package main

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/dgraph-io/badger/v4"

	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/overlay"
	"github.com/xnode/xnode/storage"
)

// TestStorageReindex runs `xnode storage reindex` on a missing home, on a
// store a running node holds open, and on a stopped store whose index lost
// entries: the first two fail with what to do, the last re-indexes them and
// prints the report, as text and as one JSON object.
func TestStorageReindex(t *testing.T) {
	ctx := context.Background()
	missing := filepath.Join(t.TempDir(), "nope")
	r := cli(t, "", "storage", "reindex", "--home", missing)
	if r.code != 1 || !strings.Contains(r.stderr, "no xnode home at "+missing) {
		t.Fatalf("reindex of a missing home: %+v", r)
	}
	empty := t.TempDir()
	r = cli(t, "", "storage", "reindex", "--home", empty)
	if r.code != 1 || !strings.Contains(r.stderr, "no block store at") {
		t.Fatalf("reindex of a home without a block store: %+v", r)
	}
	if r := cli(t, "", "storage", "reindex", "extra", "--home", empty); r.code != 2 {
		t.Fatalf("reindex with an argument: %+v", r)
	}
	if r := cli(t, "", "storage", "reindx", "--home", empty); r.code != 2 || !strings.Contains(r.stderr, `did you mean "reindex"`) {
		t.Fatalf("storage with an unknown subcommand: %+v", r)
	}

	home := t.TempDir()
	cfg := storage.DefaultConfig(overlay.Home(home).BlocksDir())
	cfg.VerifyOnStart = false
	s, err := storage.Open(cfg, nil, tu.Logger(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	var bs []block.Block
	for range 6 {
		data := make([]byte, 64<<10)
		rand.Read(data)
		b := block.NewRaw(data)
		if err := s.Put(ctx, b, false); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	// The store is open, as a running node's is.
	r = cli(t, "", "storage", "reindex", "--home", home)
	if r.code != 1 || !strings.Contains(r.stderr, "stop the node first") {
		t.Fatalf("reindex of an open store: %+v", r)
	}
	// The index loses two blocks' entries, as a truncated write-ahead log
	// loses them.
	for _, b := range bs[:2] {
		for _, prefix := range []string{"l/", "s/"} {
			k := append([]byte(prefix), b.CID.Bytes()...)
			if err := s.DB().Update(func(txn *badger.Txn) error { return txn.Delete(k) }); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	r = cli(t, "", "storage", "reindex", "--home", home, "--json")
	if r.code != 0 {
		t.Fatalf("reindex --json: %+v", r)
	}
	var got map[string]any
	dec := json.NewDecoder(strings.NewReader(r.stdout))
	if err := dec.Decode(&got); err != nil || dec.More() {
		t.Fatalf("reindex --json is not one JSON object: %v\n%s", err, r.stdout)
	}
	want := map[string]any{
		"dir": cfg.Dir, "segments": 1.0, "records": 6.0, "reindexed": 2.0, "reindexed_bytes": float64(2 * 64 << 10),
		"already_indexed": 4.0, "duplicates": 0.0, "damaged": 0.0, "torn_tails": 0.0,
	}
	for k, v := range want {
		if got[k] != v {
			t.Fatalf("reindex --json %s = %v, want %v\n%s", k, got[k], v, r.stdout)
		}
	}
	for _, k := range []string{"bytes", "seconds"} {
		if _, ok := got[k].(float64); !ok {
			t.Fatalf("reindex --json has no number %q\n%s", k, r.stdout)
		}
	}

	// The blocks are back, and a second run finds nothing to do.
	r = cli(t, "", "storage", "reindex", "--home", home)
	t.Logf("second reindex:\n%s", r.stdout)
	if r.code != 0 || !strings.Contains(r.stdout, "re-indexed       0 blocks") || !strings.Contains(r.stdout, "already indexed  6") {
		t.Fatalf("second reindex: %+v", r)
	}
	s, err = storage.Open(cfg, nil, tu.Logger(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for i, b := range bs {
		got, err := s.Get(ctx, b.CID)
		if err != nil || !bytes.Equal(got.Data, b.Data) {
			t.Fatalf("block %d after reindex: %v", i, err)
		}
	}
}
