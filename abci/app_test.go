package abci

import (
	"bytes"
	"context"
	"strings"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
)

// txCase is one transaction of a block and the codes CheckTx (run in
// order, before the block) and FinalizeBlock must answer.
type txCase struct {
	name    string
	tx      []byte
	check   uint32
	deliver uint32
}

// queryCase is a query run after the block's Commit.
type queryCase struct {
	path, data string
	code       uint32
	check      func(t *testing.T, value []byte)
}

type blockCase struct {
	txs     []txCase
	queries []queryCase
}

// walkBlocks runs each block through CheckTx → FinalizeBlock → Commit →
// Info → Query and checks every code, height and hash on the way.
func walkBlocks(t *testing.T, app *App, blocks []blockCase) {
	t.Helper()
	ctx := context.Background()
	for i, b := range blocks {
		height := int64(i + 1)
		txs := make([][]byte, len(b.txs))
		for j, tc := range b.txs {
			txs[j] = tc.tx
			resp, err := app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: tc.tx, Type: abcitypes.CheckTxType_New})
			if err != nil {
				t.Fatalf("block %d %s: CheckTx Go error: %v", height, tc.name, err)
			}
			if resp.Code != tc.check {
				t.Errorf("block %d %s: CheckTx code %d (%s), want %d", height, tc.name, resp.Code, resp.Log, tc.check)
			}
			if resp.Code != CodeOK && resp.Log == "" {
				t.Errorf("block %d %s: CheckTx rejection without a log", height, tc.name)
			}
		}
		fin, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: height, Txs: txs})
		if err != nil {
			t.Fatalf("block %d: FinalizeBlock: %v", height, err)
		}
		for j, tc := range b.txs {
			if got := fin.TxResults[j].Code; got != tc.deliver {
				t.Errorf("block %d %s: FinalizeBlock code %d (%s), want %d", height, tc.name, got, fin.TxResults[j].Log, tc.deliver)
			}
		}
		// Staged state is invisible to queries until Commit.
		before, err := app.Info(ctx, &abcitypes.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if before.LastBlockHeight != height-1 {
			t.Errorf("block %d: Info before Commit says height %d", height, before.LastBlockHeight)
		}
		if _, err := app.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
			t.Fatalf("block %d: Commit: %v", height, err)
		}
		info, err := app.Info(ctx, &abcitypes.RequestInfo{})
		if err != nil {
			t.Fatal(err)
		}
		if info.LastBlockHeight != height || !bytes.Equal(info.LastBlockAppHash, fin.AppHash) {
			t.Errorf("block %d: Info height %d hash %X, want %d %X", height, info.LastBlockHeight, info.LastBlockAppHash, height, fin.AppHash)
		}
		if bytes.Equal(before.LastBlockAppHash, fin.AppHash) {
			t.Errorf("block %d: app hash did not change", height)
		}
		for _, q := range b.queries {
			resp := query(t, app, q.path, q.data, nil)
			if resp.Code != q.code {
				t.Errorf("block %d: query %s %q: code %d (%s), want %d", height, q.path, q.data, resp.Code, resp.Log, q.code)
				continue
			}
			if resp.Height != height {
				t.Errorf("block %d: query %s answered at height %d", height, q.path, resp.Height)
			}
			if q.check != nil && resp.Code == CodeOK {
				q.check(t, resp.Value)
			}
		}
	}
}

