package p2p

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sys/unix"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/internal/testutil"
)

// acked waits until the peer's kernel has acknowledged every byte written
// to c (the socket's send queue, SIOCOUTQ, is empty) or d has passed. A
// reset after that cannot take back what was written.
func acked(c *net.TCPConn, d time.Duration) bool {
	raw, err := c.SyscallConn()
	if err != nil {
		return false
	}
	return testutil.WaitFor(d, func() bool {
		queued := -1
		_ = raw.Control(func(fd uintptr) { queued, _ = unix.IoctlGetInt(int(fd), unix.SIOCOUTQ) })
		return queued == 0
	})
}

// allowList authorises the listed peers per namespace; nil allows all (a
// hostile node that does not check itself).
type allowList struct {
	mu sync.Mutex
	m  map[string]map[peer.ID]bool
}

func (a *allowList) MayPublish(_ context.Context, ns string, p peer.ID) error {
	if a == nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.m[ns][p] {
		return nil
	}
	return fmt.Errorf("%w: %s may not publish %s", gossip.ErrUnauthorised, p, ns)
}

type tnode struct {
	h      host.Host
	ps     *pubsub.PubSub
	plane  *Plane
	gw     *httptest.Server
	cancel context.CancelFunc
	closed atomic.Bool
}

func (n *tnode) kill() {
	if n.closed.Swap(true) {
		return
	}
	n.gw.Close()
	_ = n.plane.Close()
	n.cancel()
	_ = n.h.Close()
}

// gateway answers like the API does: Call's errors become status codes.
func gateway(p *Plane) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rest := strings.TrimPrefix(r.URL.Path, "/v1/svc/")
		ns, after, _ := strings.Cut(rest, "/")
		name, path, _ := strings.Cut(after, "/")
		err := p.Call(w, r, ns+"/"+name, path)
		switch {
		case err == nil:
		case errors.Is(err, xnode.ErrNotFound):
			http.Error(w, err.Error(), http.StatusNotFound)
		case errors.Is(err, xnode.ErrTimeout):
			http.Error(w, err.Error(), http.StatusGatewayTimeout)
		case errors.Is(err, xnode.ErrUnavailable):
			w.Header().Set("Retry-After", "1")
			http.Error(w, err.Error(), http.StatusServiceUnavailable)
		case errors.Is(err, xnode.ErrInvalidArgument):
			http.Error(w, err.Error(), http.StatusBadRequest)
		default:
			http.Error(w, err.Error(), http.StatusInternalServerError)
		}
	})
}

func newNodes(t testing.TB, n int, auth func(i int) *allowList, zones []string, tune func(*Config)) []*tnode {
	t.Helper()
	var nodes []*tnode
	for i := range n {
		h, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
		if err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(context.Background())
		gcfg := gossip.LocalTestConfig()
		gcfg.Network = "svc-test"
		ps, err := gossip.NewPubSub(ctx, h, gcfg)
		if err != nil {
			t.Fatal(err)
		}
		cfg := Config{Network: "svc-test", AnnounceInterval: 200 * time.Millisecond, TTL: 5 * time.Second, HealthInterval: 100 * time.Millisecond, CallTimeout: 5 * time.Second}
		if zones != nil {
			cfg.Zone = zones[i]
		}
		if tune != nil {
			tune(&cfg)
		}
		var a gossip.ServiceAuthoriser = auth(i)
		if auth(i) == nil {
			a = (*allowList)(nil)
		}
		pl, err := New(cfg, h, ps, a, prometheus.NewRegistry(), testutil.Logger(fmt.Sprint("n", i)))
		if err != nil {
			t.Fatal(err)
		}
		if err := pl.Start(ctx); err != nil {
			t.Fatal(err)
		}
		nd := &tnode{h: h, ps: ps, plane: pl, cancel: cancel, gw: httptest.NewServer(gateway(pl))}
		t.Cleanup(nd.kill)
		nodes = append(nodes, nd)
	}
	for i, a := range nodes {
		for _, b := range nodes[i+1:] {
			if err := a.h.Connect(context.Background(), peer.AddrInfo{ID: b.h.ID(), Addrs: b.h.Addrs()}); err != nil {
				t.Fatal(err)
			}
		}
	}
	return nodes
}

