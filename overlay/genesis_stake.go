package overlay

import (
	"crypto/ed25519"
	"encoding/json"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
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

// GenesisNode is a node a new network's genesis funds and bonds: its
// operator account gets a balance, and its peer id is registered for
// placement, as a validator (with its operator key as consensus key) or as
// a node.
type GenesisNode struct {
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

func (g GenesisNode) withDefaults() GenesisNode {
	if g.Stake == 0 {
		g.Stake = GenesisStake
	}
	if g.Balance == 0 {
		g.Balance = GenesisBalanceFactor * g.Stake
	}
	return g
}

// stakingGenesis returns the app_state that funds and bonds nodes under
// params, and the CometBFT genesis validators matching it (power = stake).
// Every node needs an operator key and a peer id, and no key or peer id may
// appear twice. A genesis with accounts protects its chain from spam: writes
// need min_write_balance (at least 1) of liquid balance.
func stakingGenesis(params abci.Params, nodes []GenesisNode) (json.RawMessage, []consensus.Validator, error) {
	if len(nodes) == 0 {
		return nil, nil, fmt.Errorf("%w: genesis: no node to fund", xnode.ErrInvalidArgument)
	}
	if params.MinWriteBalance == 0 {
		params.MinWriteBalance = 1
	}
	g := abci.GenesisState{Params: params, Admins: [][]byte{}}
	var cvals []consensus.Validator
	seenKey := map[string]bool{}
	seenPeer := map[peer.ID]bool{}
	for i, n := range nodes {
		n = n.withDefaults()
		if len(n.Operator) != ed25519.PublicKeySize {
			return nil, nil, fmt.Errorf("%w: genesis: nodes[%d] (%s): operator key must be a %d-byte ed25519 public key, got %d bytes",
				xnode.ErrInvalidArgument, i, n.Name, ed25519.PublicKeySize, len(n.Operator))
		}
		if err := n.PeerID.Validate(); err != nil {
			return nil, nil, fmt.Errorf("%w: genesis: nodes[%d] (%s): peer id: %v", xnode.ErrInvalidArgument, i, n.Name, err)
		}
		if seenKey[string(n.Operator)] || seenPeer[n.PeerID] {
			return nil, nil, fmt.Errorf("%w: genesis: nodes[%d] (%s): operator key or peer id given twice", xnode.ErrInvalidArgument, i, n.Name)
		}
		if n.Stake > 1<<50 || n.Balance > 1<<60 {
			return nil, nil, fmt.Errorf("%w: genesis: nodes[%d] (%s): stake %d or balance %d too large", xnode.ErrInvalidArgument, i, n.Name, n.Stake, n.Balance)
		}
		seenKey[string(n.Operator)], seenPeer[n.PeerID] = true, true
		addr := abci.AddressOf(n.Operator)
		g.Accounts = append(g.Accounts, abci.GenesisAccount{Address: addr, Balance: n.Balance})
		if n.Validator {
			g.Validators = append(g.Validators, abci.GenesisValidator{Address: addr, PubKey: n.Operator, PeerID: n.PeerID.String(), Stake: n.Stake})
			cvals = append(cvals, consensus.Validator{Name: n.Name, PubKey: n.Operator, Power: int64(n.Stake)})
		} else {
			g.Nodes = append(g.Nodes, abci.GenesisNode{Address: addr, PeerID: n.PeerID.String(), Stake: n.Stake})
		}
	}
	if len(cvals) == 0 {
		return nil, nil, fmt.Errorf("%w: genesis: no validator among the nodes", xnode.ErrInvalidArgument)
	}
	if err := g.Validate(); err != nil {
		return nil, nil, fmt.Errorf("%w: %v", xnode.ErrInvalidArgument, err)
	}
	out, err := json.Marshal(g)
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: genesis app state: %w", err)
	}
	return out, cvals, nil
}
