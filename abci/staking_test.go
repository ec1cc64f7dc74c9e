package abci

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	cmtproto "github.com/cometbft/cometbft/proto/tendermint/types"
	libp2pcrypto "github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// peerKey derives a fixed libp2p identity key from a name.
func peerKey(tb testing.TB, name string) libp2pcrypto.PrivKey {
	tb.Helper()
	seed := sha256.Sum256([]byte("abci-test-peer/" + name))
	k, _, err := libp2pcrypto.GenerateEd25519Key(bytes.NewReader(append(seed[:], seed[:]...)))
	if err != nil {
		tb.Fatal(err)
	}
	return k
}

func peerIDOf(tb testing.TB, k libp2pcrypto.PrivKey) string {
	tb.Helper()
	id, err := peer.IDFromPrivateKey(k)
	if err != nil {
		tb.Fatal(err)
	}
	return id.String()
}

func addr(k ed25519.PrivateKey) Address { return AddressOf(pub(k)) }

// stakingNet is a chain whose genesis funds and bonds its validators.
type stakingNet struct {
	t      *testing.T
	app    *App
	vals   []ed25519.PrivateKey // genesis validators: account key = consensus key
	height int64
	now    time.Time
	votes  []abcitypes.VoteInfo // the last commit's votes the next block reports
	absent map[string]bool      // consensus pub → absent from the next commits
}

const genesisStake = 100

func newStakingNet(t *testing.T, n int, mutate func(*GenesisState)) *stakingNet {
	t.Helper()
	app := openApp(t, t.TempDir(), nil)
	s := &stakingNet{t: t, app: app, now: time.Unix(1_700_000_000, 0).UTC(), absent: map[string]bool{}}
	g := GenesisState{Params: DevParams(), Admins: [][]byte{}}
	g.Params.SignedWindow = 10
	g.Params.MinSignedPermille = 500
	g.Params.JailTime = int64(time.Minute)
	req := &abcitypes.RequestInitChain{ChainId: testChain, InitialHeight: 1}
	for i := range n {
		k := key("staker-" + string(rune('a'+i)))
		s.vals = append(s.vals, k)
		g.Accounts = append(g.Accounts, GenesisAccount{Address: addr(k), Balance: 10 * genesisStake})
		g.Validators = append(g.Validators, GenesisValidator{Address: addr(k), PubKey: pub(k),
			PeerID: peerIDOf(t, peerKey(t, "staker-"+string(rune('a'+i)))), Stake: genesisStake})
		req.Validators = append(req.Validators, abcitypes.ValidatorUpdate{
			PubKey: cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: pub(k)}}, Power: genesisStake})
	}
	if mutate != nil {
		mutate(&g)
	}
	state, err := json.Marshal(g)
	if err != nil {
		t.Fatal(err)
	}
	req.AppStateBytes = state
	if _, err := app.InitChain(context.Background(), req); err != nil {
		t.Fatalf("InitChain: %v", err)
	}
	return s
}

// block runs one block at the next height, a few seconds after the last,
// reporting the votes of the set CometBFT was told, and returns its
// response.
func (s *stakingNet) block(txs [][]byte, misbehavior ...abcitypes.Misbehavior) *abcitypes.ResponseFinalizeBlock {
	s.t.Helper()
	s.height++
	s.now = s.now.Add(5 * time.Second)
	ctx := context.Background()
	var votes []abcitypes.VoteInfo
	if s.height > 1 {
		var vals []ValidatorInfo
		query(s.t, s.app, QueryValidators, "", &vals)
		for _, v := range vals {
			if v.Power == 0 {
				continue
			}
			pk, _ := hex.DecodeString(v.PubKey)
			flag := cmtproto.BlockIDFlagCommit
			if s.absent[string(pk)] {
				flag = cmtproto.BlockIDFlagAbsent
			}
			votes = append(votes, abcitypes.VoteInfo{
				Validator: abcitypes.Validator{Address: cmted25519.PubKey(pk).Address(), Power: v.Power}, BlockIdFlag: flag})
		}
	}
	fin, err := s.app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{
		Height: s.height, Time: s.now, Txs: txs,
		DecidedLastCommit: abcitypes.CommitInfo{Votes: votes}, Misbehavior: misbehavior,
	})
	if err != nil {
		s.t.Fatalf("FinalizeBlock %d: %v", s.height, err)
	}
	if _, err := s.app.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
		s.t.Fatalf("Commit %d: %v", s.height, err)
	}
	return fin
}

