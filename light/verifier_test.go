package light_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"net"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	cmted "github.com/cometbft/cometbft/crypto/ed25519"
	rpchttp "github.com/cometbft/cometbft/rpc/client/http"
	ctypes "github.com/cometbft/cometbft/rpc/core/types"
	"github.com/cometbft/cometbft/types"

	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
	"github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/light"
)

// newVerifier starts a Verifier on primary and witnesses with root.
func newVerifier(t testing.TB, chainID string, root light.TrustRoot, primary string, witnesses ...string) (*light.Verifier, error) {
	t.Helper()
	cfg := light.DefaultConfig()
	cfg.ChainID = chainID
	cfg.Primary = primary
	cfg.Witnesses = witnesses
	cfg.TrustRoot = root
	cfg.RequestTimeout = 5 * time.Second
	v, err := light.New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = v.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return v, v.Start(ctx)
}

func query(t testing.TB, v *light.Verifier, key string) (light.Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	return v.Query(ctx, "/kv", []byte(key), []byte(key))
}

// TestVerifierRefusesLies runs four validators of an IAVL key-value app
// and a client that reads through a primary and a witness that each relay a
// real node's RPC, falsifying what each case says; the client must refuse
// every lie with the error naming the check that failed, and accept the
// truth.
func TestVerifierRefusesLies(t *testing.T) {
	nw := startNetwork(t, 4, func(int, string) abcitypes.Application { return newKVApp() })
	hOld := nw.commitTx(t, []byte("k1=v1"))
	nw.commitTx(t, []byte("k2=w"))
	hNew := nw.commitTx(t, []byte("k1=v2"))
	nw.waitHeight(t, hNew+1)
	root := nw.genesisRoot(t)

	t.Run("truth", func(t *testing.T) {
		p, w := newLiar(t, nw.RPC[0]), newLiar(t, nw.RPC[1])
		v, err := newVerifier(t, nw.ChainID, root, p.URL, w.URL)
		if err != nil {
			t.Fatal(err)
		}
		res, err := query(t, v, "k1")
		if err != nil {
			t.Fatal(err)
		}
		if !res.Found || string(res.Raw) != "v2" || res.Height < hNew || res.HeaderHeight != res.Height+1 {
			t.Fatalf("got %+v, want k1=v2 at height >= %d", res, hNew)
		}
		if res.TotalPower != 4*10 || 3*res.SignedPower <= 2*res.TotalPower {
			t.Fatalf("signed %d of %d, want more than 2/3 of 40", res.SignedPower, res.TotalPower)
		}
		if want := "verified at height "; !strings.HasPrefix(res.String(), want) || !strings.Contains(res.String(), " of 40 voting power") {
			t.Fatalf("summary %q", res.String())
		}
		if len(res.Proof.Ops) != 1 || res.Proof.Ops[0].Type != light.ProofOpType || string(res.Proof.Key) != "k1" {
			t.Fatalf("proof %+v", res.Proof)
		}
		absent, err := query(t, v, "nope")
		if err != nil {
			t.Fatal(err)
		}
		if absent.Found || absent.Raw != nil {
			t.Fatalf("absent key: got %+v", absent)
		}

		// A proof obtained elsewhere, as the API serves it, verifies
		// alone; altered, it does not.
		for _, p := range []light.Result{res, absent} {
			again, err := v.Verify(t.Context(), p.Proof, p.Key)
			if err != nil || again.Found != p.Found || string(again.Raw) != string(p.Raw) || again.Height != p.Height {
				t.Fatalf("Verify %s: %+v, %v", p.Key, again, err)
			}
		}
		for _, tc := range []struct {
			name  string
			alter func(p *light.Proof)
			want  error
		}{
			{"value", func(p *light.Proof) { p.Value = []byte("forged") }, light.ErrTamperedValue},
			{"height", func(p *light.Proof) { p.Height = hOld }, light.ErrAppHashMismatch},
			{"no height", func(p *light.Proof) { p.Height = 0 }, light.ErrWrongHeight},
			{"key", func(p *light.Proof) { p.Key = []byte("k2") }, light.ErrWrongKey},
			{"ops", func(p *light.Proof) { p.Ops = nil }, light.ErrNoProof},
		} {
			p := res.Proof
			p.Ops = append([]light.ProofOp(nil), p.Ops...)
			tc.alter(&p)
			if _, err := v.Verify(t.Context(), p, []byte("k1")); !errors.Is(err, tc.want) {
				t.Fatalf("Verify with another %s: got %v, want %v", tc.name, err, tc.want)
			}
		}
	})

	otherProof := func(t *testing.T, key string) []byte {
		// A genuine proof for another key, from the honest node.
		t.Helper()
		p, w := newLiar(t, nw.RPC[2]), newLiar(t, nw.RPC[3])
		v, err := newVerifier(t, nw.ChainID, root, p.URL, w.URL)
		if err != nil {
			t.Fatal(err)
		}
		res, err := query(t, v, key)
		if err != nil {
			t.Fatal(err)
		}
		return res.Proof.Ops[0].Data
	}
	k2Proof := otherProof(t, "k2")

	cases := []struct {
		name          string
		key           string
		primary, wits lies
		want          error
	}{
		{name: "tampered value", key: "k1", want: light.ErrTamperedValue, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.Value = []byte("forged") },
		}},
		{name: "present value claimed absent", key: "k1", want: light.ErrTamperedValue, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.Value = nil },
		}},
		{name: "absent key claimed present", key: "nope", want: light.ErrTamperedValue, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.Value = []byte("forged") },
		}},
		{name: "answer for another key", key: "k1", want: light.ErrWrongKey, primary: lies{
			query: func(p map[string]any) { setQueryData(p, []byte("k2")) },
		}},
		{name: "proof for another key under the asked key", key: "k1", want: light.ErrWrongKey, primary: lies{
			query:  func(p map[string]any) { setQueryData(p, []byte("k2")) },
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.Key = []byte("k1") },
		}},
		{name: "proof for another key in a proof op for the asked key", key: "k1", want: light.ErrWrongKey, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) {
				r.Value = []byte("w")
				r.ProofOps.Ops[0].Data = k2Proof
			},
		}},
		{name: "answer for another height", key: "k1", want: light.ErrWrongHeight, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.Height-- },
		}},
		{name: "proof from an older height", key: "k1", want: light.ErrAppHashMismatch, primary: lies{
			query:  func(p map[string]any) { setQueryHeight(p, hOld) },
			answer: func(asked map[string]any, r *abcitypes.ResponseQuery) { r.Height = askedHeight(asked) },
		}},
		{name: "no proof", key: "k1", want: light.ErrNoProof, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.ProofOps = nil },
		}},
		{name: "proof of another type", key: "k1", want: light.ErrNoProof, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.ProofOps.Ops[0].Type = "iavl:v" },
		}},
		{name: "garbage proof", key: "k1", want: light.ErrBadProof, primary: lies{
			answer: func(_ map[string]any, r *abcitypes.ResponseQuery) { r.ProofOps.Ops[0].Data = []byte{0xff, 0xff, 0xff} },
		}},
		{name: "header signed by too little power", key: "k1", want: light.ErrInsufficientPower, primary: lies{
			commit: dropSignatures(2), // 20 of 40
		}},
		{name: "witness disagrees with the primary", key: "k1", want: light.ErrWitnessConflict, wits: lies{
			commit: func(r *ctypes.ResultCommit) { r.Header.AppHash = []byte("another state, another hash....") },
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, w := newLiar(t, nw.RPC[0]), newLiar(t, nw.RPC[1])
			v, err := newVerifier(t, nw.ChainID, root, p.URL, w.URL)
			if err != nil {
				t.Fatal(err)
			}
			p.lie(tc.primary)
			w.lie(tc.wits)
			res, err := query(t, v, tc.key)
			if !errors.Is(err, tc.want) {
				t.Fatalf("got %+v, %v; want an error wrapping %v", res, err, tc.want)
			}
			t.Logf("refused: %v", err)
		})
	}
}

