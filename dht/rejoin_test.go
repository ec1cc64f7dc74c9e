package dht

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode/internal/testutil"
)

// fixedHost is a host that can be closed and started again with the same
// identity at the same address, as a restarted node is.
type fixedHost struct {
	key  crypto.PrivKey
	id   peer.ID
	addr string
}

func newFixedHost(t *testing.T) *fixedHost {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	return &fixedHost{key: key, id: id, addr: fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", testutil.FreePort(t))}
}

func (f *fixedHost) info() peer.AddrInfo {
	return peer.AddrInfo{ID: f.id, Addrs: []multiaddr.Multiaddr{multiaddr.StringCast(f.addr)}}
}

// start runs a host and a router for f; stop closes both.
func (f *fixedHost) start(t *testing.T, cfg Config) (stop func()) {
	t.Helper()
	h, err := libp2p.New(libp2p.Identity(f.key), libp2p.ListenAddrStrings(f.addr),
		libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	r, err := New(cfg, h, testutil.Logger("fixed"))
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	stop = func() {
		_ = r.Close()
		_ = h.Close()
	}
	t.Cleanup(stop)
	return stop
}

func connected(h host.Host, p peer.ID) bool {
	return h.Network().Connectedness(p) == network.Connected
}

// TestRememberedPeerReplacesDeadBootstrap: a node restarted after its only
// bootstrap peer died finds the network through a peer it remembers.
func TestRememberedPeerReplacesDeadBootstrap(t *testing.T) {
	alive := newFixedHost(t)
	alive.start(t, testConfig())
	dead := newFixedHost(t) // never started

	for _, retry := range []bool{false, true} {
		t.Run(fmt.Sprintf("retry=%t", retry), func(t *testing.T) {
			cfg := testConfig()
			cfg.BootstrapTimeout = 2 * time.Second
			cfg.RetryBootstrap = retry
			cfg.Bootstrap = []multiaddr.Multiaddr{multiaddr.StringCast(dead.addr + "/p2p/" + dead.id.String())}
			cfg.Remembered = []peer.AddrInfo{alive.info(), {ID: "", Addrs: nil}}
			h := newHost(t, newGate())
			r := newRouter(t, cfg, h, "restarted")
			if err := r.Start(context.Background()); err != nil {
				t.Fatalf("start with a dead bootstrap peer and a live remembered one: %v", err)
			}
			if !connected(h, alive.id) {
				t.Fatal("not connected to the remembered peer after Start")
			}
		})
	}

	// Without the remembered peer the same start fails, as before.
	cfg := testConfig()
	cfg.BootstrapTimeout = time.Second
	cfg.Bootstrap = []multiaddr.Multiaddr{multiaddr.StringCast(dead.addr + "/p2p/" + dead.id.String())}
	r := newRouter(t, cfg, newHost(t, newGate()), "alone")
	var be *BootstrapError
	if err := r.Start(context.Background()); err == nil || !errors.As(err, &be) {
		t.Fatalf("start with only a dead bootstrap peer: %v, want a *BootstrapError", err)
	}
}

// TestRedialsWhenIsolated: a node whose every peer restarted reconnects by
// itself, from its routing table, long before its next discovery tick; the
// restarted peer has no way to find it.
func TestRedialsWhenIsolated(t *testing.T) {
	cfg := testConfig()
	cfg.DiscoveryInterval = time.Hour // only the isolation path may redial
	cfg.RetryBootstrap = true
	h := newHost(t, newGate())
	r := newRouter(t, cfg, h, "stays-up")
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}

	// The peer joins through the node, so the node knows it only from its
	// routing table.
	peerHost := newFixedHost(t)
	pcfg := testConfig()
	pcfg.DiscoveryInterval = time.Hour
	pcfg.Bootstrap = []multiaddr.Multiaddr{p2pAddr(t, h)}
	stop := peerHost.start(t, pcfg)
	testutil.Eventually(t, 15*time.Second, func() bool { return r.RoutingTableSize() == 1 }, "peer in the routing table")

	stop()
	testutil.Eventually(t, 15*time.Second, func() bool { return len(h.Network().Peers()) == 0 }, "node isolated")

	// It comes back knowing nobody.
	pcfg.Bootstrap = nil
	peerHost.start(t, pcfg)
	testutil.Eventually(t, 20*time.Second, func() bool { return connected(h, peerHost.id) }, "node redialled the restarted peer")
}