// check runs CheckTx and returns its code.
func (s *stakingNet) check(tx []byte) (uint32, string) {
	s.t.Helper()
	resp, err := s.app.CheckTx(context.Background(), &abcitypes.RequestCheckTx{Tx: tx, Type: abcitypes.CheckTxType_New})
	if err != nil {
		s.t.Fatalf("CheckTx Go error: %v", err)
	}
	return resp.Code, resp.Log
}

func (s *stakingNet) account(a Address) Account {
	s.t.Helper()
	var acct Account
	if resp := query(s.t, s.app, QueryAccount, a.String(), &acct); resp.Code != CodeOK {
		s.t.Fatalf("account %s: %s", a, resp.Log)
	}
	return acct
}

func (s *stakingNet) validators() map[string]ValidatorInfo {
	s.t.Helper()
	var vals []ValidatorInfo
	if resp := query(s.t, s.app, QueryValidators, "", &vals); resp.Code != CodeOK {
		s.t.Fatalf("validators: %s", resp.Log)
	}
	out := map[string]ValidatorInfo{}
	for _, v := range vals {
		out[v.PubKey] = v
	}
	return out
}

func TestAddressRoundTrip(t *testing.T) {
	a := addr(key("alice"))
	s := a.String()
	if !strings.HasPrefix(s, "xnode1") || len(s) != 44 {
		t.Fatalf("address %q", s)
	}
	if back, err := ParseAddress(s); err != nil || back != a {
		t.Fatalf("ParseAddress(%q) = %v, %v", s, back, err)
	}
	for _, bad := range []string{"", "xnode1", "cosmos1qqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqqq", s[:len(s)-1] + "x", strings.ToUpper(s[:10]) + s[10:], strings.Repeat("x", 200)} {
		if _, err := ParseAddress(bad); err == nil || CodeOf(err) != CodeInvalid {
			t.Errorf("ParseAddress(%q) = %v, want CodeInvalid", bad, err)
		}
	}
}

