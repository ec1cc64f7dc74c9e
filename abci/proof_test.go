package abci

import (
	"bytes"
	"context"
	"encoding/hex"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	ics23 "github.com/cosmos/ics23/go"
)

var update = flag.Bool("update", false, "rewrite testdata/proofs.golden.json")

// proofChain builds a small fixed chain: genesis with an admin and two
// validators, a namespace, a record with an attestation, a param change.
// It returns the app and the app hash of each height (index = height).
func proofChain(t *testing.T, app *App) [][]byte {
	t.Helper()
	must := mustTx(t)
	vals := equalVals(2)
	admin, owner := key("admin"), key("owner")
	initChain(t, app, vals, admin)
	c := testCID(t, "hello")
	blocks := [][][]byte{
		{must(NewRegisterNamespace(owner, testChain, 1, "demo"))},
		{must(NewSubmitRecord(owner, testChain, 2, "demo", "hello", c, 5))},
		{must(NewAttest(vals[0].key, testChain, 1, Attest{Namespace: "demo", Key: "hello", Version: 1, CID: c, OK: true}))},
		{must(NewParamChange(admin, testChain, 1, withR(DevParams(), 2)))},
	}
	hashes := [][]byte{nil}
	for i, txs := range blocks {
		res, h := finalizeAndCommit(t, app, int64(i+1), txs)
		for j, r := range res {
			if r.Code != CodeOK {
				t.Fatalf("block %d tx %d: code %d (%s)", i+1, j, r.Code, r.Log)
			}
		}
		hashes = append(hashes, h)
	}
	return hashes
}

func withR(p Params, r uint32) Params {
	p.ReplicationFactor = r
	return p
}

func proveQuery(t *testing.T, app *App, path, data string, height int64) *abcitypes.ResponseQuery {
	t.Helper()
	resp, err := app.Query(context.Background(), &abcitypes.RequestQuery{
		Path: path, Data: []byte(data), Height: height, Prove: true,
	})
	if err != nil {
		t.Fatalf("Query %s %q: Go error %v", path, data, err)
	}
	return resp
}

// checkProof verifies a proven answer against root as a light client
// would: one op of our type, for the key asked, membership of the value or
// absence.
func checkProof(t *testing.T, resp *abcitypes.ResponseQuery, root, wantKey []byte) {
	t.Helper()
	if resp.Code != CodeOK {
		t.Fatalf("proven query: code %d (%s)", resp.Code, resp.Log)
	}
	if resp.ProofOps == nil || len(resp.ProofOps.Ops) != 1 {
		t.Fatalf("proven query: %v proof ops, want 1", resp.ProofOps)
	}
	op := resp.ProofOps.Ops[0]
	if op.Type != ProofOpICS23 || !bytes.Equal(op.Key, wantKey) || !bytes.Equal(resp.Key, wantKey) {
		t.Fatalf("proof op %s key %q (response key %q), want %s %q", op.Type, op.Key, resp.Key, ProofOpICS23, wantKey)
	}
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(op.Data); err != nil {
		t.Fatalf("decode proof: %v", err)
	}
	if resp.Value != nil {
		if !ics23.VerifyMembership(ics23.IavlSpec, root, &proof, wantKey, resp.Value) {
			t.Fatalf("membership proof of %q does not verify against %X", wantKey, root)
		}
		// The same proof must not verify a different value or key.
		if ics23.VerifyMembership(ics23.IavlSpec, root, &proof, wantKey, append([]byte{0}, resp.Value...)) {
			t.Fatal("membership proof verifies a tampered value")
		}
		if ics23.VerifyMembership(ics23.IavlSpec, root, &proof, append([]byte{}, append(wantKey, 'x')...), resp.Value) {
			t.Fatal("membership proof verifies another key")
		}
		return
	}
	if !ics23.VerifyNonMembership(ics23.IavlSpec, root, &proof, wantKey) {
		t.Fatalf("absence proof of %q does not verify against %X", wantKey, root)
	}
}

