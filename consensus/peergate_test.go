package consensus

import (
	"context"
	"testing"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
)

// TestPeerGate: CometBFT's peer filter queries are answered by the gate
// (every peer until Close begins, none after); every other query reaches the
// application, before and after.
func TestPeerGate(t *testing.T) {
	app := kvstore.NewInMemoryApplication()
	g := &peerGate{Application: app}
	ctx := context.Background()
	if _, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: 1, Txs: [][]byte{[]byte("k=v")}}); err != nil {
		t.Fatal(err)
	}
	if _, err := app.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
		t.Fatal(err)
	}
	query := func(path string, data []byte) *abcitypes.ResponseQuery {
		t.Helper()
		res, err := g.Query(ctx, &abcitypes.RequestQuery{Path: path, Data: data})
		if err != nil {
			t.Fatal(err)
		}
		return res
	}
	for _, closing := range []bool{false, true} {
		g.closing.Store(closing)
		for _, p := range []string{"/p2p/filter/addr/127.0.0.1:26656", "/p2p/filter/id/0123456789abcdef0123456789abcdef01234567"} {
			if res := query(p, nil); res.IsOK() == closing {
				t.Fatalf("closing %t: %s answered code %d", closing, p, res.Code)
			}
		}
		if res := query("", []byte("k")); !res.IsOK() || string(res.Value) != "v" {
			t.Fatalf("closing %t: app query answered %+v", closing, res)
		}
	}
}
