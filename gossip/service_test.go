package gossip

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"strings"
	"testing"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	mocknet "github.com/libp2p/go-libp2p/p2p/net/mock"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"
	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/testutil"
)

type node struct {
	h      host.Host
	ps     *pubsub.PubSub
	svc    *Service
	cancel context.CancelFunc // the pubsub's lifetime
}

type cluster struct {
	cfg       Config
	log       func(peer.ID) *slog.Logger // each node's logger; default testutil.Logger
	mn        mocknet.Mocknet
	nodes     []*node
	connected time.Time // when the last connection of the graph was made
	closed    bool
}

// newCluster starts n membership services on mocknet hosts, all linked, and
// connects them in a sparse graph (each node to the next, the one after,
// and the one five ahead), so most announcements travel through GossipSub
// relays rather than straight from their author. Everything is closed in
// t.Cleanup: services, then pubsubs, then the mock network.
func newCluster(tb testing.TB, n int, cfg Config) *cluster {
	tb.Helper()
	c := &cluster{cfg: cfg, mn: mocknet.New()}
	tb.Cleanup(func() { c.close(tb) })
	for range n {
		c.nodes = append(c.nodes, c.startNode(tb, c.newHost(tb)))
	}
	if err := c.mn.LinkAll(); err != nil {
		tb.Fatal(err)
	}
	for i := range n {
		for _, d := range []int{1, 2, 5} {
			if d >= n {
				continue
			}
			a, b := c.nodes[i].h.ID(), c.nodes[(i+d)%n].h.ID()
			if c.mn.Net(a).Connectedness(b) == network.Connected {
				continue
			}
			if _, err := c.mn.ConnectPeers(a, b); err != nil {
				tb.Fatal(err)
			}
		}
	}
	c.connected = time.Now()
	return c
}

