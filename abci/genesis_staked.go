package abci

import (
	"crypto/ed25519"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
)

// Stake of the nodes a new network's genesis bonds (`xnode start` on a new
// home, `xnode localnet`), and how much more each operator keeps liquid.
const (
	// GenesisStake is each genesis node's bonded stake; a validator's voting
	// power equals it.
	GenesisStake uint64 = 1_000_000
	// GenesisBalanceFactor is each genesis operator's liquid balance over
	// its stake: at least ten times, so that an operator can fund and bond
	// the nodes that join later (each needs about GenesisStake).
	GenesisBalanceFactor uint64 = 100
)

// StakedNode is a node a new network's genesis funds and bonds: its
// operator account gets a balance, and its peer id is registered for
// placement, as a validator (with its operator key as consensus key) or as
// a node.
type StakedNode struct {
	// Name is the validator's name in the CometBFT genesis.
	Name string
	// Operator is the node's operator public key: its account and, for a
	// validator, its consensus key.
	Operator ed25519.PublicKey
	// PeerID is the node's libp2p peer id (keys/identity.key).
	PeerID peer.ID
	// Validator makes the node a genesis validator; otherwise it is a
	// registered node that holds data but does not vote.
	Validator bool
	// Stake is bonded; default GenesisStake.
	Stake uint64
	// Balance is liquid; default GenesisBalanceFactor × Stake.
	Balance uint64
}

func (n StakedNode) withDefaults() StakedNode {
	if n.Stake == 0 {
		n.Stake = GenesisStake
	}
	if n.Balance == 0 {
		n.Balance = GenesisBalanceFactor * n.Stake
	}
	return n
}

// StakedGenesis returns the genesis state that funds and bonds nodes under
// params. Its Validators are the validator nodes in the order given, each
// with its stake as voting power (the CometBFT genesis validators follow
// from them). Every node needs an operator key and a peer id, no key or
// peer id may appear twice, and at least one node must be a validator. A
// genesis with accounts protects its chain from spam: writes need
// min_write_balance (at least 1) of liquid balance.
func StakedGenesis(params Params, nodes []StakedNode) (GenesisState, error) {
	if len(nodes) == 0 {
		return GenesisState{}, fmt.Errorf("%w: genesis: no node to fund", xnode.ErrInvalidArgument)
	}
	if params.MinWriteBalance == 0 {
		params.MinWriteBalance = 1
	}
	g := GenesisState{Params: params, Admins: [][]byte{}}
	seenKey := map[string]bool{}
	seenPeer := map[peer.ID]bool{}
	for i, n := range nodes {
		n = n.withDefaults()
		if len(n.Operator) != ed25519.PublicKeySize {
			return GenesisState{}, fmt.Errorf("%w: genesis: nodes[%d] (%s): operator key must be a %d-byte ed25519 public key, got %d bytes",
				xnode.ErrInvalidArgument, i, n.Name, ed25519.PublicKeySize, len(n.Operator))
		}
		if err := n.PeerID.Validate(); err != nil {
			return GenesisState{}, fmt.Errorf("%w: genesis: nodes[%d] (%s): peer id: %v", xnode.ErrInvalidArgument, i, n.Name, err)
		}
		if seenKey[string(n.Operator)] || seenPeer[n.PeerID] {
			return GenesisState{}, fmt.Errorf("%w: genesis: nodes[%d] (%s): operator key or peer id given twice", xnode.ErrInvalidArgument, i, n.Name)
		}
		if n.Stake > 1<<50 || n.Balance > 1<<60 {
			return GenesisState{}, fmt.Errorf("%w: genesis: nodes[%d] (%s): stake %d or balance %d too large", xnode.ErrInvalidArgument, i, n.Name, n.Stake, n.Balance)
		}
		seenKey[string(n.Operator)], seenPeer[n.PeerID] = true, true
		addr := AddressOf(n.Operator)
		g.Accounts = append(g.Accounts, GenesisAccount{Address: addr, Balance: n.Balance})
		if n.Validator {
			g.Validators = append(g.Validators, GenesisValidator{Address: addr, PubKey: n.Operator, PeerID: n.PeerID.String(), Stake: n.Stake})
		} else {
			g.Nodes = append(g.Nodes, GenesisNode{Address: addr, PeerID: n.PeerID.String(), Stake: n.Stake})
		}
	}
	if len(g.Validators) == 0 {
		return GenesisState{}, fmt.Errorf("%w: genesis: no validator among the nodes", xnode.ErrInvalidArgument)
	}
	if err := g.Validate(); err != nil {
		return GenesisState{}, fmt.Errorf("%w: %v", xnode.ErrInvalidArgument, err)
	}
	return g, nil
}