func TestWalkValidAndInvalidTxs(t *testing.T) {
	reg := prometheus.NewRegistry()
	app := openApp(t, t.TempDir(), reg)
	vals := equalVals(4)
	admin := key("admin")
	initChain(t, app, vals, admin)

	alice, bob, mallory := key("alice"), key("bob"), key("mallory")
	must := mustTx(t)
	cat := testCID(t, "cat")
	dog := testCID(t, "dog")

	regPhotos := must(NewRegisterNamespace(alice, testChain, 1, "photos"))
	badSig := must(NewRegisterNamespace(bob, testChain, 1, "bobs"))
	badSig[len(badSig)-1] ^= 0xff
	cidV0 := "QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG"

	blocks := []blockCase{
		{ // 1: registrations and malformed input
			txs: []txCase{
				{"register photos", regPhotos, CodeOK, CodeOK},
				{"register photos again (other key)", must(NewRegisterNamespace(bob, testChain, 1, "photos")), CodeConflict, CodeConflict},
				{"garbage", []byte("not a transaction"), CodeBadEncoding, CodeBadEncoding},
				{"empty", []byte{}, CodeBadEncoding, CodeBadEncoding},
				{"bad signature", badSig, CodeBadSignature, CodeBadSignature},
				{"wrong chain id", must(NewRegisterNamespace(bob, "other-chain", 2, "bobs")), CodeBadSignature, CodeBadSignature},
				{"oversize", bytes.Repeat([]byte{0x85}, MaxTxBytes+1), CodeTooLarge, CodeTooLarge},
				{"bad name", signUnchecked(t, bob, testChain, 3, &RegisterNamespace{Name: "Bad_Name"}), CodeInvalid, CodeInvalid},
				{"name starts with digit", signUnchecked(t, bob, testChain, 4, &RegisterNamespace{Name: "1abc"}), CodeInvalid, CodeInvalid},
				{"submit to unknown namespace", must(NewSubmitRecord(bob, testChain, 5, "nope", "k", cat, 3)), CodeUnknownNamespace, CodeUnknownNamespace},
				{"register bobs", must(NewRegisterNamespace(bob, testChain, 6, "bobs")), CodeOK, CodeOK},
			},
			queries: []queryCase{
				{QueryNamespace, "photos", CodeOK, func(t *testing.T, v []byte) {
					if !strings.Contains(string(v), `"name":"photos"`) || !strings.Contains(string(v), `"height":1`) {
						t.Errorf("namespace answer %s", v)
					}
				}},
				{QueryNamespace, "nope", CodeUnknownNamespace, nil},
				{QueryParams, "", CodeOK, func(t *testing.T, v []byte) {
					if !strings.HasPrefix(string(v), `{"replication_factor":1,"max_chunk_size":1048576,"min_members":1,"max_validators":100,`) {
						t.Errorf("params answer %s", v)
					}
				}},
				{QueryRecord, "photos/cat.jpg", CodeNotFound, nil},
				{QueryRecord, "no-slash", CodeInvalid, nil},
				{"/nonsense", "", CodeInvalid, nil},
			},
		},
		{ // 2: records, foreign namespace, replays
			txs: []txCase{
				{"submit cat", must(NewSubmitRecord(alice, testChain, 10, "photos", "albums/cat.jpg", cat, 3)), CodeOK, CodeOK},
				{"submit to foreign namespace", must(NewSubmitRecord(bob, testChain, 10, "photos", "dog", dog, 3)), CodeForeignNamespace, CodeForeignNamespace},
				{"replay across blocks", regPhotos, CodeReplay, CodeReplay},
				{"same nonce, same block (first)", must(NewSubmitRecord(alice, testChain, 11, "photos", "dog", dog, 3)), CodeOK, CodeOK},
				{"same nonce, same block (second)", must(NewSubmitRecord(alice, testChain, 11, "photos", "dog2", dog, 3)), CodeReplay, CodeReplay},
				{"bad cid", signUnchecked(t, alice, testChain, 12, &SubmitRecord{Namespace: "photos", Key: "x", CID: "bafy-not-a-cid", Size: 1}), CodeInvalid, CodeInvalid},
				{"cid v0", signUnchecked(t, alice, testChain, 13, &SubmitRecord{Namespace: "photos", Key: "x", CID: cidV0, Size: 1}), CodeInvalid, CodeInvalid},
				{"key with leading slash", signUnchecked(t, alice, testChain, 14, &SubmitRecord{Namespace: "photos", Key: "/x", CID: cat, Size: 1}), CodeInvalid, CodeInvalid},
				{"key with control char", signUnchecked(t, alice, testChain, 15, &SubmitRecord{Namespace: "photos", Key: "a\nb", CID: cat, Size: 1}), CodeInvalid, CodeInvalid},
			},
			queries: []queryCase{
				{QueryRecord, "photos/albums/cat.jpg", CodeOK, func(t *testing.T, v []byte) {
					for _, want := range []string{`"cid":"` + cat + `"`, `"version":1`, `"status":"pending"`, `"height":2`, `"attestations":[]`} {
						if !strings.Contains(string(v), want) {
							t.Errorf("record answer %s lacks %s", v, want)
						}
					}
				}},
				{QueryRecord, "photos/dog2", CodeNotFound, nil},
				{QueryPending, strings.Repeat("zz", 32), CodeInvalid, nil},
			},
		},
		{ // 3: attestations and params
			txs: []txCase{
				{"attest from non-validator", must(NewAttest(mallory, testChain, 1, Attest{Namespace: "photos", Key: "albums/cat.jpg", Version: 1, CID: cat, OK: true})), CodeNotValidator, CodeNotValidator},
				{"attest", must(NewAttest(vals[0].key, testChain, 1, Attest{Namespace: "photos", Key: "albums/cat.jpg", Version: 1, CID: cat, OK: true})), CodeOK, CodeOK},
				{"duplicate attestation", must(NewAttest(vals[0].key, testChain, 2, Attest{Namespace: "photos", Key: "albums/cat.jpg", Version: 1, CID: cat, OK: false, Reason: "changed my mind"})), CodeDuplicateAttestation, CodeDuplicateAttestation},
				{"attest wrong version", must(NewAttest(vals[1].key, testChain, 1, Attest{Namespace: "photos", Key: "albums/cat.jpg", Version: 2, CID: cat, OK: true})), CodeStale, CodeStale},
				{"attest wrong cid", must(NewAttest(vals[1].key, testChain, 2, Attest{Namespace: "photos", Key: "albums/cat.jpg", Version: 1, CID: dog, OK: true})), CodeStale, CodeStale},
				{"attest missing record", must(NewAttest(vals[1].key, testChain, 3, Attest{Namespace: "photos", Key: "missing", Version: 1, CID: cat, OK: true})), CodeNotFound, CodeNotFound},
				{"params from non-admin", must(NewParamChange(alice, testChain, 20, DefaultParams())), CodeUnauthorized, CodeUnauthorized},
				{"invalid params", signUnchecked(t, admin, testChain, 1, &ParamChange{Params: Params{ReplicationFactor: 0, MaxChunkSize: 1 << 20, MinMembers: 1}}), CodeInvalid, CodeInvalid},
				{"params from admin", must(NewParamChange(admin, testChain, 2, DefaultParams())), CodeOK, CodeOK},
			},
			queries: []queryCase{
				{QueryRecord, "photos/albums/cat.jpg", CodeOK, func(t *testing.T, v []byte) {
					if !strings.Contains(string(v), `"ok":true`) || strings.Count(string(v), `"validator"`) != 1 {
						t.Errorf("record answer %s: want exactly one OK attestation", v)
					}
				}},
				{QueryParams, "", CodeOK, func(t *testing.T, v []byte) {
					if !strings.Contains(string(v), `"replication_factor":3`) {
						t.Errorf("params answer %s: want R=3 after the change", v)
					}
				}},
				{QueryValidators, "", CodeOK, func(t *testing.T, v []byte) {
					if strings.Count(string(v), `"power":1`) != 4 {
						t.Errorf("validators answer %s", v)
					}
				}},
			},
		},
	}
	walkBlocks(t, app, blocks)

	// Rejections are counted by code, from CheckTx and FinalizeBlock alike.
	for code, want := range map[string]float64{"replay": 4, "bad_encoding": 4, "not_validator": 2, "too_large": 2} {
		if got := promtest.ToFloat64(app.rejected.WithLabelValues(code)); got != want {
			t.Errorf("xnode_abci_rejected_total{code=%q} = %v, want %v", code, got, want)
		}
	}
}