// TestStakingTxs walks every staking transaction kind through CheckTx and
// FinalizeBlock, valid and invalid, in the kvstore style.
func TestStakingTxs(t *testing.T) {
	s := newStakingNet(t, 2, nil)
	must := mustTx(t)
	s.block(nil)
	val0 := s.vals[0]
	user, node, stranger := key("user"), key("node-operator"), key("stranger")
	nodePeer, otherPeer := peerKey(t, "node"), peerKey(t, "other")
	newVal := key("new-validator") // account and consensus key in one, as on a node
	newPeer := peerKey(t, "new-validator")

	type tc struct {
		name string
		tx   []byte
		code uint32
	}
	run := func(cases []tc) {
		t.Helper()
		txs := make([][]byte, len(cases))
		for i, c := range cases {
			txs[i] = c.tx
			if code, log := s.check(c.tx); code != c.code {
				t.Errorf("%s: CheckTx code %d (%s), want %d", c.name, code, log, c.code)
			}
		}
		fin := s.block(txs)
		for i, c := range cases {
			if r := fin.TxResults[i]; r.Code != c.code {
				t.Errorf("%s: FinalizeBlock code %d (%s), want %d", c.name, r.Code, r.Log, c.code)
			} else if r.Code != CodeOK && r.Log == "" {
				t.Errorf("%s: rejected without a log", c.name)
			}
		}
	}
	run([]tc{
		{"send", must(NewSend(val0, testChain, 1, addr(user), 300)), CodeOK},
		{"send to node operator", must(NewSend(val0, testChain, 2, addr(node), 200)), CodeOK},
		{"send to new validator", must(NewSend(s.vals[1], testChain, 1, addr(newVal), 500)), CodeOK},
		{"send more than the balance", must(NewSend(val0, testChain, 3, addr(user), 10_000)), CodeInsufficientFunds},
		{"send from an unfunded key", must(NewSend(stranger, testChain, 1, addr(user), 1)), CodeInsufficientFunds},
		{"reused nonce", must(NewSend(val0, testChain, 1, addr(user), 1)), CodeReplay},
		{"signed for another chain", must(NewSend(val0, "other-chain", 4, addr(user), 1)), CodeBadSignature},
		{"recipient of the wrong length", signUnchecked(t, val0, testChain, 5, &Send{To: []byte{1, 2}, Amount: 1}), CodeInvalid},
		{"zero amount", signUnchecked(t, val0, testChain, 6, &Send{To: make([]byte, 20), Amount: 0}), CodeInvalid},
	})
	if a := s.account(addr(val0)); a.Balance != 10*genesisStake-500 || a.Bonded != genesisStake {
		t.Fatalf("sender account %+v", a)
	}
	if a := s.account(addr(user)); a.Balance != 300 {
		t.Fatalf("recipient account %+v", a)
	}

	// A binding the sender cannot sign for: the consensus key signs for
	// another account.
	forged := func() []byte {
		cv := &CreateValidator{ConsPubKey: pub(val0), PeerID: peerIDOf(t, otherPeer), Stake: 10}
		msg := BindingBytes(testChain, addr(user), cv.PeerID, cv.ConsPubKey)
		cv.ConsSig = ed25519.Sign(key("not-val0"), msg)
		cv.PeerSig, _ = otherPeer.Sign(msg)
		return signUnchecked(t, user, testChain, 9, cv)
	}()
	badPeerSig := func() []byte {
		cv := &CreateValidator{ConsPubKey: pub(user), PeerID: peerIDOf(t, otherPeer), Stake: 10}
		msg := BindingBytes(testChain, addr(user), cv.PeerID, cv.ConsPubKey)
		cv.ConsSig = ed25519.Sign(user, msg)
		cv.PeerSig, _ = nodePeer.Sign(msg) // another peer's key
		return signUnchecked(t, user, testChain, 10, cv)
	}()
	run([]tc{
		{"create validator", must(NewCreateValidator(newVal, testChain, 1, newVal, newPeer, 400)), CodeOK},
		{"consensus key the sender cannot sign for", forged, CodeBadBinding},
		{"peer key that did not sign", badPeerSig, CodeBadBinding},
		{"validator below the minimum", must(NewCreateValidator(user, testChain, 11, user, otherPeer, 1)), CodeOK},
		{"register node", must(NewRegisterNode(node, testChain, 1, nodePeer, 50)), CodeOK},
		{"register an already registered peer", must(NewRegisterNode(stranger, testChain, 2, nodePeer, 1)), CodeAlreadyRegistered},
		{"bond more than the balance", must(NewBond(node, testChain, 3, 1_000)), CodeInsufficientFunds},
		{"unbond more than bonded", must(NewUnbond(node, testChain, 4, 51)), CodeNotBonded},
		{"unbond without a registration", must(NewUnbond(stranger, testChain, 5, 1)), CodeNotBonded},
		{"unjail a validator that is not jailed", must(NewUnjail(newVal, testChain, 2)), CodeInvalid},
	})
	vals := s.validators()
	if v := vals[hex.EncodeToString(pub(newVal))]; v.Status != "active" || v.Stake != 400 || v.PeerID != peerIDOf(t, newPeer) || v.Address != addr(newVal).String() {
		t.Errorf("new validator %+v", v)
	}
	var nodes []NodeInfo
	query(t, s.app, QueryNodes, "", &nodes)
	if len(nodes) != 5 {
		t.Fatalf("nodes %+v, want 2 genesis validators, the new validator, the user's and the node", nodes)
	}
	var n NodeInfo
	if resp := query(t, s.app, QueryNode, peerIDOf(t, nodePeer), &n); resp.Code != CodeOK || n.Status != NodeActive || n.Validator || n.Stake != 50 {
		t.Errorf("registered node %+v (%s)", n, resp.Log)
	}
	if resp := query(t, s.app, QueryNode, peerIDOf(t, peerKey(t, "nobody")), nil); resp.Code != CodeNotFound {
		t.Errorf("unregistered peer: code %d", resp.Code)
	}

	// Bonding below the minimum; a peer id registered twice.
	s2 := newStakingNet(t, 1, func(g *GenesisState) {
		g.Params.MinNodeStake = 10
		g.Params.MinValidatorStake = 20
		g.Accounts = append(g.Accounts, GenesisAccount{Address: addr(user), Balance: 100}, GenesisAccount{Address: addr(node), Balance: 100})
	})
	s = s2
	s.block(nil)
	run([]tc{
		{"node below the minimum", must(NewRegisterNode(user, testChain, 1, nodePeer, 9)), CodeBelowMinimum},
		{"validator below the minimum", must(NewCreateValidator(user, testChain, 2, user, nodePeer, 19)), CodeBelowMinimum},
		{"register node", must(NewRegisterNode(user, testChain, 3, nodePeer, 10)), CodeOK},
		{"same peer by another account", must(NewCreateValidator(node, testChain, 1, node, nodePeer, 20)), CodeAlreadyRegistered},
		{"consensus key already bound", must(NewCreateValidator(node, testChain, 2, s.vals[0], otherPeer, 20)), CodeAlreadyRegistered},
		{"upgrade own node to validator", must(NewCreateValidator(user, testChain, 4, user, nodePeer, 15)), CodeOK},
	})
	if v := s.validators()[hex.EncodeToString(pub(user))]; v.Stake != 25 || v.Status != "active" {
		t.Errorf("upgraded validator %+v", v)
	}
}

