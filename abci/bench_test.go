package abci

import (
	"context"
	"fmt"
	"testing"

	abcitypes "github.com/cometbft/cometbft/abci/types"
)

// BenchmarkFinalizeBlock measures FinalizeBlock plus Commit of blocks of
// 1000 SubmitRecord transactions on an on-disk DB. Building and signing
// the transactions is excluded.
func BenchmarkFinalizeBlock(b *testing.B) {
	const perBlock = 1000
	app := openApp(b, b.TempDir(), nil)
	initChain(b, app, equalVals(4))
	owner := key("bench-owner")
	must := mustTx(b)
	finalizeAndCommit(b, app, 1, [][]byte{must(NewRegisterNamespace(owner, testChain, 0, "bench"))})
	c := testCID(b, "bench")
	ctx := context.Background()
	nonce := uint64(1)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		txs := make([][]byte, perBlock)
		for j := range txs {
			txs[j] = must(NewSubmitRecord(owner, testChain, nonce, "bench", fmt.Sprintf("k/%d", nonce%5000), c, nonce))
			nonce++
		}
		b.StartTimer()
		fin, err := app.FinalizeBlock(ctx, &abcitypes.RequestFinalizeBlock{Height: int64(i + 2), Txs: txs})
		if err != nil {
			b.Fatal(err)
		}
		if fin.TxResults[perBlock-1].Code != CodeOK {
			b.Fatalf("tx failed: %s", fin.TxResults[perBlock-1].Log)
		}
		if _, err := app.Commit(ctx, &abcitypes.RequestCommit{}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*perBlock), "ns/tx")
}
