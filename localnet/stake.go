package localnet

import (
	"context"
	"crypto/ed25519"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/admission"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/overlay"
)

// JoinedStake is what a node added to an in-process network bonds to take
// part in placement (AddNode), and what the tests bond for new validators:
// the genesis stake, so that every validator weighs the same.
const JoinedStake = abci.GenesisStake

// txNonce is a nonce no test signer has used: the clock, kept increasing.
var lastNonce atomic.Uint64

func txNonce() uint64 {
	for {
		last := lastNonce.Load()
		n := max(last+1, uint64(time.Now().UnixNano()))
		if lastNonce.CompareAndSwap(last, n) {
			return n
		}
	}
}

// Operator is node i's operator key (its account, and its consensus key).
func (p *InProcess) Operator(tb testing.TB, i int) ed25519.PrivateKey {
	tb.Helper()
	k, err := overlay.LoadOperatorKey(p.Homes[i].OperatorPath())
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Identity is node i's libp2p identity key.
func (p *InProcess) Identity(tb testing.TB, i int) crypto.PrivKey {
	tb.Helper()
	k, err := overlay.LoadOrCreateIdentity(p.Homes[i].IdentityPath())
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

// Commit submits tx through the first live node and fails tb unless it
// commits with code 0 within a minute.
func (p *InProcess) Commit(tb testing.TB, what string, tx []byte) api.TxResult {
	tb.Helper()
	live := p.Live()
	if len(live) == 0 {
		tb.Fatalf("localnet: %s: no live node", what)
	}
	return commitThrough(tb, live[0], what, tx)
}

func commitThrough(tb testing.TB, n *overlay.Node, what string, tx []byte) api.TxResult {
	tb.Helper()
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	res, err := n.RelayTx(ctx, tx)
	if err != nil {
		tb.Fatalf("localnet: %s: %v", what, err)
	}
	if res.Status != "committed" || res.Code != 0 {
		tb.Fatalf("localnet: %s: %s (code %d): %s", what, res.Status, res.Code, res.Log)
	}
	return res
}

// Fund sends amount from node from's operator account to node to's.
func (p *InProcess) Fund(tb testing.TB, from, to int, amount uint64) {
	tb.Helper()
	dst := abci.AddressOf(p.Operator(tb, to).Public().(ed25519.PublicKey))
	tx, err := abci.NewSend(p.Operator(tb, from), p.ChainID, txNonce(), dst, amount)
	if err != nil {
		tb.Fatal(err)
	}
	p.Commit(tb, "send", tx)
}

// RegisterNode registers node i for placement with stake bonded from its
// operator account, which must hold it.
func (p *InProcess) RegisterNode(tb testing.TB, i int, stake uint64) {
	tb.Helper()
	tx, err := abci.NewRegisterNode(p.Operator(tb, i), p.ChainID, txNonce(), p.Identity(tb, i), stake)
	if err != nil {
		tb.Fatal(err)
	}
	p.Commit(tb, "register node", tx)
}

// CreateValidator makes node i a validator with stake bonded from its
// operator account (which is also its consensus key), binding its peer id.
func (p *InProcess) CreateValidator(tb testing.TB, i int, stake uint64) {
	tb.Helper()
	op := p.Operator(tb, i)
	tx, err := abci.NewCreateValidator(op, p.ChainID, txNonce(), op, p.Identity(tb, i), stake)
	if err != nil {
		tb.Fatal(err)
	}
	p.Commit(tb, "create validator", tx)
}

// Unbond unbonds amount of node i's stake (its validator's or its node
// registration's), signed by its operator.
func (p *InProcess) Unbond(tb testing.TB, i int, amount uint64) {
	tb.Helper()
	tx, err := abci.NewUnbond(p.Operator(tb, i), p.ChainID, txNonce(), amount)
	if err != nil {
		tb.Fatal(err)
	}
	p.Commit(tb, "unbond", tx)
}

// Unjail asks the chain to release node i's jailed validator, through the
// first live node. The chain refuses (an error) until its jail time is over.
func (p *InProcess) Unjail(tb testing.TB, i int) error {
	tb.Helper()
	tx, err := abci.NewUnjail(p.Operator(tb, i), p.ChainID, txNonce())
	if err != nil {
		tb.Fatal(err)
	}
	live := p.Live()
	if len(live) == 0 {
		tb.Fatal("localnet: unjail: no live node")
	}
	ctx, cancel := context.WithTimeout(tb.Context(), time.Minute)
	defer cancel()
	res, err := live[0].RelayTx(ctx, tx)
	if err == nil && (res.Status != "committed" || res.Code != 0) {
		err = fmt.Errorf("unjail: %s (code %d): %s", res.Status, res.Code, res.Log)
	}
	return err
}

// homes maps each node started in process to its home, so that AddNode can
// sign with the operator key of the node it joins through.
var homes sync.Map // *overlay.Node → overlay.Home

// registerJoined funds the operator of the node in h from the operator of
// through and registers the node for placement with JoinedStake, when the
// chain admits only registered nodes (on an open chain every node takes
// part already, and no account is funded).
func registerJoined(tb testing.TB, through *overlay.Node, h overlay.Home) {
	tb.Helper()
	gen, err := consensus.LoadGenesis(h.CometHome())
	if err != nil {
		tb.Fatal(err)
	}
	if closed, err := admission.GenesisRegistersNodes(gen.AppState); err != nil {
		tb.Fatal(err)
	} else if !closed {
		return
	}
	v, ok := homes.Load(through)
	if !ok {
		tb.Fatalf("localnet: the node %s was not started by this package", through.ID())
	}
	funder, err := overlay.LoadOperatorKey(v.(overlay.Home).OperatorPath())
	if err != nil {
		tb.Fatal(err)
	}
	op, err := overlay.LoadOperatorKey(h.OperatorPath())
	if err != nil {
		tb.Fatal(err)
	}
	id, err := overlay.LoadOrCreateIdentity(h.IdentityPath())
	if err != nil {
		tb.Fatal(err)
	}
	send, err := abci.NewSend(funder, gen.ChainID, txNonce(), abci.AddressOf(op.Public().(ed25519.PublicKey)), 2*JoinedStake)
	if err != nil {
		tb.Fatal(err)
	}
	commitThrough(tb, through, "fund the joined node", send)
	reg, err := abci.NewRegisterNode(op, gen.ChainID, txNonce(), id, JoinedStake)
	if err != nil {
		tb.Fatal(err)
	}
	commitThrough(tb, through, "register the joined node", reg)
}