// target is an HTTP service that names itself in X-Served-By.
func target(t *testing.T, name string, delay time.Duration) *httptest.Server {
	t.Helper()
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if delay > 0 { // the service's own work, cut short if the caller goes
			select {
			case <-time.After(delay):
			case <-r.Context().Done():
				return
			}
		}
		w.Header().Set("X-Served-By", name)
		w.Header().Set("X-Saw-Caller", r.Header.Get(HeaderCaller))
		body, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%s %s %s?%s %s", name, r.Method, r.URL.Path, r.URL.RawQuery, body)
	}))
	t.Cleanup(s.Close)
	return s
}

func hostport(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

func waitInstances(t *testing.T, p *Plane, svc string, n int) {
	t.Helper()
	testutil.Eventually(t, 20*time.Second, func() bool {
		st, err := p.Instances(svc)
		if err != nil {
			return false
		}
		healthy := 0
		for _, s := range st {
			if s.Healthy {
				healthy++
			}
		}
		return healthy == n
	}, "%d healthy instances of %s", n, svc)
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, string, error) {
	t.Helper()
	req, _ := http.NewRequest(http.MethodGet, url, nil)
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestMeshSpreadsByLatencyFiltersAndFailsOver(t *testing.T) {
	owners := &allowList{m: map[string]map[peer.ID]bool{"acme": {}}}
	auth := func(int) *allowList { return owners }
	nodes := newNodes(t, 4, auth, []string{"z0", "z1", "z2", "z3"}, nil)
	for _, n := range nodes[:3] {
		owners.m["acme"][n.h.ID()] = true
	}
	targets := []*httptest.Server{target(t, "t0", 0), target(t, "t1", 0), target(t, "t2", 15*time.Millisecond)}
	for i, n := range nodes[:3] {
		if err := n.plane.Expose(context.Background(), Exposure{Service: "acme/api", Target: hostport(targets[i]), Tags: map[string]string{"zone": fmt.Sprint("z", i)}}); err != nil {
			t.Fatal(err)
		}
	}
	caller := nodes[3]
	waitInstances(t, caller.plane, "acme/api", 3)
	url := caller.gw.URL + "/v1/svc/acme/api/hello/world?x=1"

	// The path, query, method and caller reach the target unchanged.
	resp, body, err := get(t, url, nil)
	if err != nil || resp.StatusCode != 200 || !strings.Contains(body, " GET /hello/world?x=1") {
		t.Fatalf("call: %v %v %q", err, resp, body)
	}
	if got := resp.Header.Get("X-Saw-Caller"); got != caller.h.ID().String() {
		t.Fatalf("target saw caller %q, want %s", got, caller.h.ID())
	}

	// Spread by latency: 4 callers at once, 400 calls.
	served := map[string]int{}
	var mu sync.Mutex
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 100 {
				resp, _, err := get(t, url, nil)
				if err != nil || resp.StatusCode != 200 {
					t.Errorf("call failed: %v %v", err, resp)
					return
				}
				mu.Lock()
				served[resp.Header.Get("X-Served-By")]++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("served: %v", served)
	if served["t2"]*3 > served["t0"] || served["t2"]*3 > served["t1"] {
		t.Fatalf("the slow instance got %d of 400, the fast ones %d and %d: want clearly fewer", served["t2"], served["t0"], served["t1"])
	}

	// Tag filters route to the matching instance.
	for range 20 {
		resp, _, err := get(t, url, map[string]string{HeaderTags: "zone=z2"})
		if err != nil || resp.Header.Get("X-Served-By") != "t2" {
			t.Fatalf("tag filter zone=z2: %v served by %q", err, resp.Header.Get("X-Served-By"))
		}
	}
	if resp, _, _ := get(t, url, map[string]string{HeaderTags: "zone=nowhere"}); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Fatalf("no matching instance: %d, Retry-After %q", resp.StatusCode, resp.Header.Get("Retry-After"))
	}

	// Steady load while one instance's target dies, then one node dies:
	// no GET fails, at most 1% of POSTs do.
	var gets, getFails, posts, postFails atomic.Int64
	stop := make(chan struct{})
	var load sync.WaitGroup
	for w := range 4 {
		load.Go(func() {
			for {
				select {
				case <-stop:
					return
				default:
				}
				if w%2 == 0 {
					gets.Add(1)
					resp, _, err := get(t, url, nil)
					if err != nil || resp.StatusCode != 200 {
						getFails.Add(1)
						if err == nil {
							b, _ := io.ReadAll(resp.Body)
							t.Logf("GET failed: %d %s", resp.StatusCode, b)
						} else {
							t.Logf("GET failed: %v", err)
						}
					}
				} else {
					posts.Add(1)
					resp, err := http.Post(url, "text/plain", strings.NewReader("payload"))
					if err != nil || resp.StatusCode != 200 {
						postFails.Add(1)
					}
					if err == nil {
						_, _ = io.Copy(io.Discard, resp.Body)
						resp.Body.Close()
					}
				}
			}
		})
	}
	waitCalls := func(n int64) {
		from := gets.Load()
		testutil.Eventually(t, 30*time.Second, func() bool { return gets.Load() >= from+n }, "%d more calls", n)
	}
	waitCalls(100)
	targets[0].CloseClientConnections()
	targets[0].Close()
	waitCalls(300)
	nodes[1].kill()
	waitCalls(300)
	close(stop)
	load.Wait()
	t.Logf("GET %d (%d failed), POST %d (%d failed)", gets.Load(), getFails.Load(), posts.Load(), postFails.Load())
	if getFails.Load() != 0 {
		t.Fatalf("%d GETs failed while an instance died", getFails.Load())
	}
	if postFails.Load()*100 > posts.Load() {
		t.Fatalf("%d of %d POSTs failed, more than 1%%", postFails.Load(), posts.Load())
	}
}

func TestUnauthorisedAnnouncementIsRejectedAndNeverRouted(t *testing.T) {
	owners := &allowList{m: map[string]map[peer.ID]bool{"acme": {}}}
	nodes := newNodes(t, 3, func(i int) *allowList {
		if i == 2 {
			return nil // hostile: publishes without asking the chain
		}
		return owners
	}, nil, nil)
	owners.m["acme"][nodes[0].h.ID()] = true
	good, evil := target(t, "good", 0), target(t, "evil", 0)
	if err := nodes[0].plane.Expose(context.Background(), Exposure{Service: "acme/api", Target: hostport(good)}); err != nil {
		t.Fatal(err)
	}
	if err := nodes[2].plane.Expose(context.Background(), Exposure{Service: "acme/api", Target: hostport(evil)}); err != nil {
		t.Fatal(err)
	}
	// A node the namespace does not allow is refused at once.
	err := nodes[1].plane.Expose(context.Background(), Exposure{Service: "acme/api", Target: hostport(good)})
	if !errors.Is(err, xnode.ErrConflict) || !strings.Contains(err.Error(), "xnode ns allow acme") {
		t.Fatalf("expose by a node acme does not allow: %v", err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return nodes[1].plane.Rejected() > 0 }, "the hostile announcement rejected and counted")
	waitInstances(t, nodes[1].plane, "acme/api", 1)
	for range 50 {
		resp, _, err := get(t, nodes[1].gw.URL+"/v1/svc/acme/api/", nil)
		if err != nil || resp.Header.Get("X-Served-By") != "good" {
			t.Fatalf("routed to %q (%v)", resp.Header.Get("X-Served-By"), err)
		}
	}
	st, _ := nodes[1].plane.Instances("acme/api")
	for _, s := range st {
		if s.Peer == nodes[2].h.ID().String() {
			t.Fatal("the hostile instance is in the catalog")
		}
	}
}

func TestBadCalls(t *testing.T) {
	nodes := newNodes(t, 2, func(int) *allowList { return nil }, nil, func(c *Config) { c.MaxInbound = 16 })
	caller, server := nodes[0], nodes[1]
	release := make(chan struct{})
	t.Cleanup(func() { close(release) })
	hang := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	}))
	t.Cleanup(hang.Close)
	reset := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "100000")
		w.WriteHeader(200)
		_, _ = w.Write([]byte(strings.Repeat("x", 1000)))
		w.(http.Flusher).Flush()
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}))
	t.Cleanup(reset.Close)
	dead := httptest.NewServer(http.NotFoundHandler())
	deadAddr := hostport(dead)
	dead.Close()
	slow := target(t, "slow", 50*time.Millisecond)
	ctx := context.Background()
	for _, e := range []Exposure{
		{Service: "bad/hang", Target: hostport(hang), Check: "none"},
		{Service: "bad/reset", Target: hostport(reset)},
		{Service: "bad/down", Target: deadAddr},
		{Service: "bad/slow", Target: hostport(slow)},
	} {
		if err := server.plane.Expose(ctx, e); err != nil {
			t.Fatal(err)
		}
	}
	for _, e := range []Exposure{{Service: "nons", Target: "127.0.0.1:1"}, {Service: "a/b", Target: "nohost"}, {Service: "a/b", Target: "127.0.0.1:1", Proto: "udp"}, {Service: "a/b", Target: "127.0.0.1:1", Check: "ping"}} {
		if err := server.plane.Expose(ctx, e); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("expose %+v: %v, want invalid argument", e, err)
		}
	}
	waitInstances(t, caller.plane, "bad/hang", 1)
	waitInstances(t, caller.plane, "bad/reset", 1)
	waitInstances(t, caller.plane, "bad/slow", 1)
	testutil.Eventually(t, 20*time.Second, func() bool { _, err := caller.plane.Instances("bad/down"); return err == nil }, "bad/down announced")

	base := caller.gw.URL + "/v1/svc/"
	if resp, _, _ := get(t, base+"no/such/x", nil); resp.StatusCode != http.StatusNotFound {
		t.Errorf("unknown service: %d, want 404", resp.StatusCode)
	}
	if resp, _, _ := get(t, base+"bad/down/x", nil); resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Retry-After") == "" {
		t.Errorf("no healthy instance: %d Retry-After %q, want 503 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
	start := time.Now()
	if resp, body, _ := get(t, base+"bad/hang/x", map[string]string{HeaderTimeout: "300"}); resp.StatusCode != http.StatusGatewayTimeout {
		t.Errorf("hanging target: %d %s, want 504", resp.StatusCode, body)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("hanging target answered after %v, want within the 300 ms deadline (plus slack)", d)
	}
	if resp, _, err := get(t, base+"bad/reset/x", nil); err == nil {
		t.Errorf("reset mid-response read as a success: %d", resp.StatusCode)
	}
	if resp, _, _ := get(t, base+"bad/slow/x", map[string]string{HeaderTags: "broken"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad tag header: %d, want 400", resp.StatusCode)
	}
	if resp, _, _ := get(t, base+"bad/slow/x", map[string]string{HeaderTimeout: "soon"}); resp.StatusCode != http.StatusBadRequest {
		t.Errorf("bad timeout header: %d, want 400", resp.StatusCode)
	}

	// Many concurrent calls against an instance that serves 16 at once:
	// the excess is refused, nothing hangs, and honest calls carry on.
	var wg sync.WaitGroup
	var ok, refused atomic.Int64
	for range 500 {
		wg.Go(func() {
			resp, _, err := get(t, base+"bad/slow/x", nil)
			switch {
			case err == nil && resp.StatusCode == 200:
				ok.Add(1)
			case err == nil && resp.StatusCode >= 500:
				refused.Add(1)
			}
		})
	}
	wg.Wait()
	t.Logf("500 concurrent: %d served, %d refused", ok.Load(), refused.Load())
	if ok.Load() == 0 || ok.Load()+refused.Load() != 500 {
		t.Fatalf("500 concurrent: %d served, %d refused", ok.Load(), refused.Load())
	}
	testutil.Eventually(t, 60*time.Second, func() bool {
		resp, _, err := get(t, base+"bad/slow/x", nil)
		return err == nil && resp.StatusCode == 200
	}, "an honest call after the flood")
}

func TestForwardTunnelsConnections(t *testing.T) {
	nodes := newNodes(t, 2, func(int) *allowList { return nil }, nil, nil)
	echo, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			c, err := echo.Accept()
			if err != nil {
				return
			}
			go func() { _, _ = io.Copy(c, c); c.Close() }()
		}
	}()
	if err := nodes[1].plane.Expose(context.Background(), Exposure{Service: "acme/echo", Target: echo.Addr().String(), Proto: "tcp"}); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, nodes[0].plane, "acme/echo", 1)
	fw, err := nodes[0].plane.Forward(context.Background(), "acme/echo", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		c, err := net.Dial("tcp", fw.Listen)
		if err != nil {
			t.Fatal(err)
		}
		msg := fmt.Sprintf("hello %d through the mesh", i)
		if _, err := io.WriteString(c, msg); err != nil {
			t.Fatal(err)
		}
		c.(*net.TCPConn).CloseWrite()
		got, err := io.ReadAll(c)
		c.Close()
		if err != nil || string(got) != msg {
			t.Fatalf("echo: %q %v", got, err)
		}
	}
	// An http service is forwarded too (any protocol).
	web := target(t, "web", 0)
	if err := nodes[1].plane.Expose(context.Background(), Exposure{Service: "acme/web", Target: hostport(web)}); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, nodes[0].plane, "acme/web", 1)
	fw2, err := nodes[0].plane.Forward(context.Background(), "acme/web", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp, body, err := get(t, "http://"+fw2.Listen+"/p", nil); err != nil || resp.StatusCode != 200 || !strings.HasPrefix(body, "web GET /p") {
		t.Fatalf("http through a forward: %v %q", err, body)
	}
	// A target that resets mid-answer resets the forwarded connection too:
	// an error, never a clean end.
	rst, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { rst.Close() })
	go func() {
		for {
			c, err := rst.Accept()
			if err != nil {
				return
			}
			_, _ = io.WriteString(c, "partial answer")
			acked(c.(*net.TCPConn), 5*time.Second) // the bytes reach the caller before the reset
			c.(*net.TCPConn).SetLinger(0)
			c.Close()
		}
	}()
	if err := nodes[1].plane.Expose(context.Background(), Exposure{Service: "acme/rst", Target: rst.Addr().String(), Proto: "tcp", Check: "none"}); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, nodes[0].plane, "acme/rst", 1)
	fw3, err := nodes[0].plane.Forward(context.Background(), "acme/rst", "127.0.0.1:0", nil)
	if err != nil {
		t.Fatal(err)
	}
	// The target answers and resets without waiting for the caller, so on
	// a busy machine the reset can reach the caller's socket before its
	// connect has been seen to complete: then the dial itself reports it.
	if c3, err := net.Dial("tcp", fw3.Listen); err == nil {
		got, err := io.ReadAll(c3)
		c3.Close()
		if err == nil {
			t.Fatalf("a reset mid-answer read as a clean end after %q", got)
		}
	} else if !errors.Is(err, syscall.ECONNRESET) {
		t.Fatal(err)
	}
	if err := nodes[0].plane.CloseForward(context.Background(), fw.Listen); err != nil {
		t.Fatal(err)
	}
	if _, err := net.Dial("tcp", fw.Listen); err == nil {
		t.Fatal("closed forward still accepts")
	}
	if err := nodes[0].plane.CloseForward(context.Background(), fw.Listen); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("closing twice: %v", err)
	}
	if _, err := nodes[0].plane.Forward(context.Background(), "acme/echo", "nonsense", nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("bad listen: %v", err)
	}
}
