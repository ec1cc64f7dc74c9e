package p2p

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// Run with: go test -run '^$' -bench ServiceMesh -benchtime 1x ./service/p2p/
// It reports the latency a call through the mesh adds over a direct
// loopback call to the same target (p50, p99), requests per second through
// the gateway against direct calls (same client, same run), and the error
// rate and p99 of a steady load while one of two instances' targets dies.

func pct(d []time.Duration, p float64) time.Duration {
	sort.Slice(d, func(i, j int) bool { return d[i] < d[j] })
	return d[min(len(d)-1, int(float64(len(d))*p))]
}

func timed(b *testing.B, c *http.Client, url string, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for range n {
		start := time.Now()
		resp, err := c.Get(url)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
		out = append(out, time.Since(start))
	}
	return out
}

// processCPU is the CPU time this process has used, user and system.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func rate(c *http.Client, url string, workers int, d time.Duration) float64 {
	var n atomic.Int64
	deadline := time.Now().Add(d)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				resp, err := c.Get(url)
				if err != nil {
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == 200 {
					n.Add(1)
				}
			}
		})
	}
	wg.Wait()
	return float64(n.Load()) / d.Seconds()
}

func BenchmarkServiceMesh(b *testing.B) {
	nodes := newNodes(b, 3, func(int) *allowList { return nil }, nil, func(c *Config) { c.CallTimeout = 5 * time.Second })
	hello := []byte("hello")
	mk := func() *httptest.Server {
		s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write(hello) }))
		b.Cleanup(s.Close)
		return s
	}
	t0, t1 := mk(), mk()
	ctx := context.Background()
	if err := nodes[0].plane.Expose(ctx, Exposure{Service: "bench/hello", Target: hostport(t0)}); err != nil {
		b.Fatal(err)
	}
	caller := nodes[2]
	waitB(b, func() bool { st, err := caller.plane.Instances("bench/hello"); return err == nil && len(st) == 1 })
	c := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}}
	direct, mesh := t0.URL+"/", caller.gw.URL+"/v1/svc/bench/hello/"
	timed(b, c, direct, 200)
	timed(b, c, mesh, 200)
	const n = 2000
	dd, md := timed(b, c, direct, n), timed(b, c, mesh, n)
	b.ReportMetric(float64(pct(dd, .5).Microseconds()), "direct-p50-µs")
	b.ReportMetric(float64(pct(dd, .99).Microseconds()), "direct-p99-µs")
	b.ReportMetric(float64(pct(md, .5).Microseconds()), "mesh-p50-µs")
	b.ReportMetric(float64(pct(md, .99).Microseconds()), "mesh-p99-µs")
	b.ReportMetric(float64((pct(md, .5) - pct(dd, .5)).Microseconds()), "added-p50-µs")
	b.ReportMetric(float64((pct(md, .99) - pct(dd, .99)).Microseconds()), "added-p99-µs")

	// Everything (client, gateway, both nodes, target) shares this
	// process's cores, so the CPU each request costs bounds the ratio.
	c0 := processCPU()
	rd := rate(c, direct, 8, 2*time.Second)
	c1 := processCPU()
	rm := rate(c, mesh, 8, 2*time.Second)
	c2 := processCPU()
	b.ReportMetric(rd, "direct-req/s")
	b.ReportMetric(rm, "mesh-req/s")
	b.ReportMetric(rm/rd, "mesh/direct")
	b.ReportMetric(float64((c1-c0).Microseconds())/(rd*2), "direct-cpu-µs/req")
	b.ReportMetric(float64((c2-c1).Microseconds())/(rm*2), "mesh-cpu-µs/req")
	b.ReportMetric((c1-c0).Seconds()/2, "direct-cores")
	b.ReportMetric((c2-c1).Seconds()/2, "mesh-cores")

	// Failover: two instances, steady GET load from 8 workers, one target
	// killed a second in.
	if err := nodes[1].plane.Expose(ctx, Exposure{Service: "bench/hello", Target: hostport(t1)}); err != nil {
		b.Fatal(err)
	}
	waitB(b, func() bool { st, err := caller.plane.Instances("bench/hello"); return err == nil && len(st) == 2 })
	var total, failed atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	stop := time.Now().Add(3 * time.Second)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			var mine []time.Duration
			for time.Now().Before(stop) {
				start := time.Now()
				resp, err := c.Get(mesh)
				total.Add(1)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					failed.Add(1)
				}
				mine = append(mine, time.Since(start))
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		})
	}
	time.AfterFunc(time.Second, func() { t0.CloseClientConnections(); t0.Close() })
	wg.Wait()
	b.ReportMetric(float64(failed.Load())*100/float64(total.Load()), "failover-err-%")
	b.ReportMetric(float64(pct(lat, .99).Microseconds()), "failover-p99-µs")
	b.ReportMetric(float64(total.Load()), "failover-calls")
}

func waitB(b *testing.B, cond func() bool) {
	deadline := time.Now().Add(30 * time.Second)
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	for !cond() {
		if time.Now().After(deadline) {
			b.Fatal("condition not met")
		}
		<-tick.C
	}
}
