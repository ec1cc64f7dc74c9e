package gossip

import (
	"os"
	"runtime/pprof"
	"testing"
	"time"

	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/xnode/xnode/internal/testutil"
)

func TestDbg(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "dbg"
	c := newCluster(t, 20, cfg)
	testutil.WaitFor(5*time.Second, func() bool { return converged(c.nodes) })
	f, _ := os.Create("/tmp/gossip_goroutines.txt")
	pprof.Lookup("goroutine").WriteTo(f, 1)
	f.Close()
	for i, nd := range c.nodes {
		cnt := map[State]int{}
		for _, m := range nd.svc.Members() {
			cnt[m.State]++
		}
		t.Logf("node %d: %v mesh peers %d conns %d rej %v %v %v %v ign %v sent %v", i, cnt, len(nd.svc.members.ListPeers()), len(nd.h.Network().Peers()),
			promtest.ToFloat64(nd.svc.m.rejected.WithLabelValues(reasonDecode)),
			promtest.ToFloat64(nd.svc.m.rejected.WithLabelValues(reasonTooLarge)),
			promtest.ToFloat64(nd.svc.m.rejected.WithLabelValues(reasonPeerMismatch)),
			promtest.ToFloat64(nd.svc.m.rejected.WithLabelValues(reasonStaleSeq)),
			promtest.ToFloat64(nd.svc.m.ignored.WithLabelValues(reasonReordered)),
			promtest.ToFloat64(nd.svc.m.sent))
	}
}
