package abci

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/dgraph-io/badger/v4"
)

// TestExportStartsANewChain exports a chain's state and starts a new chain
// from it: namespaces, records (with status and attestations), params,
// admins and validators carry over, and the old owner can go on writing.
func TestExportStartsANewChain(t *testing.T) {
	dir := t.TempDir()
	app := openApp(t, dir, nil)
	proofChain(t, app)
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	ex, err := ExportState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex.ChainID != testChain || ex.Height != 4 || len(ex.Validators) != 2 ||
		len(ex.State.Namespaces) != 1 || len(ex.State.Records) != 1 || len(ex.State.Admins) != 1 ||
		ex.State.Params.ReplicationFactor != 2 {
		t.Fatalf("exported %+v", ex)
	}
	if r := ex.State.Records[0]; r.Status != StatusPending || len(r.Attestations) != 1 || r.Version != 1 {
		t.Fatalf("exported record %+v", r)
	}

	fresh := openApp(t, "", nil)
	state, err := json.Marshal(ex.State)
	if err != nil {
		t.Fatal(err)
	}
	req := &abcitypes.RequestInitChain{ChainId: testChain + "-2", AppStateBytes: state, InitialHeight: 1}
	for _, v := range ex.Validators {
		req.Validators = append(req.Validators, abcitypes.ValidatorUpdate{
			PubKey: cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: v.PubKey}}, Power: v.Power,
		})
	}
	if _, err := fresh.InitChain(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	finalizeAndCommit(t, fresh, 1, nil)
	got := getRecord(t, fresh, "demo/hello")
	if got.CID != ex.State.Records[0].CID || len(got.Attestations) != 1 || got.Status != StatusPending {
		t.Errorf("record on the new chain %+v", got)
	}
	// The record is still pending: the second validator's attestation on
	// the new chain verifies it.
	vals := equalVals(2)
	res, _ := finalizeAndCommit(t, fresh, 2, [][]byte{mustTx(t)(NewAttest(vals[1].key, testChain+"-2", 1,
		Attest{Namespace: "demo", Key: "hello", Version: 1, CID: got.CID, OK: true}))})
	if res[0].Code != CodeOK {
		t.Fatalf("attest on the new chain: %s", res[0].Log)
	}
	if r := getRecord(t, fresh, "demo/hello"); r.Status != StatusVerified {
		t.Errorf("after the second attestation: %s", r.Status)
	}
	// The owner keeps the namespace.
	res, _ = finalizeAndCommit(t, fresh, 3, [][]byte{mustTx(t)(NewSubmitRecord(key("owner"), testChain+"-2", 1, "demo", "next", got.CID, 5))})
	if res[0].Code != CodeOK {
		t.Errorf("owner submit on the new chain: %s", res[0].Log)
	}
}

// TestExportOldLayout reads a DB in the layout before the tree.
func TestExportOldLayout(t *testing.T) {
	dir := t.TempDir()
	db, err := badger.Open(badger.DefaultOptions(dir).WithLogger(nil))
	if err != nil {
		t.Fatal(err)
	}
	owner := pub(key("owner"))
	c := testCID(t, "x")
	put := func(k string, v any) {
		t.Helper()
		var b []byte
		switch v := v.(type) {
		case []byte:
			b = v
		default:
			if b, err = encMode.Marshal(v); err != nil {
				t.Fatal(err)
			}
		}
		if err := db.Update(func(txn *badger.Txn) error { return txn.Set([]byte(k), b) }); err != nil {
			t.Fatal(err)
		}
	}
	put(oldKeyMeta, struct {
		Height  int64
		AppHash []byte
	}{Height: 77, AppHash: []byte("h")})
	put(keyChainID(), []byte("old-chain"))
	put(keyParams(), DevParams())
	put(keyNamespace("demo"), Namespace{Name: "demo", Owner: owner, Height: 3})
	put(keyRecord("demo", "a"), Record{Namespace: "demo", Key: "a", CID: c, Size: 1, Version: 2, Owner: owner, Height: 9, Status: StatusVerified})
	put(keyValidator(pub(key("v"))), []byte{0, 0, 0, 0, 0, 0, 0, 10})
	put("x/"+string(owner)+"\x00\x00\x00\x00\x00\x00\x00\x05", []byte{}) // an old-layout spent nonce
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	ex, err := ExportState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if ex.ChainID != "old-chain" || ex.Height != 77 || len(ex.State.Records) != 1 || ex.State.Records[0].Version != 2 ||
		len(ex.Validators) != 1 || ex.Validators[0].Power != 10 || !bytes.Equal(ex.State.Namespaces[0].Owner, owner) {
		t.Fatalf("exported %+v", ex)
	}
}

