package consensus_test

import (
	"context"
	"crypto/ed25519"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/xnode/xnode"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
	"github.com/xnode/xnode/internal/testutil"
)

// TestWipedValidatorRecovers is the wiped-validator scenario: one of four
// validators is stopped, its CometBFT data directory (block store, state,
// WAL and priv_validator_state.json) is removed, keys and config kept, and
// it is started again with an empty application. It must start, catch up
// through block sync, refuse to sign the heights the network had reached,
// and then vote again: its precommits appear in later commits, none appears
// between its stop and its floor, and no block carries evidence of a double
// sign.
func TestWipedValidatorRecovers(t *testing.T) {
	// Every validator dials every other, so the others redial the victim
	// as it stops: the restarted victim must still be let in (peerGate).
	nw := consensustest.StartNetwork(t, 4, func(int, string) abcitypes.Application {
		return kvstore.NewInMemoryApplication()
	})
	const victim = 3
	addr := cmted25519.PubKey(nw.Keys[victim].Public().(ed25519.PublicKey)).Address().String()
	others := nw.Nodes[:victim]

	before := commit(t, nw.Nodes[0], "before=wipe")
	consensustest.WaitHeight(t, nw.Nodes, before.Height+1, 30*time.Second)
	stopped := status(t, nw.Nodes[victim]).Height
	nw.Stop(t, victim)

	// The other three keep the chain going (30 of 40 power).
	during := commit(t, nw.Nodes[0], "during=wipe")
	consensustest.WaitHeight(t, others, during.Height+2, 30*time.Second)
	home := nw.Configs[victim].Home
	if err := os.RemoveAll(filepath.Join(home, "data")); err != nil {
		t.Fatal(err)
	}
	statePath := filepath.Join(home, "data", "priv_validator_state.json")

	// Started where no peer can reach it, it signs nothing and writes no
	// sign state: stopped like that, the next start recovers again.
	isolated := nw.Configs[victim]
	isolated.P2PListen = loopback(t)
	isolated.PersistentPeers = nil
	alone := startNode(t, isolated, kvstore.NewInMemoryApplication())
	if g := consensus.SignGuardOf(alone); !g.Recovering || g.Decided {
		t.Fatalf("isolated wiped validator: %+v, want recovering and undecided", g)
	}
	if err := alone.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("sign state written before recovery: %v", err)
	}

	n := nw.Restart(t, victim, kvstore.NewInMemoryApplication())
	if g := consensus.SignGuardOf(n); !g.Recovering {
		t.Fatalf("wiped validator not recovering: %+v", g)
	}
	if st := status(t, n); !st.Recovering && !consensus.SignGuardOf(n).Decided {
		t.Fatalf("status of a recovering validator: %+v", st)
	}

	// It catches up with the others through block sync and decides its floor.
	var guard consensus.SignGuard
	testutil.Eventually(t, 60*time.Second, func() bool {
		guard = consensus.SignGuardOf(n)
		st := status(t, n)
		return guard.Decided && !st.CatchingUp && st.Height >= status(t, nw.Nodes[0]).Height-1
	}, "wiped validator to catch up and decide its floor")
	if st := status(t, n); st.Recovering {
		t.Fatalf("status after recovery: %+v", st)
	}
	if guard.Floor <= during.Height {
		t.Fatalf("floor %d at or below the height %d the network had committed before the restart", guard.Floor, during.Height)
	}
	if _, err := os.Stat(statePath); err != nil {
		t.Fatalf("recovered sign state not written: %v", err)
	}

	// It votes again: its precommit is in a commit above the floor.
	var voted int64
	testutil.Eventually(t, 60*time.Second, func() bool {
		h := status(t, nw.Nodes[0]).Height - 1
		for ; h > guard.Floor; h-- {
			signers, _, ok := consensus.CommitSigners(nw.Nodes[0], h)
			if ok && slices.Contains(signers, addr) {
				voted = h
				return true
			}
		}
		return false
	}, "the recovered validator's precommit in a commit above its floor %d", guard.Floor)

	// It refused to sign at the guarded heights, and only there.
	guard = consensus.SignGuardOf(n)
	if len(guard.Refused) == 0 {
		t.Fatalf("no signature refused while recovering (floor %d): the guard was never exercised", guard.Floor)
	}
	for _, h := range guard.Refused {
		if h > guard.Floor {
			t.Fatalf("refused height %d above the floor %d", h, guard.Floor)
		}
	}
	if guard.Signed == 0 {
		t.Fatal("recovered validator signed nothing")
	}

	// On chain: nothing from it between its stop and its floor (the height
	// it was deciding when it stopped may hold its last precommit), and no
	// evidence of a double sign anywhere.
	for h := int64(1); h <= voted; h++ {
		signers, evidence, ok := consensus.CommitSigners(nw.Nodes[0], h)
		if !ok {
			t.Fatalf("node0 lacks the commit of height %d", h)
		}
		if evidence != 0 {
			t.Fatalf("block %d carries %d pieces of evidence", h, evidence)
		}
		if h > stopped+1 && h <= guard.Floor && slices.Contains(signers, addr) {
			t.Fatalf("the wiped validator signed height %d, at or below its floor %d", h, guard.Floor)
		}
	}

	// Its application was rebuilt from the blocks and agrees with the others.
	if v := queryValue(t, n, "during"); v != "wipe" {
		t.Fatalf("recovered app: during = %q", v)
	}
	want, err := nw.Nodes[0].CommittedAppHash(voted)
	if err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 30*time.Second, func() bool {
		got, err := n.CommittedAppHash(voted)
		return err == nil && string(got) == string(want)
	}, "recovered node's app hash at %d to match node0's", voted)

	// The floor outlives a restart: the next start is an ordinary one.
	n = nw.Restart(t, victim, kvstore.NewInMemoryApplication())
	if g := consensus.SignGuardOf(n); g.Recovering {
		t.Fatalf("restart after recovery is recovering again: %+v", g)
	}
	res := commit(t, nw.Nodes[1], "after=recovery")
	consensustest.WaitHeight(t, nw.Nodes, res.Height, 60*time.Second)
}