// newHost adds a mocknet host with an Ed25519 identity (cheaper to verify
// than mocknet's default ECDSA, and inlined in the peer id) listening on
// loopback, where every node shares one IP as on a local network.
func (c *cluster) newHost(tb testing.TB) host.Host {
	tb.Helper()
	sk, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	h, err := c.mn.AddPeer(sk, multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001"))
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func (c *cluster) startNode(tb testing.TB, h host.Host) *node {
	tb.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	nd := &node{h: h, cancel: cancel}
	var err error
	if nd.ps, err = NewPubSub(ctx, h, c.cfg); err != nil {
		cancel()
		tb.Fatal(err)
	}
	self := func() Announcement {
		return Announcement{APIAddr: "127.0.0.1:8080", Capacity: 1 << 30, Version: "test"}
	}
	log := testutil.Logger(h.ID().ShortString())
	if c.log != nil {
		log = c.log(h.ID())
	}
	if nd.svc, err = New(c.cfg, h, nd.ps, self, prometheus.NewRegistry(), log); err != nil {
		cancel()
		tb.Fatal(err)
	}
	if err := nd.svc.Start(ctx); err != nil {
		cancel()
		tb.Fatal(err)
	}
	return nd
}

func (c *cluster) close(tb testing.TB) {
	if c.closed {
		return
	}
	c.closed = true
	for i := len(c.nodes) - 1; i >= 0; i-- {
		if err := c.nodes[i].svc.Close(); err != nil {
			tb.Errorf("close service %d: %v", i, err)
		}
	}
	for _, nd := range c.nodes {
		nd.cancel()
	}
	if err := c.mn.Close(); err != nil {
		tb.Errorf("close mocknet: %v", err)
	}
}

// kill takes nd off the network abruptly, as a crash would: its router
// stops (nothing more leaves it, not even a message queued on a stream that
// mocknet failed to reset), its links are cut so nothing can redial it, its
// connections dropped and its host closed, all without a word from its
// Service.
func (c *cluster) kill(tb testing.TB, nd *node) {
	tb.Helper()
	nd.cancel()
	for _, other := range c.nodes {
		if other == nd {
			continue
		}
		if err := c.mn.UnlinkPeers(nd.h.ID(), other.h.ID()); err != nil {
			tb.Fatal(err)
		}
		if err := c.mn.DisconnectPeers(nd.h.ID(), other.h.ID()); err != nil {
			tb.Fatal(err)
		}
	}
	if err := nd.h.Close(); err != nil {
		tb.Fatal(err)
	}
}

// countState counts the members svc holds in state st.
func countState(svc *Service, st State) int {
	n := 0
	for _, m := range svc.Members() {
		if m.State == st {
			n++
		}
	}
	return n
}

func seqAt(svc *Service, p peer.ID) uint64 {
	m, _ := svc.Member(p)
	return m.Seq
}

func stateOf(svc *Service, p peer.ID) (State, bool) {
	m, ok := svc.Member(p)
	return m.State, ok
}

// converged reports whether every node sees every node of nodes alive.
func converged(nodes []*node) bool {
	for _, nd := range nodes {
		alive := make(map[peer.ID]bool)
		for _, m := range nd.svc.Members() {
			alive[m.PeerID] = m.State == Alive
		}
		for _, other := range nodes {
			if !alive[other.h.ID()] {
				return false
			}
		}
	}
	return true
}

func TestClusterConvergesDetectsFailureAndLeave(t *testing.T) {
	if testing.Short() {
		t.Skip("20-node cluster")
	}
	// Twenty nodes checking each other's signatures saturate a busy small
	// machine at 100 ms heartbeats; 250 ms keeps the test about membership.
	cfg := LocalTestConfig().Scaled(250 * time.Millisecond)
	cfg.Network = "test-converge"
	n := 20
	if raceEnabled {
		n = 6
	}
	c := newCluster(t, n, cfg)

	start := c.connected
	testutil.Eventually(t, 20*time.Second, func() bool { return converged(c.nodes) },
		"all %d nodes see all %d alive", n, n)
	t.Logf("converged in %s (%.1f heartbeat rounds)", time.Since(start), float64(time.Since(start))/float64(cfg.HeartbeatInterval))
	for _, nd := range c.nodes {
		if got := len(nd.svc.Live()); got != n {
			t.Fatalf("Live() has %d members, want %d", got, n)
		}
	}

	// Kill the last node abruptly: its host goes away without a word.
	victim := c.nodes[n-1]
	survivors := c.nodes[:n-1]
	events := make([]<-chan Event, len(survivors))
	for i, nd := range survivors {
		ch, unsubscribe := nd.svc.Subscribe()
		t.Cleanup(unsubscribe)
		events[i] = ch
	}
	killed := time.Now()
	c.kill(t, victim)

	// Every survivor marks it failed within the detection window the
	// config promises for steady heartbeats, tripled (plus 2 s) for the
	// scheduling noise of 20 nodes on a shared machine: there the learned
	// deviation of arrivals grows and phi rightly waits longer. And not
	// implausibly early: its last heartbeat left at most one interval
	// before the kill.
	deadline := 3*cfg.DetectionWindow() + 2*time.Second
	failedAt := make([]time.Time, len(survivors))
	ok := testutil.WaitFor(deadline, func() bool {
		done := true
		for i := range survivors {
		drain:
			for {
				select {
				case ev := <-events[i]:
					if ev.Kind == EventFailed && ev.Member.PeerID == victim.h.ID() && failedAt[i].IsZero() {
						failedAt[i] = time.Now()
					}
				default:
					break drain
				}
			}
			if st, _ := stateOf(survivors[i].svc, victim.h.ID()); st != Failed || failedAt[i].IsZero() {
				done = false
			}
		}
		return done
	})
	if !ok {
		t.Fatalf("within %s, not all survivors marked the killed node failed (detection window %s); failed events at %v; %s",
			deadline, cfg.DetectionWindow(), failedAt, victimView(survivors, victim))
	}
	earliest := cfg.FailAfter() - 2*cfg.HeartbeatInterval
	var slowest time.Duration
	for i, at := range failedAt {
		d := at.Sub(killed)
		if d < earliest {
			t.Errorf("survivor %d failed the victim %s after the kill, earlier than the detector allows (%s)", i, d, earliest)
		}
		slowest = max(slowest, d)
	}
	t.Logf("killed node failed everywhere after %s (config detection window %s)", slowest, cfg.DetectionWindow())

	// The survivors did not suspect each other into failure meanwhile.
	testutil.Eventually(t, 5*time.Second, func() bool { return converged(survivors) },
		"survivors still see each other alive")

	// A graceful leave is seen as left, not failed, everywhere.
	leaver := survivors[0]
	rest := survivors[1:]
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := leaver.svc.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if st, _ := stateOf(leaver.svc, leaver.h.ID()); st != Left {
		t.Fatalf("leaver sees itself %s", st)
	}
	if !testutil.WaitFor(5*time.Second, func() bool {
		for _, nd := range rest {
			if st, _ := stateOf(nd.svc, leaver.h.ID()); st != Left {
				return false
			}
		}
		return true
	}) {
		t.Fatalf("not all remaining nodes see the leaver as left: %s", victimView(rest, leaver))
	}
	// Each remaining node's event stream shows the leaver left, never failed.
	for i, ch := range events[1:] {
		for left := false; !left; {
			select {
			case ev := <-ch:
				if ev.Member.PeerID != leaver.h.ID() {
					continue
				}
				if ev.Kind == EventFailed {
					t.Fatalf("node %d saw the leaver fail", i+1)
				}
				left = ev.Kind == EventLeft
			case <-time.After(time.Second):
				t.Fatalf("node %d: no left event for the leaver in its stream", i+1)
			}
		}
	}
	for _, nd := range rest {
		if got := countState(nd.svc, Alive); got != len(rest) {
			t.Errorf("%s sees %d alive, want %d", nd.h.ID().ShortString(), got, len(rest))
		}
	}
}

func TestHostilePeerIsRejectedAndMembershipContinues(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "test-hostile"
	const n = 4
	c := newCluster(t, n, cfg)
	testutil.Eventually(t, 10*time.Second, func() bool { return converged(c.nodes) }, "honest nodes converge")

	// The hostile node runs a plain GossipSub on the same topic, with no
	// validator of its own, and connects to every honest node.
	hh := c.newHost(t)
	if err := c.mn.LinkAll(); err != nil {
		t.Fatal(err)
	}
	hctx, hcancel := context.WithCancel(context.Background())
	t.Cleanup(hcancel)
	hps, err := NewPubSub(hctx, hh, cfg)
	if err != nil {
		t.Fatal(err)
	}
	topic, err := hps.Join(cfg.topicMembers())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = topic.Close() })
	for _, nd := range c.nodes {
		if _, err := c.mn.ConnectPeers(hh.ID(), nd.h.ID()); err != nil {
			t.Fatal(err)
		}
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return len(topic.ListPeers()) == n },
		"hostile node learns the honest subscriptions")

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	publish := func(b []byte) {
		t.Helper()
		if err := topic.Publish(ctx, b); err != nil {
			t.Fatal(err)
		}
	}
	encode := func(a Announcement) []byte {
		t.Helper()
		b, err := EncodeAnnouncement(a)
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	victim := c.nodes[0].h.ID()
	victimSeq := seqAt(c.nodes[1].svc, victim)

	publish([]byte("garbage \xff\x00\x01"))
	publish(bytes.Repeat([]byte{0xa1}, cfg.MaxMessageSize+1))
	forged := encode(Announcement{PeerID: victim, Seq: victimSeq + uint64(time.Hour), APIAddr: "evil:1"})
	publish(forged)

	// A valid announcement of its own gets it in; replaying it, or sending
	// one far older, is rejected; one slightly older is only ignored.
	seq := uint64(time.Now().UnixNano())
	own := encode(Announcement{PeerID: hh.ID(), Seq: seq, APIAddr: "127.0.0.1:9"})
	publish(own)
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, nd := range c.nodes {
			if _, ok := nd.svc.Member(hh.ID()); !ok {
				return false
			}
		}
		return true
	}, "the hostile node's valid announcement is accepted")
	publish(own)
	publish(encode(Announcement{PeerID: hh.ID(), Seq: seq - uint64(time.Hour), APIAddr: "127.0.0.1:9"}))
	publish(encode(Announcement{PeerID: hh.ID(), Seq: seq - 1, APIAddr: "127.0.0.1:9"}))

	want := map[string]float64{reasonDecode: 1, reasonTooLarge: 1, reasonPeerMismatch: 1, reasonStaleSeq: 2}
	counts := func(nd *node) map[string]float64 {
		got := map[string]float64{reasonReordered: promtest.ToFloat64(nd.svc.m.ignored.WithLabelValues(reasonReordered))}
		for _, reason := range []string{reasonDecode, reasonTooLarge, reasonPeerMismatch, reasonStaleSeq} {
			got[reason] = promtest.ToFloat64(nd.svc.m.rejected.WithLabelValues(reason))
		}
		return got
	}
	want[reasonReordered] = 1 // ignored, not rejected
	if !testutil.WaitFor(10*time.Second, func() bool {
		for _, nd := range c.nodes {
			if !maps.Equal(counts(nd), want) {
				return false
			}
		}
		return true
	}) {
		for i, nd := range c.nodes {
			t.Errorf("node %d counted %v", i, counts(nd))
		}
		t.Fatalf("every honest node must count each rejection by reason, and one reordered message: %v", want)
	}

	// Honest membership is untouched: the forgery did not hijack the
	// victim's entry, the hostile seq did not move, and honest heartbeats
	// and metadata keep flowing.
	for _, nd := range c.nodes[1:] {
		m, _ := nd.svc.Member(victim)
		if m.APIAddr == "evil:1" || m.Seq >= victimSeq+uint64(time.Hour) {
			t.Fatalf("forged announcement reached the table: %+v", m.Announcement)
		}
		if got := seqAt(nd.svc, hh.ID()); got != seq {
			t.Fatalf("hostile seq in table %d, want %d", got, seq)
		}
	}
	after := seqAt(c.nodes[1].svc, victim)
	testutil.Eventually(t, 5*time.Second, func() bool { return seqAt(c.nodes[1].svc, victim) > after },
		"the victim's heartbeats are still accepted")
	if err := c.nodes[2].svc.PublishMeta(ctx, map[string]string{"role": "edge"}, []string{"photos"}); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		for _, nd := range c.nodes {
			m, _ := nd.svc.Member(c.nodes[2].h.ID())
			if m.Tags["role"] != "edge" || len(m.Services) != 1 {
				return false
			}
		}
		return converged(c.nodes)
	}, "honest metadata propagates and honest nodes stay alive")
}