func TestExportBadInput(t *testing.T) {
	// An empty DB holds no chain.
	if _, err := ExportState(t.TempDir(), nil); err == nil || !strings.Contains(err.Error(), "no committed height") {
		t.Errorf("export of an empty DB: %v", err)
	}
	// A DB in use by a running app is refused with what to do.
	dir := t.TempDir()
	openApp(t, dir, nil)
	if _, err := ExportState(dir, nil); err == nil || !strings.Contains(err.Error(), "stop the node") {
		t.Errorf("export of a DB in use: %v", err)
	}
	// A genesis whose record names an unknown namespace is refused.
	g := DefaultGenesisState()
	g.Records = []Record{{Namespace: "nope", Key: "k", CID: testCID(t, "x"), Version: 1, Status: StatusPending}}
	b, _ := json.Marshal(g)
	if _, err := ParseGenesisState(b); err == nil || !strings.Contains(err.Error(), "not among the genesis namespaces") {
		t.Errorf("genesis with a dangling record: %v", err)
	}
}

// TestExportCarriesStake: balances, validators and nodes carry over; an
// unbonding entry becomes balance; a jailed validator starts as a node.
func TestExportCarriesStake(t *testing.T) {
	s := newStakingNet(t, 4, nil)
	must := mustTx(t)
	s.block(nil)
	user, nodeOp := key("user"), key("node-op")
	s.block([][]byte{
		must(NewSend(s.vals[0], testChain, 1, addr(user), 100)),
		must(NewSend(s.vals[0], testChain, 2, addr(nodeOp), 100)),
	})
	s.block([][]byte{
		must(NewRegisterNode(nodeOp, testChain, 1, peerKey(t, "node-op"), 30)),
		must(NewUnbond(s.vals[1], testChain, 1, 40)),
	})
	dir := s.app.cfg.Dir
	if err := s.app.Close(); err != nil {
		t.Fatal(err)
	}
	ex, err := ExportState(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(ex.State.Validators) != 4 || len(ex.Validators) != 4 || len(ex.State.Nodes) != 1 {
		t.Fatalf("exported %d staked validators, %d CometBFT validators, %d nodes", len(ex.State.Validators), len(ex.Validators), len(ex.State.Nodes))
	}
	bal := map[Address]uint64{}
	for _, a := range ex.State.Accounts {
		bal[a.Address] = a.Balance
	}
	if bal[addr(user)] != 100 || bal[addr(nodeOp)] != 70 || bal[addr(s.vals[1])] != 10*genesisStake+40 {
		t.Fatalf("exported balances %v", bal)
	}
	for _, v := range ex.Validators {
		if bytes.Equal(v.PubKey, pub(s.vals[1])) && v.Power != 60 {
			t.Errorf("the validator that unbonded 40 has power %d on the new chain, want 60", v.Power)
		}
	}
	// The new chain starts from it.
	fresh := openApp(t, "", nil)
	state, _ := json.Marshal(ex.State)
	req := &abcitypes.RequestInitChain{ChainId: testChain + "-2", AppStateBytes: state, InitialHeight: 1}
	for _, v := range ex.Validators {
		req.Validators = append(req.Validators, abcitypes.ValidatorUpdate{
			PubKey: cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: v.PubKey}}, Power: v.Power})
	}
	if _, err := fresh.InitChain(context.Background(), req); err != nil {
		t.Fatal(err)
	}
	finalizeAndCommit(t, fresh, 1, nil)
	var n NodeInfo
	if resp := query(t, fresh, QueryNode, peerIDOf(t, peerKey(t, "node-op")), &n); resp.Code != CodeOK || n.Stake != 30 || n.Status != NodeActive {
		t.Errorf("node on the new chain %+v (%s)", n, resp.Log)
	}
}
