package consensus_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
)

// benchmarkSubmit is benchmarkCommitKVStore through SubmitTx (the API's
// path: a look-up of the hash among recent commits and in the tx index, then
// CheckTx, then the wait), with the tx indexer on or off, on one validator.
func benchmarkSubmit(b *testing.B, index bool) {
	nw := consensustest.StartNetwork(b, 1, func(int, string) abcitypes.Application {
		return kvstore.NewInMemoryApplication()
	}, consensustest.WithConfig(func(_ int, cfg *consensus.Config) { cfg.IndexTxs = index }))
	n := nw.Nodes[0]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	makeTx := kvTx(fmt.Sprint(time.Now().UnixNano()))
	lat := make([]time.Duration, b.N)
	next := make(chan int)
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		failed int
		first  error
	)
	b.ResetTimer()
	start := time.Now()
	for range benchConcurrency {
		wg.Go(func() {
			for i := range next {
				t0 := time.Now()
				res, err := n.SubmitTx(ctx, makeTx(i))
				if err == nil && (res.Status != consensus.TxCommitted || res.Code != 0) {
					err = fmt.Errorf("%s code %d", res.Status, res.Code)
				}
				if err != nil {
					mu.Lock()
					failed++
					if first == nil {
						first = err
					}
					mu.Unlock()
					continue
				}
				lat[i] = time.Since(t0)
			}
		})
	}
	for i := range b.N {
		next <- i
	}
	close(next)
	wg.Wait()
	took := time.Since(start)
	b.StopTimer()
	if failed > 0 {
		b.Fatalf("%d of %d failed: %v", failed, b.N, first)
	}
	slices.Sort(lat)
	p50, p95 := lat[len(lat)/2], lat[len(lat)*95/100]
	b.ReportMetric(float64(b.N)/took.Seconds(), "tx/s")
	b.ReportMetric(float64(p50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(p95.Microseconds())/1000, "p95-ms")
}

// BenchmarkSubmitKVStore1 measures SubmitTx on one kvstore validator with
// the tx index on (xnode's default); compare BenchmarkCommitKVStore1. Run
// with a fixed count, e.g. -benchtime 3000x.
func BenchmarkSubmitKVStore1(b *testing.B) { benchmarkSubmit(b, true) }

// BenchmarkSubmitKVStore1NoIndex is BenchmarkSubmitKVStore1 with the index off.
func BenchmarkSubmitKVStore1NoIndex(b *testing.B) { benchmarkSubmit(b, false) }