// TestWipedSoleValidatorRefusesToStart: the only validator of a chain has
// nobody to recover from. Started with its data gone, CometBFT would make
// new blocks from height 1 with the key that signed the old ones, so New
// refuses, naming the missing file and what to do; the same when only the
// sign state file is gone.
func TestWipedSoleValidatorRefusesToStart(t *testing.T) {
	for _, wipe := range []string{"data", filepath.Join("data", "priv_validator_state.json")} {
		t.Run(strings.ReplaceAll(wipe, string(filepath.Separator), "_"), func(t *testing.T) {
			home := initHome(t)
			cfg := devConfig(t, home)
			n := startNode(t, cfg, kvstore.NewInMemoryApplication())
			commit(t, n, "solo=1")
			if err := n.Close(); err != nil {
				t.Fatal(err)
			}
			if err := os.RemoveAll(filepath.Join(home, wipe)); err != nil {
				t.Fatal(err)
			}
			_, err := consensus.New(cfg, kvstore.NewInMemoryApplication(), nil)
			if !errors.Is(err, consensus.ErrSignStateLost) || !errors.Is(err, xnode.ErrConflict) {
				t.Fatalf("New after wiping %s: %v, want ErrSignStateLost", wipe, err)
			}
			for _, want := range []string{filepath.Join(home, "data", "priv_validator_state.json"), "only validator", "backup", "new home", "Recovering a lost node"} {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestSoleValidatorWithLostBlocksRefusesToStart: the only validator whose
// block store was wiped while its sign state file was kept would start over
// from the genesis and stall, FilePV refusing every height it signed
// before; Start refuses instead, naming the store and what to do.
func TestSoleValidatorWithLostBlocksRefusesToStart(t *testing.T) {
	home := initHome(t)
	cfg := devConfig(t, home)
	n := startNode(t, cfg, kvstore.NewInMemoryApplication())
	commit(t, n, "solo=1")
	testutil.Eventually(t, 20*time.Second, func() bool { return status(t, n).Height >= 3 }, "height 3")
	if err := n.Close(); err != nil {
		t.Fatal(err)
	}
	dataDir := filepath.Join(home, "data")
	entries, err := os.ReadDir(dataDir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "priv_validator_state.json" {
			if err := os.RemoveAll(filepath.Join(dataDir, e.Name())); err != nil {
				t.Fatal(err)
			}
		}
	}
	n2, err := consensus.New(cfg, kvstore.NewInMemoryApplication(), nil)
	if err != nil {
		t.Fatalf("New with the sign state kept: %v", err)
	}
	err = n2.Start(context.Background())
	if err == nil {
		n2.Close()
		t.Fatal("the only validator started over an empty block store")
	}
	if !errors.Is(err, consensus.ErrChainDataLost) {
		t.Fatalf("start: %v, want ErrChainDataLost", err)
	}
	for _, want := range []string{filepath.Join(home, "data", "priv_validator_state.json"), dataDir, "only validator", "backup", "new home"} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error %q does not say %q", err, want)
		}
	}
	if err := n2.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestBadPrivValidatorFilesNameFileAndRemedy: every priv validator file
// error on start names the file and what to do.
func TestBadPrivValidatorFilesNameFileAndRemedy(t *testing.T) {
	cases := []struct {
		name  string
		file  string
		data  []byte // nil removes the file
		wants []string
	}{
		{"corrupt state", filepath.Join("data", "priv_validator_state.json"), []byte("{not json"), []string{"unreadable", "remove it", "backup"}},
		{"missing key", filepath.Join("config", "priv_validator_key.json"), nil, []string{"missing", "backup"}},
		{"corrupt key", filepath.Join("config", "priv_validator_key.json"), []byte(`{"address":""}`), []string{"no private key", "backup"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			home := initHome(t)
			path := filepath.Join(home, c.file)
			var err error
			if c.data == nil {
				err = os.Remove(path)
			} else {
				err = os.WriteFile(path, c.data, 0o600)
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = consensus.New(devConfig(t, home), kvstore.NewInMemoryApplication(), nil)
			if err == nil {
				t.Fatal("New succeeded")
			}
			for _, want := range append([]string{path}, c.wants...) {
				if !strings.Contains(err.Error(), want) {
					t.Fatalf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// TestWipedFullNodeResyncs: a full node (key outside the validator set) whose
// data was wiped starts, recovers (it would never sign anyway) and syncs.
func TestWipedFullNodeResyncs(t *testing.T) {
	homeA := initHome(t)
	a := startNode(t, devConfig(t, homeA), kvstore.NewInMemoryApplication())
	res := commit(t, a, "full=node")
	raw, err := consensus.ReadGenesis(homeA)
	if err != nil {
		t.Fatal(err)
	}
	homeB := filepath.Join(t.TempDir(), "cometbft")
	if err := consensus.InitFromGenesis(homeB, raw, newKey(t), "full"); err != nil {
		t.Fatal(err)
	}
	if err := os.RemoveAll(filepath.Join(homeB, "data")); err != nil {
		t.Fatal(err)
	}
	cfgB := devConfig(t, homeB)
	cfgB.PersistentPeers = []string{a.P2PAddress()}
	b := startNode(t, cfgB, kvstore.NewInMemoryApplication())
	testutil.Eventually(t, 30*time.Second, func() bool {
		st := status(t, b)
		return st.Height > res.Height && !st.CatchingUp && consensus.SignGuardOf(b).Decided
	}, "wiped full node to sync past %d", res.Height)
	if v := queryValue(t, b, "full"); v != "node" {
		t.Fatalf("full node app: %q", v)
	}
	if g := consensus.SignGuardOf(b); g.Signed != 0 {
		t.Fatalf("full node signed: %+v", g)
	}
}
