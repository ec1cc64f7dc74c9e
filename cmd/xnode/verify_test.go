package main

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
	tu "github.com/xnode/xnode/internal/testutil"
)

// verifyNet runs three validators of the xnode application with their
// CometBFT RPC on, a namespace demo and a record demo/hello; it returns the
// RPC URLs, the genesis file and the record's CID.
func verifyNet(t *testing.T) (rpc []string, genesis, root string) {
	t.Helper()
	state, err := json.Marshal(abci.DefaultGenesisState())
	if err != nil {
		t.Fatal(err)
	}
	rpc = make([]string, 3)
	nw := consensustest.StartNetwork(t, 3, func(i int, home string) abcitypes.Application {
		app, err := abci.New(abci.DefaultConfig(filepath.Join(filepath.Dir(home), "app")), nil)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}, consensustest.WithAppState(state), consensustest.WithConfig(func(i int, cfg *consensus.Config) {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(tu.FreePort(t)))
		cfg.RPCListen = addr
		rpc[i] = "http://" + addr
	}))
	genesis = filepath.Join(t.TempDir(), "genesis.json")
	if err := os.WriteFile(genesis, nw.Genesis, 0o644); err != nil {
		t.Fatal(err)
	}
	sum, _ := multihash.Sum([]byte("hello"), multihash.SHA2_256, -1)
	root = cid.NewCidV1(cid.Raw, sum).String()
	doc, _ := nw.GenesisDoc()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	reg, _ := abci.NewRegisterNamespace(nw.Keys[0], doc.ChainID, 1, "demo")
	rec, _ := abci.NewSubmitRecord(nw.Keys[0], doc.ChainID, 2, "demo", "hello", root, 5)
	var h int64
	for _, tx := range [][]byte{reg, rec} {
		res, err := nw.Nodes[0].BroadcastTxCommit(ctx, tx)
		if err != nil || res.Code != 0 {
			t.Fatalf("commit: %+v %v", res, err)
		}
		h = res.Height
	}
	consensustest.WaitHeight(t, nw.Nodes, h+2, 30*time.Second)
	return rpc, genesis, root
}