// TestUnbondingMaturesAndStaysSlashable: unbonded stake returns after the
// unbonding time; double signing before then cuts it too, and tombstones.
func TestUnbondingMaturesAndStaysSlashable(t *testing.T) {
	s := newStakingNet(t, 4, func(g *GenesisState) { g.Params.UnbondingTime = int64(time.Minute) })
	must := mustTx(t)
	s.block(nil)
	v := s.vals[3]
	fin := s.block([][]byte{must(NewUnbond(v, testChain, 1, 40))})
	if fin.TxResults[0].Code != CodeOK {
		t.Fatal(fin.TxResults[0].Log)
	}
	a := s.account(addr(v))
	if a.Bonded != 60 || len(a.Unbonding) != 1 || a.Unbonding[0].Amount != 40 || a.Balance != 10*genesisStake {
		t.Fatalf("after unbond %+v", a)
	}
	// The power follows the bonded stake.
	if got := s.validators()[hex.EncodeToString(pub(v))].Power; got != 60 {
		t.Errorf("power after unbonding %d, want 60", got)
	}
	// Double signing while 40 are unbonding: 5% of both is burned.
	fin = s.block(nil, abcitypes.Misbehavior{Type: abcitypes.MisbehaviorType_DUPLICATE_VOTE,
		Validator: abcitypes.Validator{Address: cmted25519.PubKey(pub(v)).Address(), Power: 60}, Height: s.height - 1, Time: s.now})
	a = s.account(addr(v))
	if a.Bonded != 57 || a.Unbonding[0].Amount != 38 {
		t.Fatalf("after slashing %+v, want bonded 57 and 38 unbonding", a)
	}
	info := s.validators()[hex.EncodeToString(pub(v))]
	if info.Status != "tombstoned" || info.Power != 0 {
		t.Errorf("double signer %+v", info)
	}
	if len(fin.ValidatorUpdates) != 1 || fin.ValidatorUpdates[0].Power != 0 {
		t.Errorf("updates after double signing %+v", fin.ValidatorUpdates)
	}
	if fin = s.block([][]byte{must(NewUnjail(v, testChain, 2))}); fin.TxResults[0].Code != CodeJailed {
		t.Errorf("unjail a tombstoned validator: code %d (%s)", fin.TxResults[0].Code, fin.TxResults[0].Log)
	}
	// A minute later the unbonding entry (as slashed) is back in the balance.
	for range 12 {
		s.block(nil)
	}
	if a = s.account(addr(v)); a.Balance != 10*genesisStake+38 || len(a.Unbonding) != 0 {
		t.Fatalf("after the unbonding time %+v", a)
	}
}

