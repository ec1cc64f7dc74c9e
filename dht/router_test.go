package dht

import (
	"context"
	"errors"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	"github.com/multiformats/go-multiaddr"
	"github.com/multiformats/go-multihash"
	promtest "github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/testutil"
)

func blockCID(t *testing.T, s string) cid.Cid {
	t.Helper()
	h, err := multihash.Sum([]byte(s), multihash.SHA2_256, -1)
	if err != nil {
		t.Fatal(err)
	}
	return cid.NewCidV1(cid.Raw, h)
}

// TestCluster12 runs twelve real nodes on loopback TCP, each given only the
// first node as bootstrap, and checks routing, discovery, lookups through
// the DHT, Connect's fallback and provider records on the one cluster.
func TestCluster12(t *testing.T) {
	const n = 12
	cfg := testConfig()
	nodes := startCluster(t, n, cfg)

	testutil.Eventually(t, 30*time.Second, func() bool { return converged(nodes, cfg.MinPeers) },
		"routing tables full (%d peers) and >= %d connections on every node", n-1, cfg.MinPeers)

	ctx, cancel := context.WithTimeout(context.Background(), 40*time.Second)
	defer cancel()

	t.Run("private protocol only", func(t *testing.T) {
		for _, nd := range nodes {
			protos := nd.h.Mux().Protocols()
			if !slices.Contains(protos, ProtocolID) {
				t.Errorf("%s: /xnode/kad/1.0.0 not registered: %v", nd.name, protos)
			}
			if slices.Contains(protos, protocol.ID("/ipfs/kad/1.0.0")) {
				t.Errorf("%s: public /ipfs/kad/1.0.0 registered", nd.name)
			}
		}
	})

	t.Run("every node finds every other", func(t *testing.T) {
		if err := findAll(ctx, nodes); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("metrics follow the routing table", func(t *testing.T) {
		nd := nodes[3]
		if c, err := promtest.GatherAndCount(nd.reg, "xnode_dht_routing_table_peers"); err != nil || c != 1 {
			t.Fatalf("registry has %d routing table gauges (err %v)", c, err)
		}
		got := promtest.ToFloat64(nd.r.metrics.routingTable)
		if want := float64(nd.r.RoutingTableSize()); got != want || got < n-1 {
			t.Fatalf("gauge = %v, routing table = %v", got, want)
		}
	})

	t.Run("namespace advertised by all", func(t *testing.T) {
		h, _ := multihash.Sum([]byte(Namespace(cfg.Network)), multihash.SHA2_256, -1)
		ns := cid.NewCidV1(cid.Raw, h)
		var got []peer.AddrInfo
		ok := testutil.WaitFor(15*time.Second, func() bool {
			var err error
			got, err = nodes[5].r.FindProviders(ctx, ns, 0)
			return err == nil && len(got) >= n
		})
		if !ok {
			t.Fatalf("namespace providers: got %d of %d", len(got), n)
		}
	})

	t.Run("find peer through the dht", func(t *testing.T) {
		a, b := nodes[1], nodes[2]
		// Background refreshes may let a relearn b between forget and the
		// lookup (the lookup then reports 0 hops); try again if so.
		var (
			ai  peer.AddrInfo
			l   Lookup
			err error
		)
		for range 3 {
			forget(a, b)
			if a.h.Network().Connectedness(b.h.ID()) == network.Connected || len(a.h.Peerstore().Addrs(b.h.ID())) > 0 {
				t.Fatal("a still knows b after forget")
			}
			ai, l, err = a.r.FindPeerWithHops(ctx, b.h.ID())
			if err != nil || l.Hops != 0 {
				break
			}
		}
		if err != nil {
			t.Fatalf("find %s: %v", b.name, err)
		}
		if !hasAddr(ai.Addrs, b.h.Addrs()[0]) {
			t.Fatalf("found addrs %v, want %v", ai.Addrs, b.h.Addrs())
		}
		if l.Hops < 1 || l.Queried < 1 {
			t.Fatalf("lookup %+v: want at least one hop through another peer", l)
		}
	})

	t.Run("connect falls back to the dht", func(t *testing.T) {
		a, b := nodes[6], nodes[7]
		forget(a, b)
		bad := multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", testutil.FreePort(t)))
		if err := a.r.Connect(ctx, b.h.ID(), []multiaddr.Multiaddr{bad}); err != nil {
			t.Fatalf("connect: %v", err)
		}
		if a.h.Network().Connectedness(b.h.ID()) != network.Connected {
			t.Fatal("not connected after Connect")
		}
		// Known good addresses are used directly.
		forget(a, b)
		if err := a.r.Connect(ctx, b.h.ID(), b.h.Addrs()); err != nil {
			t.Fatalf("connect with known addresses: %v", err)
		}
		if a.h.Network().Connectedness(b.h.ID()) != network.Connected {
			t.Fatal("not connected after Connect with known addresses")
		}
	})

	t.Run("provider found without a direct link", func(t *testing.T) {
		a, b := nodes[3], nodes[4]
		reopen := cut(b, a)
		defer reopen()
		c := blockCID(t, "root of some blob")
		pctx, pcancel := context.WithTimeout(ctx, 10*time.Second)
		defer pcancel()
		if err := a.r.Provide(pctx, c); err != nil {
			t.Fatalf("provide: %v", err)
		}
		// ADD_PROVIDER is sent without waiting for the record to be
		// stored, so the record is eventually, not immediately, findable.
		var provs []peer.AddrInfo
		testutil.Eventually(t, 10*time.Second, func() bool {
			var err error
			provs, err = b.r.FindProviders(ctx, c, 1)
			return err == nil && len(provs) == 1
		}, "b finds a's provider record")
		if provs[0].ID != a.h.ID() || len(provs[0].Addrs) == 0 {
			t.Fatalf("providers = %v, want %s with addresses", provs, a.h.ID())
		}
		if b.h.Network().Connectedness(a.h.ID()) == network.Connected {
			t.Fatal("b reached a directly")
		}
		none, err := b.r.FindProviders(ctx, blockCID(t, "nobody has this"), 0)
		if err != nil || len(none) != 0 {
			t.Fatalf("unknown cid: providers %v, err %v", none, err)
		}
	})

	t.Run("unknown peer", func(t *testing.T) {
		fctx, fcancel := context.WithTimeout(ctx, 10*time.Second)
		defer fcancel()
		_, err := nodes[0].r.FindPeer(fctx, testutil.PeerID(t))
		if !errors.Is(err, ErrPeerNotFound) || !errors.Is(err, xnode.ErrNotFound) {
			t.Fatalf("err = %v, want ErrPeerNotFound", err)
		}
	})
}

func hasAddr(as []multiaddr.Multiaddr, want multiaddr.Multiaddr) bool {
	return slices.ContainsFunc(as, want.Equal)
}

func TestValidate(t *testing.T) {
	id := testutil.PeerID(t)
	good := testConfig()
	good.Bootstrap = []multiaddr.Multiaddr{multiaddr.StringCast("/ip4/127.0.0.1/tcp/4001/p2p/" + id.String())}
	if err := good.Validate(); err != nil {
		t.Fatalf("good config: %v", err)
	}
	noID := multiaddr.StringCast("/ip4/10.0.0.7/tcp/4001")
	onlyID := multiaddr.StringCast("/p2p/" + id.String())
	for _, tc := range []struct {
		name   string
		mutate func(*Config)
		want   []string
	}{
		{"no network", func(c *Config) { c.Network = "" }, []string{"Network"}},
		{"slash in network", func(c *Config) { c.Network = "a/b" }, []string{"Network", `"a/b"`}},
		{"bootstrap without p2p", func(c *Config) { c.Bootstrap = append(c.Bootstrap, noID) },
			[]string{"Bootstrap[1]", "/ip4/10.0.0.7/tcp/4001", "/p2p/"}},
		{"bootstrap without transport", func(c *Config) { c.Bootstrap = []multiaddr.Multiaddr{onlyID} },
			[]string{"Bootstrap[0]", "no transport"}},
		{"zero timeout", func(c *Config) { c.BootstrapTimeout = 0 }, []string{"BootstrapTimeout", "0s"}},
		{"negative refresh", func(c *Config) { c.RefreshInterval = -time.Second }, []string{"RefreshInterval", "-1s"}},
		{"zero discovery", func(c *Config) { c.DiscoveryInterval = 0 }, []string{"DiscoveryInterval"}},
		{"zero advertise", func(c *Config) { c.AdvertiseInterval = 0 }, []string{"AdvertiseInterval"}},
		{"zero query timeout", func(c *Config) { c.QueryTimeout = 0 }, []string{"QueryTimeout"}},
		{"negative min peers", func(c *Config) { c.MinPeers = -1 }, []string{"MinPeers", "-1"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := good
			c.Bootstrap = slices.Clone(good.Bootstrap)
			tc.mutate(&c)
			err := c.Validate()
			if !errors.Is(err, xnode.ErrInvalidArgument) {
				t.Fatalf("err = %v, want ErrInvalidArgument", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not mention %q", err, w)
				}
			}
			h := newHost(t, newGate())
			if _, err := New(c, h, testutil.Logger("bad")); !errors.Is(err, xnode.ErrInvalidArgument) {
				t.Errorf("New accepted the config: %v", err)
			}
		})
	}
	def := DefaultConfig()
	def.Network = "x"
	if err := def.Validate(); err != nil {
		t.Errorf("DefaultConfig: %v", err)
	}
}

func TestStartUnreachableBootstrap(t *testing.T) {
	refused := multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", testutil.FreePort(t), testutil.PeerID(t)))

	// A listener that accepts TCP and never speaks: the dial hangs in the
	// handshake, so only BootstrapTimeout ends it.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	silent := multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", l.Addr().(*net.TCPAddr).Port, testutil.PeerID(t)))

	cfg := testConfig()
	cfg.BootstrapTimeout = time.Second
	cfg.Bootstrap = []multiaddr.Multiaddr{refused, silent}
	h := newHost(t, newGate())
	r := newRouter(t, cfg, h, "lonely")

	start := time.Now()
	err = r.Start(context.Background())
	took := time.Since(start)
	var be *BootstrapError
	if !errors.As(err, &be) {
		t.Fatalf("err = %v, want *BootstrapError", err)
	}
	if !errors.Is(err, xnode.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	for _, a := range []multiaddr.Multiaddr{refused, silent} {
		if !strings.Contains(err.Error(), a.String()) {
			t.Errorf("error %q does not name %s", err, a)
		}
	}
	if len(be.Addrs) != 2 || len(be.Errs) != 2 {
		t.Errorf("BootstrapError = %+v", be)
	}
	if took < cfg.BootstrapTimeout/2 || took > cfg.BootstrapTimeout+3*time.Second {
		t.Errorf("Start took %s with BootstrapTimeout %s", took, cfg.BootstrapTimeout)
	}
	// Nothing is left running, and the router reports so.
	if _, err := r.FindPeer(context.Background(), testutil.PeerID(t)); !errors.Is(err, ErrNotRunning) {
		t.Errorf("FindPeer after failed start: %v", err)
	}
	if slices.Contains(h.Mux().Protocols(), ProtocolID) {
		t.Error("failed start left the DHT protocol handler registered")
	}

	// Close while a Start is still dialling: Start gives up and leaves
	// nothing behind.
	cfg.Bootstrap = []multiaddr.Multiaddr{silent}
	cfg.BootstrapTimeout = 3 * time.Second
	r2, err := New(cfg, h, testutil.Logger("closing"))
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- r2.Start(context.Background()) }()
	testutil.Eventually(t, 5*time.Second, func() bool {
		r2.mu.RLock()
		defer r2.mu.RUnlock()
		return r2.state == stateStarting
	}, "start in progress")
	closedAt := time.Now()
	if err := r2.Close(); err != nil {
		t.Fatalf("close during start: %v", err)
	}
	if err := <-done; !errors.Is(err, ErrNotRunning) {
		t.Fatalf("Start interrupted by Close: %v, want ErrNotRunning", err)
	}
	if took := time.Since(closedAt); took > 2*time.Second {
		t.Errorf("Start returned %s after Close; Close should cut the dial short", took)
	}
	if err := r2.Start(context.Background()); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Start after Close: %v", err)
	}
	if slices.Contains(h.Mux().Protocols(), ProtocolID) {
		t.Error("start interrupted by close left the DHT protocol handler registered")
	}
}

func TestLifecycleAndBadInput(t *testing.T) {
	h := newHost(t, newGate())
	cfg := testConfig()
	// A node listed as its own bootstrap peer is the first node.
	cfg.Bootstrap = []multiaddr.Multiaddr{p2pAddr(t, h)}
	r, err := New(cfg, h, testutil.Logger("solo"))
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if slices.Contains(h.Mux().Protocols(), ProtocolID) {
		t.Fatal("New registered a protocol handler; constructors must start nothing")
	}
	if _, err := r.FindPeer(ctx, testutil.PeerID(t)); !errors.Is(err, ErrNotRunning) {
		t.Errorf("FindPeer before Start: %v", err)
	}
	if err := r.Provide(ctx, blockCID(t, "x")); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Provide before Start: %v", err)
	}
	if err := r.Start(ctx); err != nil {
		t.Fatalf("start: %v", err)
	}
	if err := r.Start(ctx); !errors.Is(err, ErrAlreadyStarted) {
		t.Errorf("second Start: %v", err)
	}

	protos := h.Mux().Protocols()
	if !slices.Contains(protos, ProtocolID) || slices.Contains(protos, protocol.ID("/ipfs/kad/1.0.0")) {
		t.Errorf("protocols = %v, want /xnode/kad/1.0.0 and no /ipfs/kad/1.0.0", protos)
	}

	if _, err := r.FindPeer(ctx, peer.ID("")); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("FindPeer(empty id): %v", err)
	}
	if _, _, err := r.FindPeerWithHops(ctx, peer.ID("")); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("FindPeerWithHops(empty id): %v", err)
	}
	if err := r.Provide(ctx, cid.Undef); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("Provide(undef): %v", err)
	}
	if _, err := r.FindProviders(ctx, cid.Undef, 1); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("FindProviders(undef): %v", err)
	}
	if err := r.Connect(ctx, h.ID(), nil); !errors.Is(err, xnode.ErrInvalidArgument) {
		t.Errorf("Connect(self): %v", err)
	}
	// Alone, there is nobody to ask.
	if _, err := r.FindPeer(ctx, testutil.PeerID(t)); !errors.Is(err, ErrNoPeers) {
		t.Errorf("FindPeer alone: %v", err)
	}
	if err := r.Connect(ctx, testutil.PeerID(t), nil); !errors.Is(err, ErrNoPeers) {
		t.Errorf("Connect alone: %v", err)
	}

	if err := r.Close(); err != nil {
		t.Fatalf("close: %v", err)
	}
	if err := r.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	if slices.Contains(h.Mux().Protocols(), ProtocolID) {
		t.Error("closed router still answers the DHT protocol")
	}
	if err := r.Start(ctx); !errors.Is(err, ErrNotRunning) {
		t.Errorf("Start after Close: %v", err)
	}
	if r.RoutingTableSize() != 0 {
		t.Error("routing table size after close")
	}
}

// TestStartOneGoodBootstrap: one reachable bootstrap peer is enough, and
// Start does not wait for the dead ones.
func TestStartOneGoodBootstrap(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = l.Close() })
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			t.Cleanup(func() { _ = c.Close() })
		}
	}()
	silent := multiaddr.StringCast(fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", l.Addr().(*net.TCPAddr).Port, testutil.PeerID(t)))

	cfg := testConfig()
	first := newHost(t, newGate())
	r1 := newRouter(t, cfg, first, "first")
	if err := r1.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	cfg.Bootstrap = []multiaddr.Multiaddr{silent, p2pAddr(t, first)}
	h := newHost(t, newGate())
	r2 := newRouter(t, cfg, h, "second")
	start := time.Now()
	if err := r2.Start(context.Background()); err != nil {
		t.Fatalf("start: %v", err)
	}
	if took := time.Since(start); took >= cfg.BootstrapTimeout {
		t.Errorf("Start took %s: it waited for the dead bootstrap peer", took)
	}
	testutil.Eventually(t, 10*time.Second, func() bool {
		return r1.RoutingTableSize() == 1 && r2.RoutingTableSize() == 1
	}, "the two nodes in each other's routing table")
}
