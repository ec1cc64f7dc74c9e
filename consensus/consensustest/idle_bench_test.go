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

// idleWindow is how long BenchmarkIdleCPU watches a quiet network.
const idleWindow = 20 * time.Second

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
			time.Sleep(3 * time.Second) // let start-up settle
			b.ResetTimer()
			for range b.N {
				h0, _ := nw.Nodes[0].Status(b.Context())
				c0 := cpuTime()
				time.Sleep(idleWindow)
				used := cpuTime() - c0
				h1, _ := nw.Nodes[0].Status(b.Context())
				b.ReportMetric(100*used.Seconds()/idleWindow.Seconds(), "%core")
				b.ReportMetric(float64(h1.Height-h0.Height)/idleWindow.Seconds(), "blocks/s")
				b.Log(fmt.Sprintf("%s: %s CPU in %s, heights %d to %d", name, used, idleWindow, h0.Height, h1.Height))
			}
		})
	}
}
