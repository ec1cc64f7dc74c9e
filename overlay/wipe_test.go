package overlay_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/dht"
	"github.com/xnode/xnode/gossip"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// wipeData removes a home's data the way the issue reproduces a lost disk:
// data/ (blocks, app state, remembered peers) and cometbft/data (block
// store, chain state, WAL and priv_validator_state.json). Keys and config
// stay.
func wipeData(t *testing.T, h overlay.Home) {
	t.Helper()
	for _, dir := range []string{filepath.Join(string(h), "data"), filepath.Join(h.CometHome(), "data")} {
		if err := os.RemoveAll(dir); err != nil {
			t.Fatal(err)
		}
	}
}

// TestWipedValidatorComesBack: one of four validators is stopped, its data
// wiped but its keys and config kept, and started again. It comes back on
// its own: the chain through block sync (its app rebuilt from the blocks),
// its share of the blobs through the others' repair.
func TestWipedValidatorComesBack(t *testing.T) {
	if testing.Short() {
		t.Skip("multi-node")
	}
	params := abci.DefaultParams() // R=3
	net := localnet.NewInProcess(t, 4, localnet.InProcessOptions{Params: &params})
	cs := clients(t, net.Nodes)
	ctx := context.Background()
	blobs := putBlobs(t, cs, 6, 31)
	if _, err := cs[0].RegisterNamespace(ctx, "wipe"); err != nil {
		t.Fatal(err)
	}
	rec, err := cs[0].SubmitRecord(ctx, "wipe", "k", blobs[0].cid)
	if err != nil {
		t.Fatal(err)
	}

	if err := net.Leave(t, 3); err != nil {
		t.Fatal(err)
	}
	wipeData(t, net.Homes[3])
	net.Restart(t, 3)
	cs = clients(t, net.Nodes)

	tu.Eventually(t, 90*time.Second, func() bool {
		s0, err0 := cs[0].Status(ctx)
		s3, err3 := cs[3].Status(ctx)
		return err0 == nil && err3 == nil && !s3.CatchingUp && s3.Height > rec.Height && s3.Height >= s0.Height-1
	}, "the wiped validator to catch up with the chain past height %d", rec.Height)
	got, err := cs[3].Record(ctx, "wipe", "k")
	if err != nil || got.CID != blobs[0].cid {
		t.Fatalf("record on the wiped validator: %+v, %v", got, err)
	}

	var problems []string
	var held uint64
	if !tu.WaitFor(90*time.Second, func() bool {
		s3, err := cs[3].Status(ctx)
		held = s3.Storage.Blocks
		problems = placementErrors(ctx, cs[0], net.Nodes, blobs, int(params.ReplicationFactor), false)
		return err == nil && held > 0 && len(problems) == 0
	}) {
		t.Fatalf("repair did not give the wiped validator its blocks back: it holds %d; %v", held, problems)
	}
	if err := readAll(cs[3], blobs); err != nil {
		t.Fatal(err)
	}
}

// TestWipedDevNodeRefusesToStart: the node of a single-node dev network is
// the chain's only validator. Wiped, it has nobody to recover from, and
// starting would sign a new chain over the heights it signed before; the
// start fails, naming the missing file and what to do.
func TestWipedDevNodeRefusesToStart(t *testing.T) {
	home := overlay.Home(t.TempDir())
	cfg := overlay.DefaultConfig()
	cfg.Moniker = "dev"
	cfg.API.Listen = "127.0.0.1:0"
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/0"}
	cfg.Consensus.P2PListen = fmt.Sprintf("127.0.0.1:%d", tu.FreePort(t))
	cfg.Consensus.RPCListen = ""
	cfg.Consensus.TimeoutCommit = overlay.Duration(200 * time.Millisecond)
	if err := overlay.Init(home, overlay.InitOptions{Config: cfg}); err != nil {
		t.Fatal(err)
	}
	start := func() (*overlay.Node, error) {
		gcfg := gossip.LocalTestConfig()
		dcfg := dht.DefaultLocalConfig()
		n, err := overlay.New(overlay.Options{Home: home, Config: cfg, Logger: tu.Logger("dev"), Tuning: &overlay.Tuning{Gossip: &gcfg, DHT: &dcfg}})
		if err != nil {
			return nil, err
		}
		if err := n.Start(context.Background()); err != nil {
			n.Close()
			return nil, err
		}
		return n, nil
	}
	n, err := start()
	if err != nil {
		t.Fatal(err)
	}
	c := clients(t, []*overlay.Node{n})[0]
	tu.Eventually(t, 30*time.Second, func() bool {
		s, err := c.Status(context.Background())
		return err == nil && s.Height >= 2
	}, "dev chain to make blocks")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}

	wipeData(t, home)
	n, err = start()
	if err == nil {
		n.Close()
		t.Fatal("a wiped dev node started a new chain with the old validator key")
	}
	if !errors.Is(err, consensus.ErrSignStateLost) {
		t.Fatalf("start: %v, want ErrSignStateLost", err)
	}
	for _, want := range []string{filepath.Join(home.CometHome(), "data", "priv_validator_state.json"), "backup", "new home"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
}
