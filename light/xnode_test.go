package light_test

import (
	"context"
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cosmos/iavl"
	iavldb "github.com/cosmos/iavl/db"
	"github.com/fxamacker/cbor/v2"
	"github.com/ipfs/go-cid"
	"github.com/multiformats/go-multihash"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus/consensustest"
	"github.com/xnode/xnode/light"
)

// fundedKey's account holds 1000 in the genesis of xnodeNetwork.
var fundedKey = ed25519.NewKeyFromSeed(make([]byte, ed25519.SeedSize))

// xnodeNetwork runs n validators of the xnode application with a
// namespace "demo" and a record demo/hello committed.
func xnodeNetwork(t *testing.T, n int) (*network, string) {
	t.Helper()
	gs := abci.DefaultGenesisState()
	gs.Accounts = []abci.GenesisAccount{{Address: abci.AddressOf(fundedKey.Public().(ed25519.PublicKey)), Balance: 1000}}
	state, err := json.Marshal(gs)
	if err != nil {
		t.Fatal(err)
	}
	nw := startNetwork(t, n, func(i int, home string) abcitypes.Application {
		app, err := abci.New(abci.DefaultConfig(filepath.Join(filepath.Dir(home), "app")), nil)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}, consensustest.WithAppState(state))
	sum, err := multihash.Sum([]byte("hello"), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	root := cid.NewCidV1(cid.Raw, sum).String()
	key := nw.Keys[0]
	reg, err := abci.NewRegisterNamespace(key, nw.ChainID, 1, "demo")
	if err != nil {
		t.Fatal(err)
	}
	nw.commitTx(t, reg)
	rec, err := abci.NewSubmitRecord(key, nw.ChainID, 2, "demo", "hello", root, 5)
	if err != nil {
		t.Fatal(err)
	}
	h := nw.commitTx(t, rec)
	nw.waitHeight(t, h+2)
	return nw, root
}

// TestXnodeRecordForgedByOneNode: four validators of the xnode
// application; a client reading through one honest node verifies the
// record, its namespace, the params and an absent record, while a client
// whose primary forges the record (with the proof left alone, or with a
// proof from a tree of its own making) refuses it.
func TestXnodeRecordForgedByOneNode(t *testing.T) {
	nw, root := xnodeNetwork(t, 4)
	genesis := nw.genesisRoot(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()

	honest, err := newVerifier(t, nw.ChainID, genesis, nw.RPC[0], nw.RPC[1], nw.RPC[3])
	if err != nil {
		t.Fatal(err)
	}
	res, err := honest.Record(ctx, "demo", "hello")
	if err != nil {
		t.Fatal(err)
	}
	rec, ok := res.Value.(abci.Record)
	if !res.Found || !ok || rec.CID != root || rec.Size != 5 || rec.Namespace != "demo" || rec.Key != "hello" {
		t.Fatalf("record: got %+v", res)
	}
	if res.TotalPower != 4*10 || 3*res.SignedPower <= 2*res.TotalPower {
		t.Fatalf("signed %d of %d", res.SignedPower, res.TotalPower)
	}
	t.Logf("%s/%s → %s, %s, proof %d bytes", rec.Namespace, rec.Key, rec.CID, res, len(res.Proof.Ops[0].Data))

	ns, err := honest.Namespace(ctx, "demo")
	if err != nil {
		t.Fatal(err)
	}
	if v, ok := ns.Value.(abci.Namespace); !ok || v.Name != "demo" {
		t.Fatalf("namespace: got %+v", ns)
	}
	params, err := honest.Params(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := params.Value.(abci.Params); !ok || p != abci.DefaultParams() {
		t.Fatalf("params: got %+v, want %+v", params.Value, abci.DefaultParams())
	}
	funded := abci.AddressOf(fundedKey.Public().(ed25519.PublicKey)).String()
	bal, err := honest.Balance(ctx, funded)
	if err != nil || !bal.Found || bal.Value != uint64(1000) {
		t.Fatalf("balance: got %+v, %v", bal, err)
	}
	stranger := abci.AddressOf(nw.Keys[3].Public().(ed25519.PublicKey)).String()
	if bal, err := honest.Balance(ctx, stranger); err != nil || bal.Found || bal.Value != uint64(0) {
		t.Fatalf("balance of an account the state does not hold: got %+v, %v", bal, err)
	}
	if _, err := honest.Balance(ctx, "not-an-address"); err == nil {
		t.Fatal("a malformed address was accepted")
	}
	for _, q := range []func() (light.Result, error){
		func() (light.Result, error) { return honest.Stake(ctx, stranger) },
		func() (light.Result, error) { return honest.Record(ctx, "demo", "missing") },
		func() (light.Result, error) { return honest.Record(ctx, "nobody", "hello") },
		func() (light.Result, error) { return honest.Namespace(ctx, "nobody") },
	} {
		res, err := q()
		if err != nil || res.Found || res.Value != nil {
			t.Fatalf("absent: got %+v, %v", res, err)
		}
	}

	// Node 2 forges the record: another CID.
	forge := func(raw []byte) []byte {
		r, err := abci.DecodeRecord(raw)
		if err != nil {
			t.Error(err)
			return raw
		}
		sum := sha256.Sum256([]byte("forged"))
		mh, _ := multihash.Encode(sum[:], multihash.SHA2_256)
		r.CID = cid.NewCidV1(cid.Raw, mh).String()
		b, err := cbor.Marshal(r)
		if err != nil {
			t.Error(err)
		}
		return b
	}
	for _, tc := range []struct {
		name string
		lie  func(asked map[string]any, r *abcitypes.ResponseQuery)
		want error
	}{
		{"forged value, real proof", func(_ map[string]any, r *abcitypes.ResponseQuery) {
			r.Value = forge(r.Value)
		}, light.ErrTamperedValue},
		{"forged value, proof from a tree of the liar's making", func(_ map[string]any, r *abcitypes.ResponseQuery) {
			r.Value = forge(r.Value)
			tree := iavl.NewMutableTree(iavldb.NewMemDB(), 100, true, iavl.NewNopLogger())
			_, _ = tree.Set(r.Key, r.Value)
			_, _ = tree.Set(abci.ParamsKey(), []byte("p"))
			if _, _, err := tree.SaveVersion(); err != nil {
				t.Error(err)
			}
			p, err := tree.GetVersionedProof(r.Key, tree.Version())
			if err != nil {
				t.Error(err)
				return
			}
			r.ProofOps.Ops[0].Data, _ = p.Marshal()
		}, light.ErrAppHashMismatch},
	} {
		t.Run(tc.name, func(t *testing.T) {
			forger := newLiar(t, nw.RPC[2])
			forger.lie(lies{answer: tc.lie})
			v, err := newVerifier(t, nw.ChainID, genesis, forger.URL, nw.RPC[0])
			if err != nil {
				t.Fatal(err)
			}
			res, err := v.Record(ctx, "demo", "hello")
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %+v, %v; want %v", res, err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
	// The honest client still verifies through its node.
	if _, err := honest.Record(ctx, "demo", "hello"); err != nil {
		t.Fatal(err)
	}
}
