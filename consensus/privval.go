package consensus

import (
	"errors"
	"fmt"
	"math"
	"sync"

	"github.com/cometbft/cometbft/crypto"
	"github.com/cometbft/cometbft/privval"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
)

// signStep orders what a validator signs within one round, as CometBFT's
// FilePV numbers them.
type signStep int8

const (
	stepPropose   signStep = 1
	stepPrevote   signStep = 2
	stepPrecommit signStep = 3
)

func (s signStep) String() string {
	switch s {
	case stepPropose:
		return "proposal"
	case stepPrevote:
		return "prevote"
	case stepPrecommit:
		return "precommit"
	}
	return fmt.Sprintf("step %d", int8(s))
}

func voteStep(t cmtproto.SignedMsgType) signStep {
	if t == cmtproto.PrecommitType {
		return stepPrecommit
	}
	return stepPrevote
}

// recoveryMargin is how many heights above the highest height its peers
// report deciding a recovering validator also refuses. Its lost sign state
// may hold a vote one height beyond that: a validator moves to height H+1 as
// soon as it has +2/3 precommits for H, and its own precommit, the one the
// others still needed to commit H, may be exactly what was lost with it. It
// cannot be two heights ahead: that takes +2/3 of the validators at H+1,
// and the peers it hears from would report it.
const recoveryMargin = 1

// signGuard decides whether the validator may sign a (height, round, step).
// It is a pure state machine: the adapter feeds it what the node sees and
// asks it before every signature.
//
// A validator whose sign state is intact is never guarded (FilePV's own
// last-signed check protects it). One whose sign state was lost starts
// recovering: it signs nothing until its floor is decided, then nothing at
// or below the floor, which covers every height it may have signed before
// the loss.
type signGuard struct {
	recovering bool  // the sign state was lost
	decided    bool  // the floor is known (and persisted)
	floor      int64 // heights at or below are refused
}

// errNotSigning marks every refusal of the guard.
var errNotSigning = errors.New("consensus: validator not signing")

// maySign reports whether (height, round, step) may be signed, and why not.
func (g *signGuard) maySign(height int64, round int32, step signStep) error {
	if !g.recovering {
		return nil
	}
	if !g.decided {
		return fmt.Errorf("%w: %s at height %d round %d refused: recovering a lost sign state, nothing is signed until the node has caught up with its peers",
			errNotSigning, step, height, round)
	}
	if height <= g.floor {
		return fmt.Errorf("%w: %s at height %d round %d refused: at or below the recovery floor %d (the network's height when the sign state was recovered)",
			errNotSigning, step, height, round, g.floor)
	}
	return nil
}

// setFloor ends the wait: from now on only heights above floor are signed.
func (g *signGuard) setFloor(floor int64) {
	g.decided = true
	g.floor = floor
}

// recoveryView is what a recovering node sees of the chain and its peers.
type recoveryView struct {
	// Syncing is true while CometBFT block-syncs: consensus is not running.
	Syncing bool
	// StoreHeight is the last block this node has stored.
	StoreHeight int64
	// PeerHeights are the heights connected peers report they are deciding
	// (their last committed height + 1); 0 for a peer not heard from yet.
	PeerHeights []int64
}

// recoveryFloor returns the floor of a recovering validator once it may be
// decided: the node has finished block sync (it has caught up with its
// peers), and at least one peer has told it the height it is at. The floor
// is the highest height seen, its own next height included, plus
// recoveryMargin. ok is false while it cannot be decided yet.
func recoveryFloor(v recoveryView) (floor int64, ok bool) {
	if v.Syncing {
		return 0, false
	}
	seen := int64(0)
	for _, h := range v.PeerHeights {
		seen = max(seen, h)
	}
	if seen == 0 {
		return 0, false // nobody has said where the network is
	}
	return max(seen, v.StoreHeight+1) + recoveryMargin, true
}

// guardedSigner is the PrivValidator the node hands to CometBFT: its FilePV
// behind a signGuard. Safe for concurrent use.
type guardedSigner struct {
	pv *privval.FilePV

	mu      sync.Mutex
	guard   signGuard
	refused []refusal // the most recent refusals, at most maxRefusals
	signed  int
}

// refusal is one signature the guard refused.
type refusal struct {
	Height int64
	Round  int32
	Step   signStep
}

const maxRefusals = 64

var _ types.PrivValidator = (*guardedSigner)(nil)

func newGuardedSigner(pv *privval.FilePV, recovering bool) *guardedSigner {
	return &guardedSigner{pv: pv, guard: signGuard{recovering: recovering}}
}

// GetPubKey implements types.PrivValidator.
func (s *guardedSigner) GetPubKey() (crypto.PubKey, error) { return s.pv.GetPubKey() }

// SignVote implements types.PrivValidator.
func (s *guardedSigner) SignVote(chainID string, vote *cmtproto.Vote) error {
	return s.sign(vote.Height, vote.Round, voteStep(vote.Type), func() error { return s.pv.SignVote(chainID, vote) })
}

// SignProposal implements types.PrivValidator.
func (s *guardedSigner) SignProposal(chainID string, p *cmtproto.Proposal) error {
	return s.sign(p.Height, p.Round, stepPropose, func() error { return s.pv.SignProposal(chainID, p) })
}

func (s *guardedSigner) sign(height int64, round int32, step signStep, f func() error) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.guard.maySign(height, round, step); err != nil {
		if len(s.refused) == maxRefusals {
			s.refused = append(s.refused[:0], s.refused[1:]...)
		}
		s.refused = append(s.refused, refusal{height, round, step})
		return err
	}
	// FilePV panics when it cannot persist what it signed. The signature
	// is then not handed back, so nothing unpersisted leaves the node, and
	// the node keeps running.
	var signErr error
	if err := catchPanic(func() { signErr = f() }); err != nil {
		return fmt.Errorf("consensus: sign %s at height %d: %w", step, height, err)
	}
	if signErr == nil {
		s.signed++
	}
	return signErr
}

// setFloor persists floor as the FilePV's last signed state, so that the
// floor holds across restarts (FilePV refuses every height at or below it
// with round MaxInt32 and the last step), and only then lets the guard sign
// above it. If the state cannot be written nothing is signed yet.
func (s *guardedSigner) setFloor(floor int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	lss := &s.pv.LastSignState
	lss.Height = floor
	lss.Round = math.MaxInt32
	lss.Step = int8(stepPrecommit)
	lss.Signature = nil
	lss.SignBytes = nil
	if err := catchPanic(lss.Save); err != nil {
		return fmt.Errorf("write priv validator state: %w", err)
	}
	s.guard.setFloor(floor)
	return nil
}

// state returns the guard's state and its recent refusals.
func (s *guardedSigner) state() (signGuard, []refusal, int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.guard, append([]refusal(nil), s.refused...), s.signed
}
