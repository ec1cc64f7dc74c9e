package consensus_test

import (
	"bytes"
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/xnode/xnode/consensus/consensustest"
)

const (
	benchTxSize      = 200 // bytes, about a signed record envelope
	benchConcurrency = 64  // submitters in flight
)

// kvTx is a unique kvstore transaction of exactly benchTxSize bytes:
// "b<run>-<i>=<padding>".
func kvTx(run string) func(i int) []byte {
	return func(i int) []byte {
		key := fmt.Sprintf("b%s-%d=", run, i)
		return append([]byte(key), bytes.Repeat([]byte{'x'}, benchTxSize-len(key))...)
	}
}

func benchmarkCommitKVStore(b *testing.B, validators int) {
	nw := consensustest.StartNetwork(b, validators, func(int, string) abcitypes.Application {
		return kvstore.NewInMemoryApplication()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	b.ResetTimer()
	res := consensustest.RunLoad(ctx, nw.Nodes, kvTx(fmt.Sprint(time.Now().UnixNano())), b.N, benchConcurrency)
	b.StopTimer()
	if res.Failed > 0 {
		b.Fatalf("%d of %d failed: %v", res.Failed, b.N, res.FirstErr)
	}
	b.ReportMetric(res.TxPerSec(), "tx/s")
	b.ReportMetric(float64(res.P50.Microseconds())/1000, "p50-ms")
	b.ReportMetric(float64(res.P95.Microseconds())/1000, "p95-ms")
	b.Logf("%d validators: %s", validators, res)
}

// BenchmarkCommitKVStore1 measures BroadcastTxCommit on one validator running
// CometBFT's kvstore, with DevConfig timeouts. Run with a fixed count, e.g.
// -benchtime 3000x, so the network starts once per run.
func BenchmarkCommitKVStore1(b *testing.B) { benchmarkCommitKVStore(b, 1) }

// BenchmarkCommitKVStore4 is BenchmarkCommitKVStore1 on four validators on
// loopback, transactions spread round-robin over them.
func BenchmarkCommitKVStore4(b *testing.B) { benchmarkCommitKVStore(b, 4) }
