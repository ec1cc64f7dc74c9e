package consensus

import "github.com/cometbft/cometbft/types"

// PendingTxWaiters reports how many BroadcastTxCommit calls are registered
// with n's event router, so tests can check that waiters are cleaned up.
func PendingTxWaiters(n *Node) int {
	l, err := n.running()
	if err != nil {
		return 0
	}
	return l.router.pendingTxWaiters()
}

// SignGuard is the state of a node's signer guard, for tests.
type SignGuard struct {
	// Recovering is true when the node started without its sign state.
	Recovering bool
	// Decided is true once the recovery floor is known and written.
	Decided bool
	// Floor is the highest height the node refuses to sign.
	Floor int64
	// Refused are the heights of the most recent refused signatures.
	Refused []int64
	// Signed counts the signatures the node made since New.
	Signed int
}

// SignGuardOf reports n's signer guard.
func SignGuardOf(n *Node) SignGuard {
	g, refused, signed := n.signer.state()
	sg := SignGuard{Recovering: g.recovering, Decided: g.decided, Floor: g.floor, Signed: signed}
	for _, r := range refused {
		sg.Refused = append(sg.Refused, r.Height)
	}
	return sg
}

// CommitSigners returns the hex addresses of the validators whose precommit
// for the block at height is in n's stored commit of it (the next block's
// LastCommit), and the number of pieces of evidence in the block at height.
// It returns ok false while n has not stored them.
func CommitSigners(n *Node, height int64) (signers []string, evidence int, ok bool) {
	l, err := n.running()
	if err != nil {
		return nil, 0, false
	}
	bs := l.cmt.BlockStore()
	commit := bs.LoadBlockCommit(height)
	block := bs.LoadBlock(height)
	if commit == nil || block == nil {
		return nil, 0, false
	}
	for _, sig := range commit.Signatures {
		if sig.BlockIDFlag == types.BlockIDFlagCommit {
			signers = append(signers, sig.ValidatorAddress.String())
		}
	}
	return signers, len(block.Evidence.Evidence), true
}
