package dht

import (
	"testing"
	"time"
)

func TestZZDebug(t *testing.T) {
	cfg := testConfig()
	start := time.Now()
	nodes := startCluster(t, 24, cfg)
	t.Logf("started %s", time.Since(start))
	tick := time.NewTicker(250 * time.Millisecond)
	for range tick.C {
		var rts, conns []int
		for _, nd := range nodes {
			rts = append(rts, nd.r.RoutingTableSize())
			conns = append(conns, len(nd.h.Network().Peers()))
		}
		t.Logf("%5.1fs rt %v conns %v", time.Since(start).Seconds(), rts, conns)
		if converged(nodes, cfg.MinPeers) || time.Since(start) > 20*time.Second {
			break
		}
	}
}
