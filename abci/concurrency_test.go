package abci

import (
	"context"
	"sync"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"go.uber.org/goleak"
)

func TestMain(m *testing.M) {
	// Close must stop everything badger started.
	goleak.VerifyTestMain(m)
}

// TestConcurrentConnections drives the consensus connection while the
// mempool and query connections run CheckTx and Query, as CometBFT does
// with an unsynchronised local client. Run with -race.
func TestConcurrentConnections(t *testing.T) {
	vals := equalVals(4)
	blocks := genBlocks(t, 3, 15, 15, vals)
	app := openApp(t, t.TempDir(), nil)
	initChain(t, app, vals)
	ctx := context.Background()
	done := make(chan struct{})
	var wg sync.WaitGroup
	errs := make(chan string, 2)
	wg.Add(2)
	go func() { // query connection: heights never go backwards
		defer wg.Done()
		var last int64
		for {
			select {
			case <-done:
				return
			default:
			}
			resp, err := app.Query(ctx, &abcitypes.RequestQuery{Path: QueryValidators})
			if err != nil || resp.Code != CodeOK || resp.Height < last {
				errs <- "query failed or went back in height"
				return
			}
			last = resp.Height
		}
	}()
	go func() { // mempool connection
		defer wg.Done()
		for i := 0; ; i++ {
			select {
			case <-done:
				return
			default:
			}
			txs := blocks[i%len(blocks)]
			if _, err := app.CheckTx(ctx, &abcitypes.RequestCheckTx{Tx: txs[i%len(txs)]}); err != nil {
				errs <- "CheckTx returned a Go error"
				return
			}
		}
	}()
	for i, txs := range blocks {
		finalizeAndCommit(t, app, int64(i+1), txs)
	}
	close(done)
	wg.Wait()
	close(errs)
	for e := range errs {
		t.Error(e)
	}
	if h, _ := info(t, app); h != int64(len(blocks)) {
		t.Errorf("height %d, want %d", h, len(blocks))
	}
}