func TestServiceLifecycle(t *testing.T) {
	cfg := LocalTestConfig()
	cfg.Network = "test-lifecycle"
	mn := mocknet.New()
	t.Cleanup(func() { _ = mn.Close() })
	h := (&cluster{mn: mn}).newHost(t)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	ps, err := NewPubSub(ctx, h, cfg)
	if err != nil {
		t.Fatal(err)
	}
	self := func() Announcement { return Announcement{Capacity: 1} }
	reg := prometheus.NewRegistry()

	bad := cfg
	bad.FailPhi = 1
	if _, err := New(bad, h, ps, self, reg, nil); err == nil || !strings.Contains(err.Error(), "FailPhi") {
		t.Fatalf("New with a bad config: %v", err)
	}

	unstarted, err := New(cfg, h, ps, self, prometheus.NewRegistry(), nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := unstarted.Close(); err != nil {
		t.Fatalf("close before start: %v", err)
	}
	if err := unstarted.Start(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}

	svc, err := New(cfg, h, ps, self, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := New(cfg, h, ps, self, reg, nil); err == nil {
		t.Fatal("a second service registered the same metrics on one registry")
	}
	if err := svc.PublishMeta(ctx, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish before start: %v", err)
	}
	events, _ := svc.Subscribe()
	if err := svc.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = svc.Close() })
	if err := svc.Start(ctx); err == nil {
		t.Fatal("second start succeeded")
	}
	select {
	case ev := <-events:
		if ev.Kind != EventJoined || ev.Member.PeerID != h.ID() || ev.Member.State != Alive {
			t.Fatalf("first event %s for %s", ev.Kind, ev.Member.PeerID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no joined event for self")
	}

	if err := svc.PublishMeta(ctx, map[string]string{"": "empty key"}, nil); !errors.Is(err, ErrMalformed) || !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Fatalf("bad tags: %v", err)
	}
	if err := svc.PublishMeta(ctx, map[string]string{"k": "v"}, []string{"ns"}); err != nil {
		t.Fatal(err)
	}
	if m, _ := svc.Member(h.ID()); m.Tags["k"] != "v" || m.Services[0] != "ns" {
		t.Fatalf("own metadata not applied: %v %v", m.Tags, m.Services)
	}
	if err := svc.Leave(ctx); err != nil {
		t.Fatal(err)
	}
	if err := svc.Leave(ctx); err != nil {
		t.Fatalf("second leave: %v", err)
	}
	if err := svc.PublishMeta(ctx, nil, nil); !errors.Is(err, ErrLeft) {
		t.Fatalf("publish after leave: %v", err)
	}
	if got := len(svc.Live()); got != 0 {
		t.Fatalf("after leaving, Live() has %d members", got)
	}

	if err := svc.Close(); err != nil {
		t.Fatal(err)
	}
	if err := svc.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	for range events { // drains, then ends: Close closed the channel
	}
	if err := svc.PublishMeta(ctx, nil, nil); !errors.Is(err, ErrClosed) {
		t.Fatalf("publish after close: %v", err)
	}
	if ch, _ := svc.Subscribe(); ch != nil {
		if _, open := <-ch; open {
			t.Fatal("subscribing after close gave an open channel")
		}
	}
	// The topics were left: the same pubsub can host a new service.
	again, err := New(cfg, h, ps, self, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := again.Start(ctx); err != nil {
		t.Fatalf("restart on the same pubsub: %v", err)
	}
	if err := again.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestConfigValidateNamesTheField(t *testing.T) {
	base := DefaultConfig()
	base.Network = "net"
	if err := base.Validate(); err != nil {
		t.Fatalf("default config with a network: %v", err)
	}
	cases := map[string]func(*Config){
		"Network":           func(c *Config) { c.Network = "" },
		"Network=a/b":       func(c *Config) { c.Network = "a/b" },
		"HeartbeatInterval": func(c *Config) { c.HeartbeatInterval = 0 },
		"TickInterval":      func(c *Config) { c.TickInterval = -1 },
		"SuspectPhi":        func(c *Config) { c.SuspectPhi = 0 },
		"FailPhi":           func(c *Config) { c.FailPhi = c.SuspectPhi },
		"WindowSize":        func(c *Config) { c.WindowSize = 1 },
		"MinStdDev":         func(c *Config) { c.MinStdDev = 0 },
		"AcceptablePause":   func(c *Config) { c.AcceptablePause = -time.Second },
		"Retention":         func(c *Config) { c.Retention = -time.Second },
		"MaxMessageSize":    func(c *Config) { c.MaxMessageSize = 10 },
		"MaxRPCSize":        func(c *Config) { c.MaxRPCSize = c.MaxMessageSize },
		"ReorderWindow":     func(c *Config) { c.ReorderWindow = -1 },
		"EventBuffer":       func(c *Config) { c.EventBuffer = 0 },
		"LeaveGrace":        func(c *Config) { c.LeaveGrace = -1 },
	}
	for field, mutate := range cases {
		c := base
		mutate(&c)
		err := c.Validate()
		if err == nil {
			t.Errorf("%s: no error", field)
			continue
		}
		if !strings.Contains(err.Error(), strings.Split(field, "=")[0]+"=") || !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("%s: error %q does not name the field or is not an invalid argument", field, err)
		}
	}
	if got := fmt.Sprint(LocalTestConfig().Validate()); !strings.Contains(got, "Network") {
		t.Errorf("presets leave Network to the caller: %s", got)
	}
}

func victimView(nodes []*node, victim *node) string {
	var b strings.Builder
	fmt.Fprintf(&b, "(it has %d connections)", len(victim.h.Network().Conns()))
	for i, nd := range nodes {
		m, _ := nd.svc.Member(victim.h.ID())
		fmt.Fprintf(&b, "\n%d: %s lastseen %s ago phi %.2f seq %d, %s", i, m.State, time.Since(m.LastSeen), m.Phi, m.Seq, nd.h.Network().Connectedness(victim.h.ID()))
	}
	return b.String()
}