func TestProofsEveryKeySpace(t *testing.T) {
	app := openApp(t, t.TempDir(), nil)
	hashes := proofChain(t, app)
	height := int64(len(hashes) - 1)
	root := hashes[height]
	vals := equalVals(2)
	cases := []struct {
		name, path, data string
		key              []byte
		present          bool
		decode           func([]byte) error
	}{
		{"record", QueryRecord, "demo/hello", RecordKey("demo", "hello"), true, func(b []byte) error {
			r, err := DecodeRecord(b)
			if err == nil && (r.Status != StatusPending || len(r.Attestations) != 1) {
				t.Errorf("proven record %+v: want pending with 1 attestation", r)
			}
			return err
		}},
		{"record absent", QueryRecord, "demo/nothing", RecordKey("demo", "nothing"), false, nil},
		{"namespace", QueryNamespace, "demo", NamespaceKey("demo"), true, func(b []byte) error {
			ns, err := DecodeNamespace(b)
			if err == nil && ns.Name != "demo" {
				t.Errorf("proven namespace %+v", ns)
			}
			return err
		}},
		{"namespace absent", QueryNamespace, "other", NamespaceKey("other"), false, nil},
		{"params", QueryParams, "", ParamsKey(), true, func(b []byte) error {
			p, err := DecodeParams(b)
			if err == nil && p.ReplicationFactor != 2 {
				t.Errorf("proven params %+v, want R=2", p)
			}
			return err
		}},
		{"validator", QueryValidator, hex.EncodeToString(pub(vals[0].key)), ValidatorKey(pub(vals[0].key)), true, func(b []byte) error {
			p, err := DecodeValidatorPower(b)
			if err == nil && p != 1 {
				t.Errorf("proven power %d, want 1", p)
			}
			return err
		}},
		{"validator absent", QueryValidator, hex.EncodeToString(pub(key("nobody"))), ValidatorKey(pub(key("nobody"))), false, nil},
		{"admin (raw key)", QueryKey, keyAdmin(pub(key("admin"))), []byte(keyAdmin(pub(key("admin")))), true, nil},
		{"nonce (raw key)", QueryKey, string(NonceKey(pub(key("owner")), 2)), NonceKey(pub(key("owner")), 2), true, func(b []byte) error {
			if !nonceSpent(b, 2) || !nonceSpent(b, 1) || nonceSpent(b, 3) {
				t.Errorf("nonce bucket %x: want nonces 1 and 2 spent, 3 not", b)
			}
			return nil
		}},
		{"nonce absent (raw key)", QueryKey, string(NonceKey(pub(key("owner")), 1000)), NonceKey(pub(key("owner")), 1000), false, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			resp := proveQuery(t, app, tc.path, tc.data, 0)
			if resp.Height != height {
				t.Errorf("answered at height %d, want %d", resp.Height, height)
			}
			if (resp.Value != nil) != tc.present {
				t.Fatalf("value present = %v, want %v", resp.Value != nil, tc.present)
			}
			checkProof(t, resp, root, tc.key)
			if tc.decode != nil {
				if err := tc.decode(resp.Value); err != nil {
					t.Fatal(err)
				}
			}
		})
	}
	// At an earlier retained height the proof checks against that height's
	// root: the record was not attested yet at height 2.
	resp := proveQuery(t, app, QueryRecord, "demo/hello", 2)
	if resp.Height != 2 {
		t.Fatalf("answered at height %d, want 2", resp.Height)
	}
	checkProof(t, resp, hashes[2], RecordKey("demo", "hello"))
	if r, err := DecodeRecord(resp.Value); err != nil || len(r.Attestations) != 0 {
		t.Errorf("record at height 2 = %+v, %v; want no attestation", r, err)
	}
	// A proof for height 2 does not verify against the latest root.
	var proof ics23.CommitmentProof
	if err := proof.Unmarshal(resp.ProofOps.Ops[0].Data); err != nil {
		t.Fatal(err)
	}
	if ics23.VerifyMembership(ics23.IavlSpec, root, &proof, RecordKey("demo", "hello"), resp.Value) {
		t.Error("a height-2 proof verified against the latest root")
	}
}

