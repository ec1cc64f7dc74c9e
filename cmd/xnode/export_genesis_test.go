package main

import (
	"crypto/rand"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	tu "github.com/xnode/xnode/internal/testutil"
)

// TestExportGenesisStartsNewChain follows the README's procedure: a node
// commits a verified record, stops, exports its state, and starts a new
// chain from the file on the same keys; the record is there, verified, and
// its owner goes on writing.
func TestExportGenesisStartsNewChain(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node twice")
	}
	home := filepath.Join(t.TempDir(), "home")
	api, stop := startNode(t, home)
	data := make([]byte, 1<<20+5)
	rand.Read(data)
	file := filepath.Join(t.TempDir(), "blob.bin")
	if err := os.WriteFile(file, data, 0o644); err != nil {
		t.Fatal(err)
	}
	if r := cli(t, "", "ns", "register", "demo", "--api", api); r.code != 0 {
		t.Fatalf("ns register: %+v", r)
	}
	if r := cli(t, "", "submit", "demo/hello", file, "--api", api); r.code != 0 {
		t.Fatalf("submit: %+v", r)
	}
	var rec struct{ CID, Status string }
	tu.Eventually(t, 30*time.Second, func() bool {
		r := cli(t, "", "record", "demo/hello", "--json", "--api", api)
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &rec) == nil && rec.Status == "verified"
	}, "record verified")

	// A running node's state is refused with what to do.
	if r := cli(t, "", "export-genesis", "--home", home); r.code != 1 || !strings.Contains(r.stderr, "stop the node") {
		t.Fatalf("export-genesis of a running node: %+v", r)
	}
	stop()
	if r := cli(t, "", "export-genesis", "--home", home, "--chain-id", "xnode-dev"); r.code != 2 {
		t.Fatalf("export-genesis reusing the chain id: %+v", r)
	}
	gen := filepath.Join(t.TempDir(), "genesis.json")
	r := cli(t, "", "export-genesis", "--home", home, "-o", gen)
	if r.code != 0 || !strings.Contains(r.stderr, "1 records") {
		t.Fatalf("export-genesis: %+v", r)
	}
	var doc struct {
		ChainID  string `json:"chain_id"`
		AppState struct {
			Records []struct{ Status string } `json:"records"`
		} `json:"app_state"`
	}
	raw, _ := os.ReadFile(gen)
	if err := json.Unmarshal(raw, &doc); err != nil || !strings.HasPrefix(doc.ChainID, "xnode-dev-") ||
		len(doc.AppState.Records) != 1 || doc.AppState.Records[0].Status != "verified" {
		t.Fatalf("exported genesis: %v %s", err, raw)
	}

	// The new chain, on the same keys: old chain data out, new genesis in.
	for _, d := range []string{"data", filepath.Join("cometbft", "data")} {
		if err := os.RemoveAll(filepath.Join(home, d)); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.MkdirAll(filepath.Join(home, "cometbft", "data"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "cometbft", "data", "priv_validator_state.json"),
		[]byte(`{"height":"0","round":0,"step":0}`), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(home, "cometbft", "config", "genesis.json"), raw, 0o644); err != nil {
		t.Fatal(err)
	}
	api, _ = startNode(t, home)
	var st struct {
		ChainID string `json:"chain_id"`
	}
	if r := cli(t, "", "status", "--json", "--api", api); r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || st.ChainID != doc.ChainID {
		t.Fatalf("status on the new chain: %+v", r)
	}
	var again struct{ CID, Status string }
	if r := cli(t, "", "record", "demo/hello", "--json", "--api", api); r.code != 0 || json.Unmarshal([]byte(r.stdout), &again) != nil ||
		again.CID != rec.CID || again.Status != "verified" {
		t.Fatalf("record on the new chain: %+v", r)
	}
	// The blob itself was dropped with data/; the owner stores it again and
	// writes a new record into the namespace it still owns.
	if r := cli(t, "", "submit", "demo/next", file, "--api", api); r.code != 0 {
		t.Fatalf("submit on the new chain: %+v", r)
	}
}
