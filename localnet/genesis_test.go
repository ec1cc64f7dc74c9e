package localnet

import (
	"crypto/ed25519"
	"path/filepath"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/overlay"
)

// TestGenerateFundsAndBondsEveryNode: a localnet's genesis makes every node
// a validator with its own peer id bound, funds each operator with at least
// ten times its stake (so it can fund nodes that join later), gives
// CometBFT the same power, and unbonds in a minute.
func TestGenerateFundsAndBondsEveryNode(t *testing.T) {
	l, err := Generate(Options{N: 3, Dir: filepath.Join(t.TempDir(), "net"), BasePort: freeBase(t, 3), Bin: "/bin/true"})
	if err != nil {
		t.Fatal(err)
	}
	gen, err := consensus.LoadGenesis(overlay.Home(l.Nodes[0].Home).CometHome())
	if err != nil {
		t.Fatal(err)
	}
	g, err := abci.ParseGenesisState(gen.AppState)
	if err != nil {
		t.Fatalf("the application refuses the localnet genesis: %v", err)
	}
	if len(g.Validators) != 3 || len(g.Accounts) != 3 || len(gen.Validators) != 3 {
		t.Fatalf("%d validators, %d accounts, %d CometBFT validators; want 3 each", len(g.Validators), len(g.Accounts), len(gen.Validators))
	}
	balance := map[abci.Address]uint64{}
	for _, a := range g.Accounts {
		balance[a.Address] = a.Balance
	}
	for i, n := range l.Nodes {
		op, err := overlay.LoadOperatorKey(overlay.Home(n.Home).OperatorPath())
		if err != nil {
			t.Fatal(err)
		}
		v := g.Validators[i]
		if v.PeerID != n.PeerID || !ed25519.PublicKey(v.PubKey).Equal(op.Public()) || v.Address != abci.AddressOf(op.Public().(ed25519.PublicKey)) {
			t.Fatalf("validator %d is %+v, want %s's peer id and operator key", i, v, n.Name)
		}
		if balance[v.Address] < 10*v.Stake {
			t.Fatalf("%s holds %d liquid for %d bonded, want ten times", n.Name, balance[v.Address], v.Stake)
		}
		if gen.Validators[i].Power != int64(v.Stake) {
			t.Fatalf("%s: CometBFT power %d, stake %d", n.Name, gen.Validators[i].Power, v.Stake)
		}
	}
	if g.Params.UnbondingTime != int64(time.Minute) || g.Params.JailTime != int64(10*time.Minute) || g.Params.MinWriteBalance != 1 {
		t.Fatalf("params %+v: want a minute to unbond, 10 minutes of jail, min_write_balance 1", g.Params)
	}
}