// TestDowntimeJailsAndUnjail: a validator absent from more than half of
// the signed window is jailed and loses its power; the chain's set never
// empties; after the jail time it unjails and gets its power back.
func TestDowntimeJailsAndUnjail(t *testing.T) {
	s := newStakingNet(t, 4, nil)
	must := mustTx(t)
	s.block(nil)
	down := s.vals[2]
	s.absent[string(pub(down))] = true
	var jailedAt int64
	for range 10 {
		fin := s.block(nil)
		for _, u := range fin.ValidatorUpdates {
			if bytes.Equal(u.PubKey.GetEd25519(), pub(down)) && u.Power == 0 {
				jailedAt = s.height
			}
		}
		if jailedAt > 0 {
			break
		}
	}
	if jailedAt == 0 {
		t.Fatal("a validator absent from every block was not jailed within the window")
	}
	info := s.validators()[hex.EncodeToString(pub(down))]
	if info.Status != "jailed" || info.JailedUntil == "" || info.Power != 0 {
		t.Fatalf("jailed validator %+v", info)
	}
	delete(s.absent, string(pub(down)))
	if fin := s.block([][]byte{must(NewUnjail(down, testChain, 1))}); fin.TxResults[0].Code != CodeJailed ||
		!strings.Contains(fin.TxResults[0].Log, "jailed until") {
		t.Fatalf("early unjail: %d %s", fin.TxResults[0].Code, fin.TxResults[0].Log)
	}
	for range 12 { // a minute of blocks
		s.block(nil)
	}
	fin := s.block([][]byte{must(NewUnjail(down, testChain, 2))})
	if fin.TxResults[0].Code != CodeOK {
		t.Fatalf("unjail: %s", fin.TxResults[0].Log)
	}
	// Its power comes back within a third of the set's power per block.
	if len(fin.ValidatorUpdates) != 1 || fin.ValidatorUpdates[0].Power != 99 {
		t.Errorf("updates after unjail %+v, want power 99 (a third of 300, less one)", fin.ValidatorUpdates)
	}
	if fin = s.block(nil); len(fin.ValidatorUpdates) != 1 || fin.ValidatorUpdates[0].Power != genesisStake {
		t.Errorf("updates the block after %+v, want the rest", fin.ValidatorUpdates)
	}
	if info := s.validators()[hex.EncodeToString(pub(down))]; info.Status != "active" || info.Power != genesisStake {
		t.Errorf("after unjail %+v", info)
	}
}

// TestQuietStakingChainKeepsAppHash: with staked validators that all sign,
// an empty block writes nothing.
func TestQuietStakingChainKeepsAppHash(t *testing.T) {
	s := newStakingNet(t, 3, nil)
	h1 := s.block(nil).AppHash
	h2 := s.block(nil).AppHash
	h3 := s.block(nil).AppHash
	if !bytes.Equal(h1, h2) || !bytes.Equal(h2, h3) {
		t.Fatalf("quiet blocks changed the app hash: %X %X %X", h1, h2, h3)
	}
}

// TestStakingDeterminism: two instances fed the same staking blocks agree
// on every app hash and validator update.
func TestStakingDeterminism(t *testing.T) {
	a, b := newStakingNet(t, 4, nil), newStakingNet(t, 4, nil)
	must := mustTx(t)
	newVal, np := key("nv"), peerKey(t, "nv")
	blocks := [][][]byte{
		nil,
		{must(NewSend(a.vals[0], testChain, 1, addr(newVal), 300))},
		{must(NewCreateValidator(newVal, testChain, 1, newVal, np, 250)), must(NewUnbond(a.vals[1], testChain, 1, 30))},
		{must(NewBond(newVal, testChain, 2, 40))},
		nil, nil,
	}
	for i, txs := range blocks {
		fa, fb := a.block(txs), b.block(txs)
		if !bytes.Equal(fa.AppHash, fb.AppHash) {
			t.Fatalf("block %d: hashes differ", i+1)
		}
		if len(fa.ValidatorUpdates) != len(fb.ValidatorUpdates) {
			t.Fatalf("block %d: updates differ", i+1)
		}
	}
}

