package peerguard

import (
	"bytes"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode/internal/testutil"
)

// fakeConn is the part of a libp2p connection the gater reads.
type fakeConn struct {
	network.Conn
	p    peer.ID
	addr ma.Multiaddr
}

func (c fakeConn) RemotePeer() peer.ID                { return c.p }
func (c fakeConn) RemoteMultiaddr() ma.Multiaddr      { return c.addr }
func (c fakeConn) LocalMultiaddr() ma.Multiaddr       { return ma.StringCast("/ip4/10.0.0.1/tcp/4001") }
func (c fakeConn) Direction() network.Direction       { return network.DirInbound }
func (c fakeConn) Stat() network.ConnStats            { return network.ConnStats{} }
func (c fakeConn) Scope() network.ConnScope           { return nil }
func (c fakeConn) ConnState() network.ConnectionState { return network.ConnectionState{} }

// syncBuffer is a log sink for a handler written from several goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func TestGater(t *testing.T) {
	var logs syncBuffer
	reg := prometheus.NewRegistry()
	x, err := NewGater(DefaultConfig(), reg, slog.New(slog.NewTextHandler(&logs, nil)))
	if err != nil {
		t.Fatal(err)
	}
	now := t0
	x.now = func() time.Time { return now }

	evil, honest, local := testutil.PeerID(t), testutil.PeerID(t), testutil.PeerID(t)
	evilAddr := ma.StringCast("/ip4/10.0.0.50/tcp/4001")
	loop := ma.StringCast("/ip4/127.0.0.1/tcp/4001")
	x.Connected(nil, fakeConn{p: evil, addr: evilAddr})
	x.Connected(nil, fakeConn{p: local, addr: loop})
	x.Connected(nil, fakeConn{p: honest, addr: ma.StringCast("/ip4/10.0.0.60/udp/4001/quic-v1")})

	for i := range 5 {
		v := x.Strike(evil, "frame_too_large")
		if v.NewBan != (i == 2) {
			t.Fatalf("strike %d: %+v", i, v)
		}
		x.Strike(local, "frame_too_large")
	}
	if got := strings.Count(logs.String(), "banned peer"); got != 2 {
		t.Fatalf("%d ban lines for two bans, want 2:\n%s", got, logs.String())
	}
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "until=") || !strings.Contains(logs.String(), evil.String()) {
		t.Fatalf("ban line lacks level, peer or until:\n%s", logs.String())
	}
	if got := promtest.ToFloat64(x.strikes.WithLabelValues("frame_too_large")); got != 10 {
		t.Fatalf("strikes_total = %v, want 10", got)
	}
	if got := promtest.ToFloat64(x.bans); got != 2 {
		t.Fatalf("bans_total = %v, want 2", got)
	}

	// The banned peer's connections go (ClosePeer, the caller's move).
	x.Disconnected(nil, fakeConn{p: evil, addr: evilAddr})
	x.Disconnected(nil, fakeConn{p: local, addr: loop})

	accept := func(addr string) bool {
		return x.InterceptAccept(fakeConn{addr: ma.StringCast(addr)})
	}
	for _, tc := range []struct {
		name string
		got  bool
		want bool
	}{
		{"accept from the banned address", accept("/ip4/10.0.0.50/tcp/5555"), false},
		{"accept from the banned address over quic", accept("/ip4/10.0.0.50/udp/5555/quic-v1"), false},
		{"accept from loopback, though a banned peer used it", accept("/ip4/127.0.0.1/tcp/5555"), true},
		{"accept from another address", accept("/ip4/10.0.0.60/tcp/5555"), true},
		{"accept from a non-IP address", x.InterceptAccept(fakeConn{addr: ma.StringCast("/dns4/example.com/tcp/1")}), true},
		{"secured: banned peer id", x.InterceptSecured(network.DirInbound, evil, nil), false},
		{"secured: banned peer id over loopback", x.InterceptSecured(network.DirInbound, local, nil), false},
		{"secured: honest", x.InterceptSecured(network.DirInbound, honest, nil), true},
		{"dial: banned", x.InterceptPeerDial(evil), false},
		{"dial: honest", x.InterceptPeerDial(honest), true},
		{"addr dial", x.InterceptAddrDial(evil, evilAddr), true},
	} {
		if tc.got != tc.want {
			t.Errorf("%s: allowed %v, want %v", tc.name, tc.got, tc.want)
		}
	}
	for stage, want := range map[string]float64{StageAccept: 2, StageSecured: 2, StageDial: 1} {
		if got := promtest.ToFloat64(x.refused.WithLabelValues(stage)); got != want {
			t.Errorf("refused_total{stage=%q} = %v, want %v", stage, got, want)
		}
	}
	// The ban ends: everything is allowed again.
	now = now.Add(31 * time.Second)
	if !accept("/ip4/10.0.0.50/tcp/5555") || !x.InterceptSecured(network.DirInbound, evil, nil) || !x.InterceptPeerDial(evil) {
		t.Fatal("still refused after the ban ended")
	}
	// One Gater per registry.
	if _, err := NewGater(DefaultConfig(), reg, slog.New(slog.DiscardHandler)); err == nil {
		t.Fatal("a second gater registered on the same registry")
	}
}
