package abci

import (
	"errors"
	"strings"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
)

// TestStakedGenesis: validators keep the order given and their stake as
// power; a node that is not a validator is registered for placement; each
// operator is funded GenesisBalanceFactor times its stake unless told; the
// application accepts the result.
func TestStakedGenesis(t *testing.T) {
	pid := func(name string) peer.ID {
		id, err := peer.IDFromPrivateKey(peerKey(t, name))
		if err != nil {
			t.Fatal(err)
		}
		return id
	}
	nodes := []StakedNode{
		{Name: "v0", Operator: pub(key("v0")), PeerID: pid("v0"), Validator: true},
		{Name: "n1", Operator: pub(key("n1")), PeerID: pid("n1")},
		{Name: "v2", Operator: pub(key("v2")), PeerID: pid("v2"), Validator: true, Stake: 7, Balance: 9},
	}
	g, err := StakedGenesis(DefaultParams(), nodes)
	if err != nil {
		t.Fatal(err)
	}
	if len(g.Validators) != 2 || g.Validators[0].Address != addr(key("v0")) || g.Validators[0].Stake != GenesisStake ||
		g.Validators[1].Address != addr(key("v2")) || g.Validators[1].Stake != 7 {
		t.Fatalf("validators %+v", g.Validators)
	}
	if len(g.Nodes) != 1 || g.Nodes[0].PeerID != pid("n1").String() || g.Nodes[0].Stake != GenesisStake {
		t.Fatalf("nodes %+v", g.Nodes)
	}
	if len(g.Accounts) != 3 || g.Accounts[0].Balance != GenesisBalanceFactor*GenesisStake || g.Accounts[2].Balance != 9 {
		t.Fatalf("accounts %+v", g.Accounts)
	}
	if g.Params.MinWriteBalance != 1 {
		t.Fatalf("min_write_balance %d, want 1: a funded genesis protects its chain from spam", g.Params.MinWriteBalance)
	}
	if err := g.Validate(); err != nil {
		t.Fatal(err)
	}
}

func TestStakedGenesisRefusesBadNodes(t *testing.T) {
	pid, err := peer.IDFromPrivateKey(peerKey(t, "p"))
	if err != nil {
		t.Fatal(err)
	}
	k := pub(key("k"))
	for _, tc := range []struct {
		name  string
		nodes []StakedNode
		want  string
	}{
		{"none", nil, "no node"},
		{"short key", []StakedNode{{Name: "a", Operator: k[:5], PeerID: pid, Validator: true}}, "operator key"},
		{"no peer id", []StakedNode{{Name: "a", Operator: k, Validator: true}}, "peer id"},
		{"same key twice", []StakedNode{{Name: "a", Operator: k, PeerID: pid, Validator: true}, {Name: "b", Operator: k, PeerID: peer.ID("x")}}, "twice"},
		{"same peer twice", []StakedNode{{Name: "a", Operator: k, PeerID: pid, Validator: true}, {Name: "b", Operator: pub(key("b")), PeerID: pid}}, "twice"},
		{"no validator", []StakedNode{{Name: "a", Operator: k, PeerID: pid}}, "no validator"},
		{"huge stake", []StakedNode{{Name: "a", Operator: k, PeerID: pid, Validator: true, Stake: 1 << 62}}, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := StakedGenesis(DefaultParams(), tc.nodes)
			if !errors.Is(err, xnode.ErrInvalidArgument) || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("StakedGenesis = %v, want INVALID_ARGUMENT naming %q", err, tc.want)
			}
		})
	}
}
