package dht

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/testutil"
)

// gate is a connection gater a test can use to cut one link between two
// real hosts, so that a lookup has to go through the DHT.
type gate struct {
	mu      sync.Mutex
	blocked map[peer.ID]bool // both directions
	inbound map[peer.ID]bool // inbound only
}

func newGate() *gate {
	return &gate{blocked: make(map[peer.ID]bool), inbound: make(map[peer.ID]bool)}
}

func (g *gate) block(p peer.ID)        { g.set(g.blocked, p, true) }
func (g *gate) unblock(p peer.ID)      { g.set(g.blocked, p, false) }
func (g *gate) blockInbound(p peer.ID) { g.set(g.inbound, p, true) }

func (g *gate) set(m map[peer.ID]bool, p peer.ID, v bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	m[p] = v
}

func (g *gate) allowed(p peer.ID, in bool) bool {
	g.mu.Lock()
	defer g.mu.Unlock()
	return !g.blocked[p] && !(in && g.inbound[p])
}

func (g *gate) InterceptPeerDial(p peer.ID) bool                        { return g.allowed(p, false) }
func (g *gate) InterceptAddrDial(p peer.ID, _ multiaddr.Multiaddr) bool { return g.allowed(p, false) }
func (g *gate) InterceptAccept(network.ConnMultiaddrs) bool             { return true }
func (g *gate) InterceptSecured(d network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	return g.allowed(p, d == network.DirInbound)
}
func (g *gate) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

type node struct {
	name string
	h    host.Host
	gate *gate
	r    *Router
	reg  *prometheus.Registry
}

func newHost(tb testing.TB, g *gate) host.Host {
	tb.Helper()
	h, err := libp2p.New(
		libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
		libp2p.ResourceManager(&network.NullResourceManager{}),
		libp2p.ConnectionGater(g),
		libp2p.DisableRelay(),
	)
	if err != nil {
		tb.Fatalf("libp2p host: %v", err)
	}
	tb.Cleanup(func() { _ = h.Close() })
	return h
}

// p2pAddr is h's first listen address with /p2p/<id> appended.
// newRouter is New for a test: it fails the test on error, and closes the
// router when the test ends.
func newRouter(tb testing.TB, cfg Config, h host.Host, name string, opts ...Option) *Router {
	tb.Helper()
	r, err := New(cfg, h, testutil.Logger(name), opts...)
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { _ = r.Close() })
	return r
}

func p2pAddr(tb testing.TB, h host.Host) multiaddr.Multiaddr {
	tb.Helper()
	addrs, err := peer.AddrInfoToP2pAddrs(&peer.AddrInfo{ID: h.ID(), Addrs: h.Addrs()})
	if err != nil || len(addrs) == 0 {
		tb.Fatalf("p2p addr of %s: %v", h.ID(), err)
	}
	return addrs[0]
}

func testConfig() Config {
	c := DefaultLocalConfig()
	c.Network = "test-chain"
	c.RefreshInterval = 2 * time.Second
	c.DiscoveryInterval = 300 * time.Millisecond
	c.QueryTimeout = 5 * time.Second
	c.BootstrapTimeout = 10 * time.Second
	c.MinPeers = 5
	return c
}

// startCluster starts n nodes on loopback TCP; every node (the first one
// included, which skips itself) is given only the first node as bootstrap.
// Everything is closed at cleanup.
func startCluster(tb testing.TB, n int, cfg Config) []*node {
	tb.Helper()
	nodes, closeAll := newCluster(tb, n, cfg)
	tb.Cleanup(func() {
		if err := closeAll(); err != nil {
			tb.Errorf("close: %v", err)
		}
	})
	startAll(tb, nodes)
	return nodes
}

// newCluster builds n hosts and routers, starting nothing. closeAll closes
// the routers, then the hosts.
func newCluster(tb testing.TB, n int, cfg Config) (nodes []*node, closeAll func() error) {
	tb.Helper()
	nodes = make([]*node, n)
	closeAll = func() error {
		var errs []error
		for _, nd := range nodes {
			if nd == nil {
				continue
			}
			if nd.r != nil {
				errs = append(errs, nd.r.Close())
			}
			errs = append(errs, nd.h.Close())
		}
		return errors.Join(errs...)
	}
	for i := range nodes {
		g := newGate()
		h, err := libp2p.New(
			libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"),
			libp2p.ResourceManager(&network.NullResourceManager{}),
			libp2p.ConnectionGater(g),
			libp2p.DisableRelay(),
		)
		if err != nil {
			_ = closeAll()
			tb.Fatalf("libp2p host: %v", err)
		}
		nodes[i] = &node{name: fmt.Sprintf("n%d", i), h: h, gate: g, reg: prometheus.NewRegistry()}
	}
	cfg.Bootstrap = []multiaddr.Multiaddr{p2pAddr(tb, nodes[0].h)}
	for _, nd := range nodes {
		r, err := New(cfg, nd.h, testutil.Logger(nd.name), WithRegisterer(nd.reg))
		if err != nil {
			_ = closeAll()
			tb.Fatalf("%s: new: %v", nd.name, err)
		}
		nd.r = r
	}
	return nodes, closeAll
}

// startAll starts the routers one after another.
func startAll(tb testing.TB, nodes []*node) {
	tb.Helper()
	for _, nd := range nodes {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		err := nd.r.Start(ctx)
		cancel()
		if err != nil {
			tb.Fatalf("%s: start: %v", nd.name, err)
		}
	}
}

// converged reports whether every node has all others in its routing table
// and at least minPeers connections.
func converged(nodes []*node, minPeers int) bool {
	for _, nd := range nodes {
		if nd.r.RoutingTableSize() < len(nodes)-1 || len(nd.h.Network().Peers()) < minPeers {
			return false
		}
	}
	return true
}

// findAll has every node FindPeer every other node; it returns the first
// failure.
func findAll(ctx context.Context, nodes []*node) error {
	for _, a := range nodes {
		for _, b := range nodes {
			if a == b {
				continue
			}
			ai, err := a.r.FindPeer(ctx, b.h.ID())
			if err != nil {
				return fmt.Errorf("%s find %s: %w", a.name, b.name, err)
			}
			if ai.ID != b.h.ID() || len(ai.Addrs) == 0 {
				return fmt.Errorf("%s find %s: got %v", a.name, b.name, ai)
			}
		}
	}
	return nil
}

// forget makes a forget b: no connection, not in a's routing table, no
// addresses in a's peerstore. b may not dial a again (so it cannot undo
// this by reconnecting) but a may dial b once it has learned where b is.
func forget(a, b *node) {
	a.gate.blockInbound(b.h.ID())
	_ = a.h.Network().ClosePeer(b.h.ID())
	_ = b.h.Network().ClosePeer(a.h.ID())
	if kad, err := a.r.running(); err == nil {
		kad.RoutingTable().RemovePeer(b.h.ID())
	}
	a.h.Peerstore().ClearAddrs(b.h.ID())
}

// cut does what forget does and also blocks the link both ways; the
// returned func reopens it.
func cut(a, b *node) (reopen func()) {
	a.gate.block(b.h.ID())
	b.gate.block(a.h.ID())
	forget(a, b)
	return func() {
		a.gate.unblock(b.h.ID())
		b.gate.unblock(a.h.ID())
		a.gate.set(a.gate.inbound, b.h.ID(), false)
	}
}