// TestVerifierTrustRoot starts verifiers from good and bad trust roots.
func TestVerifierTrustRoot(t *testing.T) {
	nw := startNetwork(t, 1, func(int, string) abcitypes.Application { return newKVApp() })
	second := startNetwork(t, 1, func(int, string) abcitypes.Application { return newKVApp() })
	h := nw.commitTx(t, []byte("a=1"))
	nw.waitHeight(t, h+2)
	root := nw.genesisRoot(t)
	// A single validator: the witness is a second relay of the same node.
	p, w := newLiar(t, nw.RPC[0]), newLiar(t, nw.RPC[0])

	t.Run("genesis", func(t *testing.T) {
		v, err := newVerifier(t, nw.ChainID, root, p.URL, w.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := query(t, v, "a"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("trusted header", func(t *testing.T) {
		hash := headerHash(t, nw, h)
		v, err := newVerifier(t, nw.ChainID, light.TrustRoot{Height: h, Hash: hash}, p.URL, w.URL)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := query(t, v, "a"); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("wrong trusted hash", func(t *testing.T) {
		hash := headerHash(t, nw, 3)
		_, err := newVerifier(t, nw.ChainID, light.TrustRoot{Height: 2, Hash: hash}, p.URL, w.URL)
		if !errors.Is(err, light.ErrTrustRoot) {
			t.Fatalf("got %v, want ErrTrustRoot", err)
		}
	})
	t.Run("genesis of another network", func(t *testing.T) {
		doc := *root.Genesis
		pub, _, _ := ed25519.GenerateKey(rand.Reader)
		key := cmted.PubKey(pub)
		doc.Validators = []types.GenesisValidator{{Address: key.Address(), PubKey: key, Power: 10}}
		_, err := newVerifier(t, nw.ChainID, light.TrustRoot{Genesis: &doc}, p.URL, w.URL)
		if !errors.Is(err, light.ErrTrustRoot) {
			t.Fatalf("got %v, want ErrTrustRoot", err)
		}
	})
	t.Run("witness of another network", func(t *testing.T) {
		other := newLiar(t, second.RPC[0])
		_, err := newVerifier(t, nw.ChainID, root, p.URL, other.URL)
		if !errors.Is(err, light.ErrWitnessConflict) {
			t.Fatalf("got %v, want ErrWitnessConflict", err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("not started", func(t *testing.T) {
		cfg := light.DefaultConfig()
		cfg.Primary, cfg.Witnesses, cfg.TrustRoot = p.URL, []string{w.URL}, root
		v, err := light.New(cfg)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := v.Query(t.Context(), "/kv", []byte("a"), []byte("a")); !errors.Is(err, light.ErrNotStarted) {
			t.Fatalf("got %v, want ErrNotStarted", err)
		}
	})
}

func headerHash(t *testing.T, nw *network, h int64) []byte {
	t.Helper()
	c, err := rpchttp.New(nw.RPC[0], "/websocket")
	if err != nil {
		t.Fatal(err)
	}
	res, err := c.Commit(t.Context(), &h)
	if err != nil {
		t.Fatal(err)
	}
	return res.Header.Hash()
}

// TestVerifierRefusesAFork: the witness is a node whose one validator key
// is the primary's, run apart from it, so it signs a chain of its own: its
// headers are validly signed and differ from the primary's. The light
// client sees the conflict and the read is refused.
func TestVerifierRefusesAFork(t *testing.T) {
	_, key, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	genesisTime := time.Now().UTC()
	var nodes []*consensus.Node
	var rpc []string
	var genesis *types.GenesisDoc
	for i, value := range []string{"a=primary", "a=fork"} {
		home := filepath.Join(t.TempDir(), "cometbft")
		if err := consensus.Init(consensus.InitConfig{Home: home, ChainID: "forked", Moniker: fmt.Sprintf("side%d", i), Key: key, GenesisTime: genesisTime}); err != nil {
			t.Fatal(err)
		}
		if genesis == nil {
			raw, err := consensus.ReadGenesis(home)
			if err != nil {
				t.Fatal(err)
			}
			if genesis, err = types.GenesisDocFromJSON(raw); err != nil {
				t.Fatal(err)
			}
		}
		cfg := consensus.DevConfig()
		cfg.Home = home
		cfg.P2PListen = net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
		cfg.RPCListen = net.JoinHostPort("127.0.0.1", strconv.Itoa(testutil.FreePort(t)))
		n, err := consensus.New(cfg, newKVApp(), testutil.Logger(fmt.Sprintf("side%d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
		err = n.Start(ctx)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { _ = n.Close() })
		nodes = append(nodes, n)
		rpc = append(rpc, "http://"+cfg.RPCListen)
		ctx, cancel = context.WithTimeout(t.Context(), 30*time.Second)
		res, err := n.BroadcastTxCommit(ctx, []byte(value))
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		consensustest.WaitHeight(t, []*consensus.Node{n}, res.Height+2, 30*time.Second)
	}
	root := light.TrustRoot{Genesis: genesis}
	t.Run("at the trust root", func(t *testing.T) {
		_, err := newVerifier(t, "forked", root, rpc[0], rpc[1])
		if !errors.Is(err, light.ErrWitnessConflict) {
			t.Fatalf("got %v, want ErrWitnessConflict", err)
		}
		t.Logf("refused: %v", err)
	})
	t.Run("after the trust root", func(t *testing.T) {
		// The witness agrees while the client starts, then relays the
		// fork: a validly signed header that conflicts with the
		// primary's, which CometBFT's light client treats as an attack.
		witness := newLiar(t, rpc[0])
		v, err := newVerifier(t, "forked", root, rpc[0], witness.URL)
		if err != nil {
			t.Fatal(err)
		}
		witness.relay(rpc[1])
		res, err := query(t, v, "a")
		if !errors.Is(err, light.ErrWitnessConflict) {
			t.Fatalf("got %+v, %v; want ErrWitnessConflict", res, err)
		}
		t.Logf("refused: %v", err)
	})
}