// TestPlanUpdates pins the rules that keep validator updates from halting
// CometBFT.
func TestPlanUpdates(t *testing.T) {
	keys := func(cs []change) []string {
		var out []string
		for _, c := range cs {
			out = append(out, c.pub)
		}
		return out
	}
	t.Run("sorted, one per key, within a third", func(t *testing.T) {
		applied := map[string]int64{"a": 10, "b": 10, "c": 10}
		want := map[string]int64{"a": 10, "b": 10, "c": 10, "e": 3, "d": 4}
		cs := planUpdates(applied, want)
		if !slices.IsSorted(keys(cs)) || len(cs) != 2 {
			t.Fatalf("changes %+v", cs)
		}
		var used int64
		for _, c := range cs {
			used += c.Power - applied[c.pub]
		}
		if 3*used >= 30 {
			t.Errorf("changed %d of 30", used)
		}
	})
	t.Run("a large newcomer is phased in", func(t *testing.T) {
		applied := map[string]int64{"a": 10, "b": 10, "c": 10, "d": 10}
		want := map[string]int64{"a": 10, "b": 10, "c": 10, "d": 10, "z": 1000}
		for step := 0; step < 100; step++ {
			cs := planUpdates(applied, want)
			if len(cs) == 0 {
				break
			}
			var total, used int64
			for _, p := range applied {
				total += p
			}
			for _, c := range cs {
				used += abs64(c.Power - applied[c.pub])
				applied[c.pub] = c.Power
			}
			if 3*used >= total {
				t.Fatalf("step %d changed %d of %d", step, used, total)
			}
		}
		if applied["z"] != 1000 {
			t.Fatalf("newcomer reached %d", applied["z"])
		}
	})
	t.Run("never empties the set", func(t *testing.T) {
		cs := planUpdates(map[string]int64{"a": 10}, map[string]int64{})
		if len(cs) != 0 {
			t.Fatalf("removed the last validator: %+v", cs)
		}
		// Two validators, both leaving: power may fall, but one stays.
		applied := map[string]int64{"a": 1, "b": 100}
		for range 200 {
			for _, c := range planUpdates(applied, map[string]int64{}) {
				applied[c.pub] = c.Power
			}
		}
		live := 0
		for _, p := range applied {
			if p > 0 {
				live++
			}
		}
		if live == 0 {
			t.Fatal("the set emptied")
		}
	})
	t.Run("never removes an unknown validator", func(t *testing.T) {
		cs := planUpdates(map[string]int64{"a": 10, "b": 10, "c": 10, "d": 10}, map[string]int64{"a": 10, "b": 10, "c": 10, "d": 10})
		if len(cs) != 0 {
			t.Fatalf("changes for an unchanged set: %+v", cs)
		}
		for _, c := range planUpdates(map[string]int64{"a": 10, "b": 10, "c": 10, "d": 10}, map[string]int64{"a": 10, "b": 10, "c": 10}) {
			if c.Power == 0 && c.pub != "d" {
				t.Errorf("removed %s", c.pub)
			}
		}
	})
}

// TestMinWriteBalance: with min_write_balance set, an unfunded key cannot
// register a namespace or submit; a funded one can.
func TestMinWriteBalance(t *testing.T) {
	s := newStakingNet(t, 1, func(g *GenesisState) { g.Params.MinWriteBalance = 5 })
	must := mustTx(t)
	s.block(nil)
	user := key("writer")
	if code, log := s.check(must(NewRegisterNamespace(user, testChain, 1, "spam"))); code != CodeInsufficientFunds || !strings.Contains(log, "xnode send") {
		t.Fatalf("unfunded write: %d %s", code, log)
	}
	fin := s.block([][]byte{must(NewSend(s.vals[0], testChain, 1, addr(user), 5)), must(NewRegisterNamespace(user, testChain, 2, "mine"))})
	if fin.TxResults[1].Code != CodeOK {
		t.Fatalf("funded write: %s", fin.TxResults[1].Log)
	}
}

// TestNamespacePublishers: only the owner allows and disallows publishers,
// and /namespace lists them.
func TestNamespacePublishers(t *testing.T) {
	s := newStakingNet(t, 1, nil)
	must := mustTx(t)
	owner := s.vals[0]
	p1, p2 := peerIDOf(t, peerKey(t, "p1")), peerIDOf(t, peerKey(t, "p2"))
	fin := s.block([][]byte{
		must(NewRegisterNamespace(owner, testChain, 1, "svc")),
		must(NewNamespaceAllow(owner, testChain, 2, "svc", p2)),
		must(NewNamespaceAllow(owner, testChain, 3, "svc", p1)),
		must(NewNamespaceAllow(key("other"), testChain, 1, "svc", p1)),
		signUnchecked(t, owner, testChain, 4, &NamespaceAllow{Namespace: "svc", PeerID: "not-a-peer"}),
	})
	for i, want := range []uint32{CodeOK, CodeOK, CodeOK, CodeForeignNamespace, CodeInvalid} {
		if fin.TxResults[i].Code != want {
			t.Errorf("tx %d: code %d (%s), want %d", i, fin.TxResults[i].Code, fin.TxResults[i].Log, want)
		}
	}
	var ns Namespace
	query(t, s.app, QueryNamespace, "svc", &ns)
	if !slices.Equal(ns.Publishers, []string{min(p1, p2), max(p1, p2)}) {
		t.Fatalf("publishers %v", ns.Publishers)
	}
	s.block([][]byte{must(NewNamespaceDisallow(owner, testChain, 5, "svc", p1))})
	query(t, s.app, QueryNamespace, "svc", &ns)
	if !slices.Equal(ns.Publishers, []string{p2}) {
		t.Fatalf("publishers after disallow %v", ns.Publishers)
	}
}