func TestCheckTxStateResetsOnCommit(t *testing.T) {
	app := openApp(t, "", nil)
	initChain(t, app, equalVals(1))
	ctx := context.Background()
	tx := mustTx(t)(NewRegisterNamespace(key("alice"), testChain, 1, "alpha"))
	check := func(want uint32) {
		t.Helper()
		resp, err := app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: tx, Type: abcitypes.CheckTxType_Recheck})
		if err != nil || resp.Code != want {
			t.Fatalf("CheckTx = %v, %v; want code %d", resp, err, want)
		}
	}
	check(CodeOK)
	check(CodeReplay) // pending in the mempool
	// An empty block commits; the mempool recheck must admit the tx again.
	finalizeAndCommit(t, app, 1, nil)
	check(CodeOK)
	finalizeAndCommit(t, app, 2, [][]byte{tx})
	check(CodeReplay) // now committed
}

func TestProposals(t *testing.T) {
	app := openApp(t, "", nil)
	initChain(t, app, equalVals(1))
	ctx := context.Background()
	must := mustTx(t)
	good1 := must(NewRegisterNamespace(key("a"), testChain, 1, "alpha"))
	good2 := must(NewRegisterNamespace(key("b"), testChain, 1, "bravo"))
	prep, err := app.PrepareProposal(ctx, &abcitypes.RequestPrepareProposal{
		MaxTxBytes: int64(len(good1) + len(good2)),
		Txs:        [][]byte{good1, []byte("junk"), good2, must(NewRegisterNamespace(key("c"), testChain, 1, "charlie"))},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(prep.Txs) != 2 || !bytes.Equal(prep.Txs[0], good1) || !bytes.Equal(prep.Txs[1], good2) {
		t.Fatalf("PrepareProposal kept %d txs, want good1 and good2 (junk dropped, third over the byte limit)", len(prep.Txs))
	}
	for _, tc := range []struct {
		txs  [][]byte
		want abcitypes.ResponseProcessProposal_ProposalStatus
	}{
		{[][]byte{good1, good2}, abcitypes.ResponseProcessProposal_ACCEPT},
		{[][]byte{good1, []byte{0xff}}, abcitypes.ResponseProcessProposal_REJECT},
	} {
		resp, err := app.ProcessProposal(ctx, &abcitypes.RequestProcessProposal{Txs: tc.txs, Height: 1})
		if err != nil || resp.Status != tc.want {
			t.Errorf("ProcessProposal = %v, %v; want %v", resp, err, tc.want)
		}
	}
}

func TestLifecycleErrors(t *testing.T) {
	app := openApp(t, "", nil)
	ctx := context.Background()
	if _, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: 1}); err == nil {
		t.Error("FinalizeBlock before InitChain succeeded")
	}
	initChain(t, app, equalVals(1))
	if _, err := app.Commit(ctx, &abcitypes.RequestCommit{}); err == nil {
		t.Error("Commit without FinalizeBlock succeeded")
	}
	finalizeAndCommit(t, app, 1, nil)
	if _, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: 3}); err == nil {
		t.Error("FinalizeBlock skipping a height succeeded")
	}
	if _, err := app.InitChain(ctx, &abcitypes.RequestInitChain{ChainId: testChain}); err == nil {
		t.Error("InitChain at height 1 succeeded")
	}
	if resp := query(t, app, QueryParams, "", nil); resp.Code != CodeOK {
		t.Errorf("params query failed: %s", resp.Log)
	}
	resp, err := app.Query(ctx, &abcitypes.RequestQuery{Path: QueryParams, Height: 7})
	if err != nil || resp.Code != CodeInvalid {
		t.Errorf("query at an old height = %v, %v; want CodeInvalid", resp, err)
	}
	if err := app.Close(); err != nil {
		t.Fatal(err)
	}
	if err := app.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if resp := query(t, app, QueryParams, "", nil); resp.Code != CodeInternal {
		t.Errorf("query after Close: code %d, want CodeInternal", resp.Code)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want string
	}{
		{Config{MaxTxBytes: 1}, "Dir"},
		{Config{InMemory: true, Dir: "/x", MaxTxBytes: 1}, "Dir"},
		{Config{InMemory: true, MaxTxBytes: MaxTxBytes + 1}, "MaxTxBytes"},
		{Config{InMemory: true, MaxTxBytes: -1}, "MaxTxBytes"},
	} {
		err := tc.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Validate(%+v) = %v, want an error naming %s", tc.cfg, err, tc.want)
		}
	}
	if err := DefaultConfig(t.TempDir()).Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
}
