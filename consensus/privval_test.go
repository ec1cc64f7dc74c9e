package consensus

import (
	"bytes"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	"github.com/cometbft/cometbft/privval"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	"github.com/cometbft/cometbft/types"
)

func TestSignGuardDecides(t *testing.T) {
	steps := []signStep{stepPropose, stepPrevote, stepPrecommit}

	// An intact sign state is never guarded: FilePV's own check applies.
	intact := signGuard{}
	for _, s := range steps {
		if err := intact.maySign(1, 0, s); err != nil {
			t.Fatalf("intact guard refused %s at 1: %v", s, err)
		}
	}

	// Recovering, before the floor is decided: nothing at all, whatever the
	// height, round or step.
	g := signGuard{recovering: true}
	for _, h := range []int64{1, 50, 51, 52, 1 << 40} {
		for _, r := range []int32{0, 1, math.MaxInt32} {
			for _, s := range steps {
				err := g.maySign(h, r, s)
				if !errors.Is(err, errNotSigning) || !strings.Contains(err.Error(), "caught up") {
					t.Fatalf("undecided guard: %s at %d/%d: %v, want a refusal saying it waits to catch up", s, h, r, err)
				}
			}
		}
	}

	// Floor 51: every height up to 51 refused in every round and step (the
	// height that was in progress when the state was lost is never signed
	// again), everything above signed.
	g.setFloor(51)
	cases := []struct {
		height int64
		round  int32
		ok     bool
	}{
		{1, 0, false},
		{50, 0, false},
		{51, 0, false},
		{51, 7, false},
		{51, math.MaxInt32, false},
		{52, 0, true},
		{52, 3, true},
		{1 << 40, 0, true},
	}
	for _, c := range cases {
		for _, s := range steps {
			err := g.maySign(c.height, c.round, s)
			if c.ok && err != nil {
				t.Fatalf("floor 51: %s at %d/%d refused: %v", s, c.height, c.round, err)
			}
			if !c.ok && (!errors.Is(err, errNotSigning) || !strings.Contains(err.Error(), "floor 51")) {
				t.Fatalf("floor 51: %s at %d/%d: %v, want a refusal naming the floor", s, c.height, c.round, err)
			}
		}
	}
}

func TestRecoveryFloor(t *testing.T) {
	cases := []struct {
		name  string
		view  recoveryView
		floor int64
		ok    bool
	}{
		{"still block-syncing", recoveryView{Syncing: true, StoreHeight: 10, PeerHeights: []int64{12}}, 0, false},
		{"no peers", recoveryView{StoreHeight: 10}, 0, false},
		{"peers not heard from yet", recoveryView{StoreHeight: 10, PeerHeights: []int64{0, 0}}, 0, false},
		// Peers decide 12 (they committed 11): 12 may have been signed, and
		// 13 too if this node saw 12 commit before them.
		{"caught up", recoveryView{StoreHeight: 11, PeerHeights: []int64{12, 0, 11}}, 13, true},
		{"behind its peers", recoveryView{StoreHeight: 3, PeerHeights: []int64{40}}, 41, true},
		// Blocks kept, only the sign state lost: its own next height counts.
		{"ahead of the peers it hears", recoveryView{StoreHeight: 20, PeerHeights: []int64{12}}, 22, true},
		{"fresh chain", recoveryView{StoreHeight: 0, PeerHeights: []int64{1}}, 2, true},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			floor, ok := recoveryFloor(c.view)
			if floor != c.floor || ok != c.ok {
				t.Fatalf("recoveryFloor(%+v) = %d, %t; want %d, %t", c.view, floor, ok, c.floor, c.ok)
			}
		})
	}
}

// newTestFilePV is a FilePV with a fresh key whose files live in dir; the
// state file is not written.
func newTestFilePV(t *testing.T, dir string) (*privval.FilePV, string) {
	t.Helper()
	keyPath := filepath.Join(dir, "config", "priv_validator_key.json")
	statePath := filepath.Join(dir, "data", "priv_validator_state.json")
	for _, d := range []string{filepath.Dir(keyPath), filepath.Dir(statePath)} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	pv := privval.NewFilePV(cmted25519.GenPrivKey(), keyPath, statePath)
	pv.Key.Save()
	return pv, statePath
}

