package dht

import (
	"context"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode/internal/testutil"
)

// fixedDiscoverer answers FindPeers with a fixed list.
type fixedDiscoverer struct {
	ns    string
	peers []peer.AddrInfo
}

func (f *fixedDiscoverer) FindPeers(ctx context.Context, ns string, _ ...discovery.Option) (<-chan peer.AddrInfo, error) {
	if ns != f.ns {
		return nil, fmt.Errorf("unexpected namespace %q", ns)
	}
	ch := make(chan peer.AddrInfo)
	go func() {
		defer close(ch)
		for _, ai := range f.peers {
			select {
			case ch <- ai:
			case <-ctx.Done():
				return
			}
		}
	}()
	return ch, nil
}

// TestFindPeersStopsAtMinPeers checks the dialling half of discovery on its
// own: it skips itself, peers without addresses and unreachable peers, and
// stops once the host has MinPeers connections.
func TestFindPeersStopsAtMinPeers(t *testing.T) {
	cfg := testConfig()
	cfg.MinPeers = 3
	cfg.BootstrapTimeout = time.Second
	h := newHost(t, newGate())
	reg := prometheus.NewRegistry()
	r := newRouter(t, cfg, h, "finder", WithRegisterer(reg))

	dead := multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", testutil.FreePort(t)))
	found := []peer.AddrInfo{
		{ID: h.ID(), Addrs: h.Addrs()},                               // self
		{ID: testutil.PeerID(t)},                                     // no addresses
		{ID: testutil.PeerID(t), Addrs: []multiaddr.Multiaddr{dead}}, // nobody listening
	}
	var others []peer.ID
	for range 5 {
		o := newHost(t, newGate())
		others = append(others, o.ID())
		found = append(found, peer.AddrInfo{ID: o.ID(), Addrs: o.Addrs()})
	}
	ns := Namespace(cfg.Network)
	r.findPeers(context.Background(), &fixedDiscoverer{ns: ns, peers: found}, ns)

	connected := h.Network().Peers()
	if len(connected) != cfg.MinPeers {
		t.Fatalf("connected to %d peers, want MinPeers = %d", len(connected), cfg.MinPeers)
	}
	for _, id := range connected {
		if !slices.Contains(others, id) {
			t.Errorf("connected to unexpected peer %s", id)
		}
	}
	if got := promtest.ToFloat64(r.metrics.discoveryConnects); got != float64(cfg.MinPeers) {
		t.Errorf("discovery connects = %v, want %d", got, cfg.MinPeers)
	}

	// At MinPeers nothing more is dialled.
	r.findPeers(context.Background(), &fixedDiscoverer{ns: ns, peers: found}, ns)
	if n := len(h.Network().Peers()); n != cfg.MinPeers {
		t.Errorf("connected to %d peers after a second round, want %d", n, cfg.MinPeers)
	}
}
