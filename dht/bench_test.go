package dht

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/xnode/xnode/internal/testutil"
)

// BenchmarkConverge measures how long a network of n nodes, each given only
// the first node as bootstrap, takes from the first Start until every node
// has all others in its routing table, at least MinPeers connections, and
// can FindPeer every other node. One op is one whole network.
//
//	go test -run '^$' -bench Converge -benchtime 3x ./dht/
func BenchmarkConverge(b *testing.B) {
	for _, n := range []int{12, 24} {
		b.Run(fmt.Sprintf("nodes=%d", n), func(b *testing.B) {
			cfg := testConfig()
			for range b.N {
				b.StopTimer()
				nodes, closeAll := newCluster(b, n, cfg)
				b.StartTimer()
				startAll(b, nodes)
				if !testutil.WaitFor(60*time.Second, func() bool { return converged(nodes, cfg.MinPeers) }) {
					b.Fatalf("%d nodes did not converge in 60s", n)
				}
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				err := findAll(ctx, nodes)
				cancel()
				b.StopTimer()
				if err != nil {
					b.Fatal(err)
				}
				if err := closeAll(); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkFindPeerHops measures FindPeer lookups in a converged 24-node
// network where the searcher has first forgotten the target (no connection,
// not in its routing table, no addresses), so every op is a real lookup. It
// reports the median, p95 and max hop count (see Lookup) and the mean number
// of peers queried; ns/op is the lookup time.
//
//	go test -run '^$' -bench FindPeerHops -benchtime 200x ./dht/
func BenchmarkFindPeerHops(b *testing.B) {
	const n = 24
	cfg := testConfig()
	nodes := startCluster(b, n, cfg)
	if !testutil.WaitFor(60*time.Second, func() bool { return converged(nodes, cfg.MinPeers) }) {
		b.Fatalf("%d nodes did not converge in 60s", n)
	}
	ctx := context.Background()
	var hops, queried []int
	b.ResetTimer()
	for i := range b.N {
		a := nodes[i%n]
		t := nodes[(i%n+1+(i/n)%(n-1))%n]
		b.StopTimer()
		forget(a, t)
		b.StartTimer()
		lctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		_, l, err := a.r.FindPeerWithHops(lctx, t.h.ID())
		cancel()
		b.StopTimer()
		a.gate.set(a.gate.inbound, t.h.ID(), false)
		if err != nil {
			b.Fatalf("%s find %s: %v", a.name, t.name, err)
		}
		hops = append(hops, l.Hops)
		queried = append(queried, l.Queried)
		b.StartTimer()
	}
	b.StopTimer()
	slices.Sort(hops)
	sum := 0
	for _, q := range queried {
		sum += q
	}
	b.ReportMetric(float64(percentile(hops, 50)), "hops-p50")
	b.ReportMetric(float64(percentile(hops, 95)), "hops-p95")
	b.ReportMetric(float64(hops[len(hops)-1]), "hops-max")
	b.ReportMetric(float64(sum)/float64(len(queried)), "queried/op")
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []int, p int) int {
	if len(sorted) == 0 {
		return 0
	}
	i := (p*len(sorted)+99)/100 - 1
	return sorted[max(i, 0)]
}