// forger relays a CometBFT RPC and replaces the value of every
// abci_query answer.
func forger(t *testing.T, target string) string {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		resp, err := http.Post(target, "application/json", bytes.NewReader(body))
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		out, _ := io.ReadAll(resp.Body)
		var env map[string]any
		if json.Unmarshal(out, &env) == nil {
			if res, ok := env["result"].(map[string]any); ok {
				if q, ok := res["response"].(map[string]any); ok && q["value"] != nil {
					q["value"] = base64.StdEncoding.EncodeToString([]byte("forged"))
					out, _ = json.Marshal(env)
				}
			}
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(out)
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestVerifiedReads(t *testing.T) {
	rpc, genesis, root := verifyNet(t)
	home := t.TempDir()
	honest := strings.Join(rpc, ",")
	flags := []string{"--home", home, "--genesis", genesis}

	r := cli(t, "", append([]string{"record", "demo/hello", "--verify", "--rpc", honest}, flags...)...)
	if r.code != 0 || !strings.Contains(r.stdout, root) || !strings.Contains(r.stdout, "verified at height ") || !strings.Contains(r.stdout, " of 30 voting power") {
		t.Fatalf("record --verify: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("xnode record demo/hello --verify:\n%s", r.stdout)

	r = cli(t, "", append([]string{"record", "demo/hello", "--verify", "--rpc", honest, "--json"}, flags...)...)
	var out struct {
		Found    bool
		Verified string
		Value    struct{ CID string }
		Proof    struct {
			Height int64
			Key    []byte
			Value  []byte
			Ops    []struct {
				Type string
				Data []byte
			}
		}
	}
	if err := json.Unmarshal([]byte(r.stdout), &out); err != nil || r.code != 0 {
		t.Fatalf("--json: exit %d, %v\n%s%s", r.code, err, r.stdout, r.stderr)
	}
	if !out.Found || out.Value.CID != root || string(out.Proof.Key) != "r/demo/hello" || len(out.Proof.Ops) != 1 || out.Proof.Ops[0].Type != abci.ProofOpICS23 || len(out.Proof.Value) == 0 {
		t.Fatalf("--json: %s", r.stdout)
	}

	for _, args := range [][]string{
		{"ns", "show", "demo", "--verify", "--rpc", honest},
		{"params", "--verify", "--rpc", honest},
	} {
		r := cli(t, "", append(args, flags...)...)
		if r.code != 0 || !strings.Contains(r.stdout, "verified at height ") {
			t.Fatalf("%v: exit %d\n%s%s", args, r.code, r.stdout, r.stderr)
		}
	}

	// An absent record is a verified absence, and exit 1.
	r = cli(t, "", append([]string{"record", "demo/missing", "--verify", "--rpc", honest}, flags...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "no record demo/missing: its absence is verified at height") {
		t.Fatalf("absent: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}

	// A primary that forges the record is refused.
	lying := forger(t, rpc[0]) + "," + rpc[1]
	r = cli(t, "", append([]string{"record", "demo/hello", "--verify", "--rpc", lying}, flags...)...)
	if r.code != 1 || !strings.Contains(r.stderr, "refused") || !strings.Contains(r.stderr, "value does not match its proof") || strings.Contains(r.stdout, root) {
		t.Fatalf("forged: exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	t.Logf("forged: %s", r.stderr)

	// Bad usage: exit 2 and a message that says what to do.
	for _, args := range [][]string{
		{"record", "demo/hello", "--verify"},
		{"record", "demo/hello", "--verify", "--rpc", rpc[0]},
		{"record", "demo/hello", "--rpc", honest},
		{"record", "demo/hello", "--verify", "--rpc", rpc[0] + "," + rpc[0]},
		{"record", "demo/hello", "--verify", "--rpc", honest, "--trust-height", "2"},
		{"record", "demo/hello", "--verify", "--rpc", honest, "--trust-height", "2", "--trust-hash", "zz"},
		{"params", "--verify", "--rpc", honest, "extra"},
	} {
		r := cli(t, "", append(args, flags...)...)
		if r.code != 2 || strings.TrimSpace(r.stderr) == "" {
			t.Errorf("%v: exit %d, want 2\n%s", args, r.code, r.stderr)
		}
	}
	// No genesis in the home and none given: say how to give one.
	r = cli(t, "", "record", "demo/hello", "--verify", "--rpc", honest, "--home", home)
	if r.code != 1 || !strings.Contains(r.stderr, "--genesis") {
		t.Fatalf("no genesis: exit %d\n%s", r.code, r.stderr)
	}
}

// TestVerifyDefaultsToTheLocalnet: with no --rpc, a localnet node's home
// reads through its own RPC, cross-checked by the other nodes'.
func TestVerifyDefaultsToTheLocalnet(t *testing.T) {
	dir := t.TempDir()
	layout := `{"kind":"xnode-localnet","chain_id":"x","nodes":[
		{"name":"node0","ports":{"cmt_rpc":26657}},
		{"name":"node1","ports":{"cmt_rpc":26667}},
		{"name":"node2","ports":{"cmt_rpc":26677}}]}`
	if err := os.WriteFile(filepath.Join(dir, "localnet.json"), []byte(layout), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"node0", "node1", "node2"} {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "config.toml"), nil, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got := strings.Join(localnetRPC(filepath.Join(dir, "node1")), ",")
	if want := "http://127.0.0.1:26667,http://127.0.0.1:26657,http://127.0.0.1:26677"; got != want {
		t.Fatalf("got %s, want %s", got, want)
	}
	if got := localnetRPC(t.TempDir()); got != nil {
		t.Fatalf("a home outside a localnet: got %v", got)
	}
}
