package p2p

import (
	"context"
	"io"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/protocol"
	libp2phttp "github.com/libp2p/go-libp2p/p2p/http"
)

// A hostile peer opens 10,000 streams to a serving node's /http/1.1 and
// /xnode/svc-tcp/1 handlers and sends half a request on each; the resource
// manager and the handlers' deadlines bound it, and honest calls through
// another node carry on.
func TestTenThousandHostileStreams(t *testing.T) {
	if testing.Short() {
		t.Skip("10,000 streams")
	}
	nodes := newNodes(t, 2, func(int) *allowList { return nil }, nil, nil)
	caller, server := nodes[0], nodes[1]
	web := target(t, "web", 0)
	if err := server.plane.Expose(context.Background(), Exposure{Service: "acme/web", Target: hostport(web)}); err != nil {
		t.Fatal(err)
	}
	waitInstances(t, caller.plane, "acme/web", 1)

	evil, err := libp2p.New(libp2p.ListenAddrStrings("/ip4/127.0.0.1/tcp/0"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { evil.Close() })
	if err := evil.Connect(context.Background(), peer.AddrInfo{ID: server.h.ID(), Addrs: server.h.Addrs()}); err != nil {
		t.Fatal(err)
	}
	var opened, refused atomic.Int64
	var mu sync.Mutex
	var streams []network.Stream
	var wg sync.WaitGroup
	for w := range 20 {
		wg.Go(func() {
			for range 500 {
				ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
				proto := protocol.ID(libp2phttp.ProtocolIDForMultistreamSelect)
				if w%2 == 1 {
					proto = TCPProtocol
				}
				s, err := evil.NewStream(ctx, server.h.ID(), proto)
				cancel()
				if err != nil {
					refused.Add(1)
					continue
				}
				if _, err := io.WriteString(s, "GET /xnode/svc/acme/web/ HTTP/1.1\r\nHost: x\r\n"); err != nil {
					refused.Add(1)
					_ = s.Reset()
					continue
				}
				opened.Add(1)
				mu.Lock()
				streams = append(streams, s)
				mu.Unlock()
			}
		})
	}
	// Honest calls while the flood goes on, and after.
	fails := 0
	for range 50 {
		resp, _, err := get(t, caller.gw.URL+"/v1/svc/acme/web/ok", nil)
		if err != nil || resp.StatusCode != 200 {
			fails++
		}
	}
	wg.Wait()
	t.Logf("hostile streams: %d opened, %d refused; honest calls during the flood: %d of 50 failed", opened.Load(), refused.Load(), fails)
	for range 20 {
		resp, _, err := get(t, caller.gw.URL+"/v1/svc/acme/web/ok", nil)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("an honest call after 10,000 hostile streams failed: %v %v", err, resp)
		}
	}
	if fails > 0 {
		t.Fatalf("%d of 50 honest calls failed during the flood", fails)
	}
	for _, s := range streams {
		_ = s.Reset()
	}
}
