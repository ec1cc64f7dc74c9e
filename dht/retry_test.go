package dht

import (
	"context"
	"crypto/rand"
	"fmt"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode/internal/testutil"
)

// TestRetryBootstrap: with RetryBootstrap, Start succeeds although the
// bootstrap peer is not up yet, and the router reaches it once it is.
func TestRetryBootstrap(t *testing.T) {
	key, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	id, _ := peer.IDFromPrivateKey(key)
	port := testutil.FreePort(t)
	addr := fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", port)

	cfg := testConfig()
	cfg.BootstrapTimeout = time.Second
	cfg.RetryBootstrap = true
	cfg.Bootstrap = []multiaddr.Multiaddr{multiaddr.StringCast(addr + "/p2p/" + id.String())}
	h := newHost(t, newGate())
	r := newRouter(t, cfg, h, "early")
	if err := r.Start(context.Background()); err != nil {
		t.Fatalf("start with an absent bootstrap peer: %v", err)
	}

	// The bootstrap peer comes up, at the address the router was given.
	bh, err := libp2p.New(libp2p.Identity(key), libp2p.ListenAddrStrings(addr),
		libp2p.ResourceManager(&network.NullResourceManager{}), libp2p.DisableRelay())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = bh.Close() })
	bcfg := testConfig()
	br, err := New(bcfg, bh, testutil.Logger("bootstrap"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = br.Close() })
	if err := br.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 15*time.Second, func() bool { return r.RoutingTableSize() == 1 }, "router reached the late bootstrap peer")
}
