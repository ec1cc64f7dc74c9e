package main

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	tu "github.com/xnode/xnode/internal/testutil"
)

// txFates is the node behind `xnode tx` in these tests: the real API server
// over a table of fates. Only Tx is served; the embedded nil api.Node is
// never called.
type txFates struct {
	api.Node
	fates map[string]api.TxResult
}

func (f *txFates) Tx(_ context.Context, hash []byte) (api.TxResult, error) {
	if len(hash) != api.TxHashLen {
		return api.TxResult{}, fmt.Errorf("hash of %d bytes: %w", len(hash), xnode.ErrInvalidArgument)
	}
	h := api.FormatTxHash(hash)
	if res, ok := f.fates[h]; ok {
		return res, nil
	}
	return api.TxResult{Tx: h, Status: api.TxUnknown}, nil
}

func hashHex(s string) string {
	h := sha256.Sum256([]byte(s))
	return api.FormatTxHash(h[:])
}

func startTxAPI(t *testing.T, fates ...api.TxResult) string {
	t.Helper()
	node := &txFates{fates: make(map[string]api.TxResult)}
	for _, f := range fates {
		node.fates[f.Tx] = f
	}
	cfg := api.DefaultConfig()
	cfg.Listen = "127.0.0.1:0"
	reg := prometheus.NewRegistry()
	srv, err := api.New(cfg, node, reg, reg, tu.Logger(t.Name()))
	if err != nil {
		t.Fatal(err)
	}
	if err := srv.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = srv.Close() })
	return "http://" + srv.Addr()
}

func TestTxShowsEachFate(t *testing.T) {
	committed := api.TxResult{Tx: hashHex("a"), Status: api.TxCommitted, Height: 42}
	failed := api.TxResult{Tx: hashHex("b"), Status: api.TxCommitted, Height: 43, Code: 5, Log: "namespace owned by another key"}
	pending := api.TxResult{Tx: hashHex("c"), Status: api.TxPending}
	rejected := api.TxResult{Tx: hashHex("d"), Status: api.TxRejected, Code: 3, Log: "nonce 7 already used"}
	base := startTxAPI(t, committed, failed, pending, rejected)

	for _, c := range []struct {
		hash string
		want []string
		json map[string]any
	}{
		{committed.Tx, []string{"status  committed", "height  42", "code    0 (applied)"},
			map[string]any{"tx": committed.Tx, "status": "committed", "height": 42.0, "code": 0.0}},
		{strings.ToLower(failed.Tx), []string{"status  committed", "height  43", "code    5 (failed", "namespace owned by another key"},
			map[string]any{"tx": failed.Tx, "status": "committed", "height": 43.0, "code": 5.0, "log": "namespace owned by another key"}},
		{"0x" + pending.Tx, []string{"status  pending"},
			map[string]any{"tx": pending.Tx, "status": "pending"}},
		{rejected.Tx, []string{"status  rejected", "code    3", "nonce 7 already used"},
			map[string]any{"tx": rejected.Tx, "status": "rejected", "code": 3.0, "log": "nonce 7 already used"}},
	} {
		r := cli(t, "", "tx", c.hash, "--api", base)
		if r.code != 0 {
			t.Fatalf("xnode tx %s: exit %d, stderr %q", c.hash, r.code, r.stderr)
		}
		for _, w := range c.want {
			if !strings.Contains(r.stdout, w) {
				t.Errorf("xnode tx %s: output lacks %q:\n%s", c.hash, w, r.stdout)
			}
		}
		r = cli(t, "", "tx", c.hash, "--api", base, "--json")
		var got map[string]any
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &got) != nil {
			t.Fatalf("xnode tx %s --json: exit %d, stdout %q", c.hash, r.code, r.stdout)
		}
		if fmt.Sprint(got) != fmt.Sprint(c.json) {
			t.Errorf("xnode tx %s --json: %v, want %v", c.hash, got, c.json)
		}
	}
}

func TestTxUnknownAndBadHash(t *testing.T) {
	base := startTxAPI(t)
	unknown := hashHex("never sent")
	r := cli(t, "", "tx", unknown, "--api", base)
	if r.code != 1 || !strings.Contains(r.stdout, "status  unknown") || !strings.Contains(r.stderr, "unknown to the node") {
		t.Fatalf("unknown hash: %+v", r)
	}
	r = cli(t, "", "tx", unknown, "--api", base, "--json")
	var got map[string]any
	if r.code != 1 || json.Unmarshal([]byte(r.stdout), &got) != nil || got["status"] != "unknown" || got["tx"] != unknown {
		t.Fatalf("unknown hash --json: %+v", r)
	}
	for _, bad := range []string{"xyz", strings.Repeat("a", 63), strings.Repeat("0", 65), strings.Repeat("z", 64)} {
		r := cli(t, "", "tx", bad, "--api", base)
		if r.code != 2 || !strings.Contains(r.stderr, "invalid argument") || !strings.Contains(r.stderr, "64 hex digits") {
			t.Errorf("xnode tx %q: %+v, want exit 2 naming the hash's form", bad, r)
		}
	}
	if r := cli(t, "", "tx"); r.code != 2 {
		t.Errorf("xnode tx without HASH: exit %d, want 2", r.code)
	}
	dead := fmt.Sprintf("http://127.0.0.1:%d", tu.FreePort(t))
	if r := cli(t, "", "tx", unknown, "--api", dead); r.code != 1 || !strings.Contains(r.stderr, "is a node running?") {
		t.Errorf("xnode tx against no node: %+v", r)
	}
}
