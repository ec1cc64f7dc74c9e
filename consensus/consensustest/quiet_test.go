package consensustest_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
)

// TestQuietChainHonoursEmptyBlockInterval: with xnode's application an
// empty block leaves the app hash as it was, so CometBFT waits the empty
// block interval between quiet blocks instead of making one every commit
// timeout (it makes a block at once only to carry a changed app hash).
func TestQuietChainHonoursEmptyBlockInterval(t *testing.T) {
	const interval = 1500 * time.Millisecond
	state, _ := json.Marshal(abci.GenesisState{Params: abci.DevParams()})
	nw := consensustest.StartNetwork(t, 1, func(_ int, home string) abcitypes.Application {
		app, err := abci.New(abci.DefaultConfig(filepath.Join(filepath.Dir(home), "app")), nil)
		if err != nil {
			t.Fatal(err)
		}
		return app
	}, consensustest.WithAppState(state), consensustest.WithConfig(func(_ int, cfg *consensus.Config) {
		cfg.TimeoutCommit = 50 * time.Millisecond
		cfg.CreateEmptyBlocks = true
		cfg.CreateEmptyBlocksInterval = interval
	}))
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	blocks, err := nw.Nodes[0].NewBlocks(ctx)
	if err != nil {
		t.Fatal(err)
	}
	// Skip the block in flight, then time four quiet blocks.
	var last time.Time
	var gaps []time.Duration
	for len(gaps) < 4 {
		select {
		case <-blocks:
		case <-ctx.Done():
			t.Fatalf("only %d quiet blocks in 30 s", len(gaps))
		}
		now := time.Now()
		if !last.IsZero() {
			gaps = append(gaps, now.Sub(last))
		}
		last = now
	}
	for i, g := range gaps {
		// The commit timeout alone would give ~50 ms; allow for scheduling.
		if g < interval*8/10 {
			t.Errorf("quiet block %d came %s after the last, want about %s: %v", i, g, interval, gaps)
		}
	}
	t.Logf("gaps between quiet blocks: %v", gaps)
}