func TestProofBadInput(t *testing.T) {
	app := openApp(t, "", nil)
	ctx := context.Background()
	// Before the first block there is no proven state.
	initChain(t, app, equalVals(1))
	if resp := proveQuery(t, app, QueryParams, "", 0); resp.Code == CodeOK {
		t.Error("a proof before the first commit")
	}
	finalizeAndCommit(t, app, 1, nil)
	for _, tc := range []struct{ path, data string }{
		{QueryRecord, "no-slash"},
		{QueryValidator, "zz"},
		{QueryKey, ""},
		{QueryPending, strings.Repeat("00", 32)},
		{QueryValidators, ""},
		{"/nope", ""},
	} {
		resp, err := app.Query(ctx, &abcitypes.RequestQuery{Path: tc.path, Data: []byte(tc.data), Prove: true})
		if err != nil {
			t.Fatalf("%s: Go error %v", tc.path, err)
		}
		if resp.Code != CodeInvalid || resp.Log == "" || resp.ProofOps != nil {
			t.Errorf("%s %q: code %d log %q ops %v; want CodeInvalid with a log and no proof", tc.path, tc.data, resp.Code, resp.Log, resp.ProofOps)
		}
	}
	for _, h := range []int64{-1, 5} {
		resp, _ := app.Query(ctx, &abcitypes.RequestQuery{Path: QueryParams, Height: h, Prove: true})
		if resp.Code != CodeInvalid {
			t.Errorf("height %d: code %d (%s), want CodeInvalid", h, resp.Code, resp.Log)
		}
	}
}

func TestEmptyBlocksKeepAppHash(t *testing.T) {
	app := openApp(t, "", nil)
	h0 := initChain(t, app, equalVals(1))
	_, h1 := finalizeAndCommit(t, app, 1, nil)
	_, h2 := finalizeAndCommit(t, app, 2, nil)
	if !bytes.Equal(h0, h1) || !bytes.Equal(h1, h2) {
		t.Fatalf("empty blocks changed the app hash: %X %X %X", h0, h1, h2)
	}
	_, h3 := finalizeAndCommit(t, app, 3, [][]byte{mustTx(t)(NewRegisterNamespace(key("o"), testChain, 1, "nsx"))})
	if bytes.Equal(h3, h2) {
		t.Fatal("a block with a transaction left the app hash unchanged")
	}
	// A block of only rejected transactions writes nothing either.
	_, h4 := finalizeAndCommit(t, app, 4, [][]byte{[]byte("garbage")})
	_, h5 := finalizeAndCommit(t, app, 5, nil)
	if !bytes.Equal(h3, h4) || !bytes.Equal(h4, h5) {
		t.Fatalf("blocks without effect changed the app hash: %X %X %X", h3, h4, h5)
	}
	if h, hash := info(t, app); h != 5 || !bytes.Equal(hash, h3) {
		t.Fatalf("Info = %d %X, want 5 %X", h, hash, h3)
	}
}

func TestPrunedHeights(t *testing.T) {
	cfg := DefaultConfig("")
	cfg.InMemory = true
	cfg.KeepRecent = 3
	app, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { app.Close() })
	initChain(t, app, equalVals(1))
	o := key("owner")
	for h := int64(1); h <= 10; h++ {
		finalizeAndCommit(t, app, h, [][]byte{mustTx(t)(NewRegisterNamespace(o, testChain, uint64(h), "ns"+string(rune('a'+h))))})
	}
	// Heights 8, 9 and 10 are kept.
	for h := int64(8); h <= 10; h++ {
		resp := proveQuery(t, app, QueryNamespace, "nsi", h) // registered at height 8
		if resp.Code != CodeOK || resp.Height != h || resp.Value == nil {
			t.Errorf("height %d: code %d (%s) height %d value %v", h, resp.Code, resp.Log, resp.Height, resp.Value != nil)
		}
	}
	resp := proveQuery(t, app, QueryNamespace, "nsi", 7)
	if resp.Code != CodeNotFound || !strings.Contains(resp.Log, "pruned") || !strings.Contains(resp.Log, "oldest retained height is 8") {
		t.Errorf("pruned height: code %d log %q; want NOT_FOUND naming the oldest retained height 8", resp.Code, resp.Log)
	}
	// The answer at height 9 proves the state of height 9: nsj (height 9) present, nsk absent.
	if resp := proveQuery(t, app, QueryNamespace, "nsk", 9); resp.Code != CodeOK || resp.Value != nil {
		t.Errorf("nsk at height 9: code %d value %q, want an absence proof", resp.Code, resp.Value)
	}
}