func TestStakingGenesisValidation(t *testing.T) {
	app := openApp(t, "", nil)
	k := key("v")
	g := GenesisState{Params: DevParams(), Admins: [][]byte{},
		Validators: []GenesisValidator{{Address: addr(k), PubKey: pub(k), PeerID: peerIDOf(t, peerKey(t, "v")), Stake: 7}}}
	state, _ := json.Marshal(g)
	// CometBFT's set says power 9, app_state stake 7.
	_, err := app.InitChain(context.Background(), &abcitypes.RequestInitChain{ChainId: testChain, AppStateBytes: state,
		Validators: []abcitypes.ValidatorUpdate{{PubKey: cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: pub(k)}}, Power: 9}}})
	if err == nil || !strings.Contains(err.Error(), "stakes 7 but has power 9") {
		t.Fatalf("mismatched genesis: %v", err)
	}
	for _, bad := range []string{
		`{"accounts":[{"address":"xnode1nope","balance":1}]}`,
		`{"validators":[{"address":"` + addr(k).String() + `","pub_key":"AAAA","peer_id":"x","stake":1}]}`,
		`{"nodes":[{"address":"` + addr(k).String() + `","peer_id":"` + peerIDOf(t, peerKey(t, "v")) + `","stake":0}]}`,
		`{"accounts":[{"address":"` + addr(k).String() + `","balance":1},{"address":"` + addr(k).String() + `","balance":2}]}`,
	} {
		if _, err := ParseGenesisState([]byte(bad)); err == nil {
			t.Errorf("ParseGenesisState(%s) accepted", bad)
		}
	}
}

// TestNonceBuckets: nonces share 256-wide buckets, yet each is spent once,
// including at the edges of a bucket and of the range.
func TestNonceBuckets(t *testing.T) {
	s := newStakingNet(t, 1, nil)
	must := mustTx(t)
	v := s.vals[0]
	to := addr(key("to"))
	nonces := []uint64{0, 1, 255, 256, 511, 1 << 40, ^uint64(0)}
	var txs [][]byte
	for _, n := range nonces {
		txs = append(txs, must(NewSend(v, testChain, n, to, 1)))
	}
	fin := s.block(txs)
	for i, r := range fin.TxResults {
		if r.Code != CodeOK {
			t.Fatalf("nonce %d: %s", nonces[i], r.Log)
		}
	}
	for _, n := range nonces {
		if code, _ := s.check(must(NewSend(v, testChain, n, to, 2))); code != CodeReplay {
			t.Errorf("nonce %d reused: code %d, want replay", n, code)
		}
	}
	for _, n := range []uint64{2, 254, 257, 1<<40 + 1, ^uint64(0) - 1} {
		if code, log := s.check(must(NewSend(v, testChain, n, to, 1))); code != CodeOK {
			t.Errorf("fresh nonce %d: code %d (%s)", n, code, log)
		}
	}
	// 256 sends with consecutive nonces write one bucket.
	o := newOverlay(s.app.committed)
	for n := uint64(1 << 20); n < 1<<20+256; n++ {
		if _, err := s.app.deliverTx(o, must(NewSend(v, testChain, n, to, 1)), s.height+1, s.now, MaxTxBytes); err != nil {
			t.Fatal(err)
		}
	}
	buckets := 0
	for k := range o.writes {
		if strings.HasPrefix(k, prefixNonce) {
			buckets++
		}
	}
	if buckets != 1 {
		t.Errorf("256 consecutive nonces wrote %d buckets, want 1", buckets)
	}
}
