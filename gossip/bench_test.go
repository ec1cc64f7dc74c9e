package gossip

import (
	"fmt"
	"testing"
	"time"

	"github.com/xnode/xnode/internal/testutil"
)

// BenchmarkConvergence measures how long n freshly connected in-process
// nodes (mocknet, the sparse graph of newCluster) take until every node sees
// all n alive, reported in membership heartbeat rounds (time to full
// membership / HeartbeatInterval) as the custom metric "rounds".
//
//	go test -run '^$' -bench Convergence -benchtime 3x ./gossip/
func BenchmarkConvergence(b *testing.B) {
	for _, n := range []int{20, 50} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			cfg := LocalTestConfig().Scaled(250 * time.Millisecond)
			cfg.Network = "bench"
			var rounds float64
			for i := 0; i < b.N; i++ {
				c := newCluster(b, n, cfg)
				if !testutil.WaitFor(60*time.Second, func() bool { return converged(c.nodes) }) {
					b.Fatalf("%d nodes did not converge within 60s", n)
				}
				rounds += float64(time.Since(c.connected)) / float64(cfg.HeartbeatInterval)
				c.close(b)
			}
			b.ReportMetric(rounds/float64(b.N), "rounds")
		})
	}
}