// golden is one proof vector: a query, the root it verifies against, and
// the exact proof bytes.
type golden struct {
	Name   string `json:"name"`
	Path   string `json:"path"`
	Data   string `json:"data"`
	Height int64  `json:"height"`
	Root   string `json:"root"`
	Key    string `json:"key"`
	Value  string `json:"value"`
	Proof  string `json:"proof"`
}

// TestProofGoldenVectors pins the app hash and the proof bytes of the fixed
// chain: a change to the state layout, the encoding or the tree shows here
// first. Run with -update to rewrite them after an intended change.
func TestProofGoldenVectors(t *testing.T) {
	app := openApp(t, "", nil)
	hashes := proofChain(t, app)
	queries := []struct{ name, path, data string }{
		{"record", QueryRecord, "demo/hello"},
		{"record-absent", QueryRecord, "demo/zzz"},
		{"namespace", QueryNamespace, "demo"},
		{"namespace-absent", QueryNamespace, "aaa"},
		{"params", QueryParams, ""},
		{"validator", QueryValidator, hex.EncodeToString(pub(equalVals(2)[1].key))},
	}
	var got []golden
	for _, q := range queries {
		for _, h := range []int64{2, 4} {
			resp := proveQuery(t, app, q.path, q.data, h)
			checkProof(t, resp, hashes[h], resp.Key)
			got = append(got, golden{
				Name: q.name, Path: q.path, Data: q.data, Height: h,
				Root: hex.EncodeToString(hashes[h]), Key: hex.EncodeToString(resp.Key),
				Value: hex.EncodeToString(resp.Value), Proof: hex.EncodeToString(resp.ProofOps.Ops[0].Data),
			})
		}
	}
	path := filepath.Join("testdata", "proofs.golden.json")
	if *update {
		b, _ := json.MarshalIndent(got, "", "  ")
		if err := os.WriteFile(path, append(b, '\n'), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -run TestProofGoldenVectors -update to create it)", err)
	}
	var want []golden
	if err := json.Unmarshal(b, &want); err != nil {
		t.Fatal(err)
	}
	if len(want) != len(got) {
		t.Fatalf("%d golden vectors, %d computed", len(want), len(got))
	}
	for i := range want {
		if want[i] != got[i] {
			t.Errorf("vector %s@%d:\n got %+v\nwant %+v", got[i].Name, got[i].Height, got[i], want[i])
		}
		// Each stored vector verifies on its own, as an outside client would.
		root, _ := hex.DecodeString(want[i].Root)
		key, _ := hex.DecodeString(want[i].Key)
		val, _ := hex.DecodeString(want[i].Value)
		pb, _ := hex.DecodeString(want[i].Proof)
		var proof ics23.CommitmentProof
		if err := proof.Unmarshal(pb); err != nil {
			t.Fatalf("vector %s: %v", want[i].Name, err)
		}
		ok := false
		if len(val) > 0 {
			ok = ics23.VerifyMembership(ics23.IavlSpec, root, &proof, key, val)
		} else {
			ok = ics23.VerifyNonMembership(ics23.IavlSpec, root, &proof, key)
		}
		if !ok {
			t.Errorf("stored vector %s@%d does not verify", want[i].Name, want[i].Height)
		}
	}
}
