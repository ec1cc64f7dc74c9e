package consensustest_test

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	"github.com/cometbft/cometbft/abci/example/kvstore"
	abcitypes "github.com/cometbft/cometbft/abci/types"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/consensus/consensustest"
)

// idleBlocks is how many quiet blocks BenchmarkIdleCPU watches (an empty
// block every 5 s: about 20 s).
const idleBlocks = 4

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		panic(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkIdleCPU measures the CPU four quiet validators use (consensus
// only, in one process, no transactions), with CometBFT's kvstore and with
// xnode's application, under the localnet's consensus settings. It reports
// the share of one core. Run with -benchtime 1x.
func BenchmarkIdleCPU(b *testing.B) {
	configure := consensustest.WithConfig(func(_ int, cfg *consensus.Config) {
		cfg.TimeoutCommit = 500 * time.Millisecond
		cfg.CreateEmptyBlocks = true
		cfg.CreateEmptyBlocksInterval = 5 * time.Second
	})
	state, _ := json.Marshal(abci.GenesisState{Params: abci.DevParams()})
	apps := map[string]consensustest.AppFactory{
		"kvstore": func(int, string) abcitypes.Application { return kvstore.NewInMemoryApplication() },
		"xnode": func(_ int, home string) abcitypes.Application {
			app, err := abci.New(abci.DefaultConfig(filepath.Join(filepath.Dir(home), "app")), nil)
			if err != nil {
				b.Fatal(err)
			}
			return app
		},
	}
	for _, name := range []string{"kvstore", "xnode"} {
		b.Run(name, func(b *testing.B) {
			opts := []consensustest.Option{configure}
			if name == "xnode" {
				opts = append(opts, consensustest.WithAppState(state))
			}
			nw := consensustest.StartNetwork(b, 4, apps[name], opts...)
			blocks, err := nw.Nodes[0].NewBlocks(b.Context())
			if err != nil {
				b.Fatal(err)
			}
			next := func() int64 {
				select {
				case h := <-blocks:
					return h
				case <-time.After(time.Minute):
					b.Fatal("no block in a minute")
					return 0
				}
			}
			next() // start-up is over once a quiet block has come
			b.ResetTimer()
			for range b.N {
				// From one block to the idleBlocks-th after it.
				h0, t0, c0 := next(), time.Now(), cpuTime()
				var h1 int64
				for range idleBlocks {
					h1 = next()
				}
				window, used := time.Since(t0), cpuTime()-c0
				b.ReportMetric(100*used.Seconds()/window.Seconds(), "%core")
				b.ReportMetric(float64(h1-h0)/window.Seconds(), "blocks/s")
				b.Log(fmt.Sprintf("%s: %s CPU in %s, heights %d to %d", name, used, window.Round(time.Millisecond), h0, h1))
			}
		})
	}
}