func testVote(t *testing.T, pv *privval.FilePV, height int64, round int32, typ cmtproto.SignedMsgType) *cmtproto.Vote {
	t.Helper()
	return &cmtproto.Vote{
		Type:             typ,
		Height:           height,
		Round:            round,
		ValidatorAddress: pv.GetAddress(),
		BlockID:          cmtproto.BlockID{}, // nil vote: no extension to sign
	}
}

// TestGuardedSignerRecovers drives the signer CometBFT is given through a
// recovery on a real FilePV: it refuses everything until the floor is set,
// the floor is written as the state file, signing resumes above it, and a
// node loaded from that file (the next start) refuses the floor by itself.
func TestGuardedSignerRecovers(t *testing.T) {
	dir := t.TempDir()
	pv, statePath := newTestFilePV(t, dir)
	s := newGuardedSigner(pv, true)
	const chainID = "guard-test"

	if err := s.SignVote(chainID, testVote(t, pv, 5, 0, cmtproto.PrevoteType)); !errors.Is(err, errNotSigning) {
		t.Fatalf("before the floor: %v, want a refusal", err)
	}
	if err := s.SignProposal(chainID, &cmtproto.Proposal{Type: cmtproto.ProposalType, Height: 9, Round: 0, PolRound: -1}); !errors.Is(err, errNotSigning) {
		t.Fatalf("proposal before the floor: %v, want a refusal", err)
	}
	if _, err := os.Stat(statePath); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("state file written before the floor was decided: %v", err)
	}

	const floor = 12
	if err := s.setFloor(floor); err != nil {
		t.Fatal(err)
	}
	// The floor is on disk and holds without the guard: the FilePV the next
	// start loads from the file refuses every round and step at the floor.
	next := reloadFilePV(t, pv, dir)
	for _, r := range []int32{0, 5, math.MaxInt32} {
		for _, step := range []signStep{stepPropose, stepPrevote, stepPrecommit} {
			if _, err := next.LastSignState.CheckHRS(floor, r, int8(step)); err == nil {
				t.Fatalf("reloaded state allows %s at the floor, round %d", step, r)
			}
		}
	}
	if _, err := next.LastSignState.CheckHRS(floor+1, 0, int8(stepPropose)); err != nil {
		t.Fatalf("reloaded state refuses above the floor: %v", err)
	}

	for _, typ := range []cmtproto.SignedMsgType{cmtproto.PrevoteType, cmtproto.PrecommitType} {
		if err := s.SignVote(chainID, testVote(t, pv, floor, 3, typ)); !errors.Is(err, errNotSigning) {
			t.Fatalf("%v at the floor: %v, want a refusal", typ, err)
		}
	}
	v := testVote(t, pv, floor+1, 0, cmtproto.PrevoteType)
	if err := s.SignVote(chainID, v); err != nil {
		t.Fatalf("prevote above the floor: %v", err)
	}
	pub, err := s.GetPubKey()
	if err != nil {
		t.Fatal(err)
	}
	if !pub.VerifySignature(types.VoteSignBytes(chainID, v), v.Signature) {
		t.Fatal("signature above the floor does not verify")
	}
	g, refused, signed := s.state()
	if !g.decided || g.floor != floor || signed != 1 || len(refused) != 4 {
		t.Fatalf("guard %+v, %d refusals %v, %d signed", g, len(refused), refused, signed)
	}
	for _, r := range refused {
		if r.Height > floor {
			t.Fatalf("refused %+v above the floor", r)
		}
	}
	if st := reloadFilePV(t, pv, dir).LastSignState; st.Height != floor+1 || st.Step != int8(stepPrevote) {
		t.Fatalf("state after signing above the floor: height %d step %d", st.Height, st.Step)
	}
}

// reloadFilePV loads pv's files the way New does.
func reloadFilePV(t *testing.T, pv *privval.FilePV, home string) *privval.FilePV {
	t.Helper()
	c := DefaultConfig()
	c.Home = home
	got, recovering, err := loadPrivValidator(c.cometConfig())
	if err != nil || recovering {
		t.Fatalf("reload: recovering %t, %v", recovering, err)
	}
	if !bytes.Equal(got.GetAddress(), pv.GetAddress()) {
		t.Fatal("reloaded a different key")
	}
	return got
}
