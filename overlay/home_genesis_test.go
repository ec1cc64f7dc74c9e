package overlay_test

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/admission"
	"github.com/xnode/xnode/consensus"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/overlay"
)

// TestDevGenesisFundsAndBondsTheNode: the genesis of a new dev home (what
// `xnode start` writes) funds the node's operator with ten times its stake
// or more, bonds it as the one validator with its peer id, and so closes
// placement to unregistered peers; the application accepts it.
func TestDevGenesisFundsAndBondsTheNode(t *testing.T) {
	h := overlay.Home(filepath.Join(t.TempDir(), "dev"))
	if err := overlay.Init(h, overlay.InitOptions{Config: overlay.DefaultConfig()}); err != nil {
		t.Fatal(err)
	}
	gen, err := consensus.LoadGenesis(h.CometHome())
	if err != nil {
		t.Fatal(err)
	}
	g, err := abci.ParseGenesisState(gen.AppState)
	if err != nil {
		t.Fatalf("the application refuses the dev genesis: %v", err)
	}
	op, err := overlay.LoadOperatorKey(h.OperatorPath())
	if err != nil {
		t.Fatal(err)
	}
	id, err := overlay.LoadOrCreateIdentity(h.IdentityPath())
	if err != nil {
		t.Fatal(err)
	}
	pid, _ := peer.IDFromPrivateKey(id)
	addr := abci.AddressOf(op.Public().(ed25519.PublicKey))
	if len(g.Validators) != 1 || g.Validators[0].Address != addr || g.Validators[0].PeerID != pid.String() ||
		!ed25519.PublicKey(g.Validators[0].PubKey).Equal(op.Public()) {
		t.Fatalf("validators %+v, want the node (%s, %s)", g.Validators, addr, pid)
	}
	if len(g.Accounts) != 1 || g.Accounts[0].Address != addr || g.Accounts[0].Balance < 10*g.Validators[0].Stake {
		t.Fatalf("accounts %+v: the operator must hold ten times its stake %d", g.Accounts, g.Validators[0].Stake)
	}
	if len(gen.Validators) != 1 || gen.Validators[0].Power != int64(g.Validators[0].Stake) {
		t.Fatalf("CometBFT validators %+v, want one of power %d", gen.Validators, g.Validators[0].Stake)
	}
	p := g.Params
	if p.ReplicationFactor != 1 || p.UnbondingTime != int64(time.Minute) || p.JailTime != int64(10*time.Minute) || p.MinWriteBalance != 1 {
		t.Fatalf("dev params %+v: want R=1, a minute to unbond, 10 minutes of jail, min_write_balance 1", p)
	}
	if closed, err := admission.GenesisRegistersNodes(gen.AppState); err != nil || !closed {
		t.Fatalf("the dev genesis leaves placement open (%v)", err)
	}
}

func TestInitRefusesBadGenesisNodes(t *testing.T) {
	key := func() ed25519.PublicKey {
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		return pub
	}
	pid := tu.PeerID(t)
	k := key()
	for _, tc := range []struct {
		name  string
		nodes []abci.StakedNode
		vals  []consensus.Validator
		want  string
	}{
		{"short key", []abci.StakedNode{{Name: "a", Operator: k[:5], PeerID: pid, Validator: true}}, nil, "operator key"},
		{"no peer id", []abci.StakedNode{{Name: "a", Operator: k, Validator: true}}, nil, "peer id"},
		{"same peer twice", []abci.StakedNode{{Name: "a", Operator: k, PeerID: pid, Validator: true}, {Name: "b", Operator: key(), PeerID: pid}}, nil, "twice"},
		{"no validator", []abci.StakedNode{{Name: "a", Operator: k, PeerID: pid}}, nil, "no validator"},
		{"nodes and validators", []abci.StakedNode{{Name: "a", Operator: k, PeerID: pid, Validator: true}}, []consensus.Validator{{Name: "a", PubKey: k, Power: 1}}, "not both"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := overlay.Home(filepath.Join(t.TempDir(), "h"))
			err := overlay.Init(h, overlay.InitOptions{Config: overlay.DefaultConfig(), Nodes: tc.nodes, Validators: tc.vals})
			if !errors.Is(err, xnode.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Init = %v, want INVALID_ARGUMENT naming %q", err, tc.want)
			}
			if h.Exists() {
				t.Fatal("a refused Init left a home")
			}
		})
	}
}
