package consensustest_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/block"
	"github.com/xnode/xnode/consensus/consensustest"
)

// commitConcurrency is how many submitters wait on commits at once: enough
// that blocks fill, so the figure is throughput rather than block latency.
const commitConcurrency = 256

// BenchmarkCommit compares records committed per second and commit latency
// of xnode's application against CometBFT's kvstore example, in the same
// harness (consensustest: DevConfig timeouts, loopback validators), with
// transactions of the same size, on 1 and 4 validators. Run with a fixed
// count so each network starts once, e.g. -benchtime 2000x.
func BenchmarkCommit(b *testing.B) {
	for _, v := range []int{1, 4} {
		b.Run(fmt.Sprintf("kvstore/validators=%d", v), func(b *testing.B) { benchKVStore(b, v) })
		b.Run(fmt.Sprintf("xnode/validators=%d", v), func(b *testing.B) { benchXnode(b, v) })
	}
}

// recordTxSize is the size of the SubmitRecord transactions benchXnode sends.
var recordTxSize = func() int {
	tx, _ := abci.NewSubmitRecord(make([]byte, 64), "consensustest", 1<<40, "bench", "k/000000000", block.Sum(block.CodecManifest, nil).String(), 1<<20)
	return len(tx)
}()

func report(b *testing.B, res consensustest.LoadResult) {
	if res.Failed > 0 {
		b.Fatalf("%d of %d failed: %v", res.Failed, b.N, res.FirstErr)
	}
	b.ReportMetric(res.TxPerSec(), "tx/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P95.Microseconds())/1000, "p95-ms")
}

func benchKVStore(b *testing.B, validators int) {
	nw := consensustest.StartNetwork(b, validators, func(int, string) abcitypes.Application {
		return kvstore.NewInMemoryApplication()
	})
	run := time.Now().UnixNano()
	makeTx := func(i int) []byte {
		key := fmt.Sprintf("b%d-%d=", run, i)
		return append([]byte(key), bytes.Repeat([]byte{'x'}, recordTxSize-len(key))...)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	b.ResetTimer()
	res := consensustest.RunLoad(ctx, nw.Nodes, makeTx, b.N, commitConcurrency)
	b.StopTimer()
	report(b, res)
}

func benchXnode(b *testing.B, validators int) {
	state, _ := json.Marshal(abci.GenesisState{Params: abci.DefaultParams()})
	nw := consensustest.StartNetwork(b, validators, func(i int, home string) abcitypes.Application {
		app, err := abci.New(abci.DefaultConfig(filepath.Join(home, "app")), nil)
		if err != nil {
			b.Fatal(err)
		}
		return app
	}, consensustest.WithAppState(state))
	key := nw.Keys[0]
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	reg, _ := abci.NewRegisterNamespace(key, "consensustest", 1, "bench")
	if _, err := nw.Nodes[0].BroadcastTxCommit(ctx, reg); err != nil {
		b.Fatal(err)
	}
	root := block.Sum(block.CodecManifest, nil).String()
	base := uint64(time.Now().UnixNano())
	makeTx := func(i int) []byte {
		tx, err := abci.NewSubmitRecord(key, "consensustest", base+uint64(i), "bench", fmt.Sprintf("k/%09d", i), root, 1<<20)
		if err != nil {
			panic(err)
		}
		return tx
	}
	if got := len(makeTx(0)); got != recordTxSize {
		b.Fatalf("record tx is %d bytes, kvstore txs %d", got, recordTxSize)
	}
	b.ResetTimer()
	res := consensustest.RunLoad(ctx, nw.Nodes, makeTx, b.N, commitConcurrency)
	b.StopTimer()
	report(b, res)
}
