package gossip

import (
	"testing"
	"time"

	"github.com/xnode/xnode/internal/testutil"
)

func TestDbg(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "dbg"
	c := newCluster(t, 20, cfg)
	testutil.WaitFor(5*time.Second, func() bool { return converged(c.nodes) })
	for i, nd := range c.nodes {
		cnt := map[State]int{}
		for _, m := range nd.svc.Members() {
			cnt[m.State]++
		}
		t.Logf("node %d: %v mesh peers %d conns %d", i, cnt, len(nd.svc.members.ListPeers()), len(nd.h.Network().Peers()))
	}
}
