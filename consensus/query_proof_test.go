package consensus_test

import (
	"context"
	"encoding/json"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/light"
)

// TestQueryProofVerifiesAgainstStoredHeader: a proven query at the default
// height answers for a height whose header is already stored, and its proof
// checks against that header's app hash, for a present and an absent key.
func TestQueryProofVerifiesAgainstStoredHeader(t *testing.T) {
	home := filepath.Join(t.TempDir(), "cometbft")
	state, err := json.Marshal(abci.DefaultGenesisState())
	if err != nil {
		t.Fatal(err)
	}
	if err := consensus.Init(consensus.InitConfig{Home: home, ChainID: testChainID, Moniker: "solo", Key: newKey(t), AppState: state}); err != nil {
		t.Fatal(err)
	}
	app, err := abci.New(abci.DefaultConfig(filepath.Join(t.TempDir(), "app")), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = app.Close() })
	n, err := consensus.New(devConfig(t, home), app, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	if _, err := n.QueryProof(ctx, abci.QueryParams, nil, 0); !errors.Is(err, consensus.ErrNotStarted) {
		t.Fatalf("before start: got %v, want ErrNotStarted", err)
	}
	if err := n.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = n.Close() })
	waitProofHeight(t, n, 3)

	for _, tc := range []struct {
		path string
		data []byte
		key  []byte
		want bool
	}{
		{abci.QueryParams, nil, abci.ParamsKey(), true},
		{abci.QueryNamespace, []byte("nobody"), abci.NamespaceKey("nobody"), false},
		{abci.QueryRecord, []byte("nobody/key"), abci.RecordKey("nobody", "key"), false},
	} {
		res, err := n.QueryProof(ctx, tc.path, tc.data, 0)
		if err != nil || res.Code != 0 {
			t.Fatalf("%s: %+v, %v", tc.path, res, err)
		}
		appHash, err := n.CommittedAppHash(res.Height)
		if err != nil {
			t.Fatalf("%s at height %d: the header with its app hash is not stored: %v", tc.path, res.Height, err)
		}
		if err := light.CheckProof(res.ProofOps, tc.key, res.Value, appHash); err != nil {
			t.Fatalf("%s at height %d: %v", tc.path, res.Height, err)
		}
		if found := res.Value != nil; found != tc.want {
			t.Fatalf("%s: found %v, want %v", tc.path, found, tc.want)
		}
		// An explicit height answers for that height.
		again, err := n.QueryProof(ctx, tc.path, tc.data, res.Height)
		if err != nil || again.Height != res.Height {
			t.Fatalf("%s at height %d: answered height %d, %v", tc.path, res.Height, again.Height, err)
		}
	}
	if _, err := n.QueryProof(ctx, abci.QueryParams, nil, -1); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("negative height: got %v, want ErrInvalidArgument", err)
	}
}

func waitProofHeight(t *testing.T, n *consensus.Node, h int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	ch, err := n.NewBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for status(t, n).Height < h {
		select {
		case <-ch:
		case <-ctx.Done():
			t.Fatalf("height %d not reached", h)
		}
	}
}
