package abci

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmtcrypto "github.com/cometbft/cometbft/proto/tendermint/crypto"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/testutil"
)

const testChain = "xnode-test"

// key derives a fixed ed25519 key from a name, so runs are reproducible.
func key(name string) ed25519.PrivateKey {
	seed := sha256.Sum256([]byte("abci-test-key/" + name))
	return ed25519.NewKeyFromSeed(seed[:])
}

func pub(priv ed25519.PrivateKey) ed25519.PublicKey { return priv.Public().(ed25519.PublicKey) }

// testCID returns the base32 CIDv1 (raw, sha2-256) of data.
func testCID(tb testing.TB, data string) string {
	tb.Helper()
	mh, err := multihash.Sum([]byte(data), multihash.SHA2_256, -1)
	if err != nil {
		tb.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, mh).String()
}

// openApp opens an App on dir (in memory when dir is empty) and closes it
// at cleanup.
func openApp(tb testing.TB, dir string, reg prometheus.Registerer) *App {
	tb.Helper()
	cfg := DefaultConfig(dir)
	if dir == "" {
		cfg.InMemory = true
	}
	cfg.Logger = testutil.Logger("abci")
	app, err := New(cfg, reg)
	if err != nil {
		tb.Fatalf("New: %v", err)
	}
	tb.Cleanup(func() {
		if err := app.Close(); err != nil {
			tb.Errorf("Close: %v", err)
		}
	})
	return app
}

type genesisVal struct {
	key   ed25519.PrivateKey
	power int64
}

// initChain runs InitChain with the given validators and admins.
func initChain(tb testing.TB, app *App, vals []genesisVal, admins ...ed25519.PrivateKey) []byte {
	tb.Helper()
	g := GenesisState{Params: DevParams()}
	for _, a := range admins {
		g.Admins = append(g.Admins, pub(a))
	}
	state, err := json.Marshal(g)
	if err != nil {
		tb.Fatal(err)
	}
	req := &abcitypes.RequestInitChain{ChainId: testChain, AppStateBytes: state, InitialHeight: 1}
	for _, v := range vals {
		req.Validators = append(req.Validators, abcitypes.ValidatorUpdate{
			PubKey: cmtcrypto.PublicKey{Sum: &cmtcrypto.PublicKey_Ed25519{Ed25519: pub(v.key)}},
			Power:  v.power,
		})
	}
	resp, err := app.InitChain(context.Background(), req)
	if err != nil {
		tb.Fatalf("InitChain: %v", err)
	}
	return resp.AppHash
}

// equalVals returns n validators of power 1.
func equalVals(n int) []genesisVal {
	vals := make([]genesisVal, n)
	for i := range vals {
		vals[i] = genesisVal{key: key("validator-" + string(rune('a'+i))), power: 1}
	}
	return vals
}

// finalizeAndCommit runs one block and returns its results and app hash.
func finalizeAndCommit(tb testing.TB, app *App, height int64, txs [][]byte) ([]*abcitypes.ExecTxResult, []byte) {
	tb.Helper()
	ctx := context.Background()
	fin, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: height, Txs: txs})
	if err != nil {
		tb.Fatalf("FinalizeBlock %d: %v", height, err)
	}
	if len(fin.TxResults) != len(txs) {
		tb.Fatalf("FinalizeBlock %d: %d results for %d txs", height, len(fin.TxResults), len(txs))
	}
	if _, err := app.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
		tb.Fatalf("Commit %d: %v", height, err)
	}
	return fin.TxResults, fin.AppHash
}

// mustTx fails the test if a constructor fails.
func mustTx(tb testing.TB) func([]byte, error) []byte {
	return func(b []byte, err error) []byte {
		tb.Helper()
		if err != nil {
			tb.Fatalf("build tx: %v", err)
		}
		return b
	}
}

// signUnchecked signs payload without ValidateBasic, to build transactions
// the constructors refuse (bad names, bad CIDs).
func signUnchecked(tb testing.TB, priv ed25519.PrivateKey, chainID string, nonce uint64, p Payload) []byte {
	tb.Helper()
	env := &Envelope{Kind: p.Kind(), Signer: pub(priv), Nonce: nonce, Payload: p}
	_, unsigned, err := env.encode()
	if err != nil {
		tb.Fatal(err)
	}
	env.Signature = ed25519.Sign(priv, signBytes(chainID, unsigned))
	full, _, err := env.encode()
	if err != nil {
		tb.Fatal(err)
	}
	return full
}

// query runs an ABCI query and decodes a successful answer into v.
func query(tb testing.TB, app *App, path, data string, v any) *abcitypes.ResponseQuery {
	tb.Helper()
	resp, err := app.Query(context.Background(), &abcitypes.RequestQuery{Path: path, Data: []byte(data)})
	if err != nil {
		tb.Fatalf("Query %s %q: Go error %v", path, data, err)
	}
	if resp.Code == CodeOK && v != nil {
		if err := json.Unmarshal(resp.Value, v); err != nil {
			tb.Fatalf("Query %s %q: decode %s: %v", path, data, resp.Value, err)
		}
	}
	return resp
}

func getRecord(tb testing.TB, app *App, path string) Record {
	tb.Helper()
	var rec Record
	if resp := query(tb, app, QueryRecord, path, &rec); resp.Code != CodeOK {
		tb.Fatalf("record %s: code %d (%s)", path, resp.Code, resp.Log)
	}
	return rec
}
