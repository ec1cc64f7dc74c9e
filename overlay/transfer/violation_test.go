package transfer

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/peerguard"
)

// violations records what Config.OnViolation hears.
type violations struct {
	mu  sync.Mutex
	got []string
}

func (v *violations) add(_ peer.ID, reason string) {
	v.mu.Lock()
	defer v.mu.Unlock()
	v.got = append(v.got, reason)
}

func (v *violations) list() []string {
	v.mu.Lock()
	defer v.mu.Unlock()
	return slices.Clone(v.got)
}

// guardedNode is a transfer node wired to a peerguard gater the way the
// overlay wires it: the gater gates the host, and a violation strikes the
// peer and, once it is banned, closes its connections.
func guardedNode(t *testing.T, cfg Config) (*node, *peerguard.Gater, *violations) {
	t.Helper()
	gater, err := peerguard.NewGater(peerguard.DefaultConfig(), prometheus.NewRegistry(), testutil.Logger("guard"))
	if err != nil {
		t.Fatal(err)
	}
	seen := &violations{}
	var n *node
	ready := make(chan struct{})
	cfg.OnViolation = func(p peer.ID, reason string) {
		<-ready
		seen.add(p, reason)
		if v := gater.Strike(p, reason); v.NewBan {
			_ = n.h.Network().ClosePeer(p)
		}
	}
	n = newNode(t, cfg, libp2p.ConnectionGater(gater))
	n.h.Network().Notify(gater)
	close(ready)
	return n, gater, seen
}

// TestOversizedFramesBanPeer: a peer that sends three oversized frame
// headers on the block protocol is banned, its connection is closed and a
// new stream from it fails, while an honest peer's requests are served
// before, between and after.
func TestOversizedFramesBanPeer(t *testing.T) {
	srv, gater, seen := guardedNode(t, DefaultConfig())
	honestNode := newNode(t, DefaultConfig())
	evil := newHost(t)
	connect(t, honestNode.h, srv.h)
	connect(t, evil, srv.h)

	oversized := append(frameHeader(1<<30), make([]byte, 4096)...)
	for i := range 3 {
		honest(t, honestNode, srv)
		if gater.Banned(evil.ID()) {
			t.Fatalf("banned after %d violations", i)
		}
		if _, err := rawExchange(t, evil, srv.h.ID(), oversized, false); !errors.Is(err, network.ErrReset) {
			t.Fatalf("oversized frame %d: %v, want reset", i, err)
		}
		testutil.Eventually(t, 5*time.Second, func() bool { return len(seen.list()) == i+1 }, "violation %d not reported", i)
	}
	if got := seen.list(); !slices.Equal(got, []string{ViolationFrameTooLarge, ViolationFrameTooLarge, ViolationFrameTooLarge}) {
		t.Fatalf("violations %v", got)
	}
	if !gater.Banned(evil.ID()) {
		t.Fatal("not banned after three oversized frames")
	}
	testutil.Eventually(t, 5*time.Second, func() bool {
		return srv.h.Network().Connectedness(evil.ID()) != network.Connected &&
			evil.Network().Connectedness(srv.h.ID()) != network.Connected
	}, "the banned peer's connection was not closed")

	// The banned peer comes back: the handshake is refused, so the stream
	// is never opened.
	evil.Peerstore().AddAddrs(srv.h.ID(), srv.h.Addrs(), time.Hour)
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if st, err := evil.NewStream(ctx, srv.h.ID(), ProtocolID); err == nil {
		_ = st.Reset()
		t.Fatal("a banned peer opened a new stream")
	}
	if srv.h.Network().Connectedness(evil.ID()) == network.Connected {
		t.Fatal("the banned peer is connected again")
	}
	// The honest peer was never cut off.
	honest(t, honestNode, srv)
	if srv.h.Network().Connectedness(honestNode.h.ID()) != network.Connected {
		t.Fatal("the honest peer lost its connection")
	}
}

// TestWhatCountsAsViolation sends one stream of each kind and checks which
// reach OnViolation: only framing no honest peer of any version produces.
// An unknown op, an undecodable body, a reset, a stall and a BUSY refusal
// are not violations.
func TestWhatCountsAsViolation(t *testing.T) {
	cfg := DefaultConfig()
	cfg.RequestTimeout = 300 * time.Millisecond
	cfg.MaxInboundPerPeer = 1
	srv, gater, seen := guardedNode(t, cfg)
	peerA := newNode(t, DefaultConfig())
	connect(t, peerA.h, srv.h)
	a := peerA.h

	// wait returns once the handler of the last stream has returned: its
	// rejection is counted and its inbound slot released.
	wait := func(reason string, before float64) {
		t.Helper()
		testutil.Eventually(t, 5*time.Second, func() bool {
			return rejected(srv.svc, reason) > before && srv.svc.inbound.len() == 0
		}, "handler for %s did not finish", reason)
	}
	resetAfter := func(raw []byte) {
		t.Helper()
		st, err := a.NewStream(t.Context(), srv.h.ID(), ProtocolID)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := st.Write(raw); err != nil {
			t.Fatal(err)
		}
		// Wait for the server to hold the stream, then cut it.
		testutil.Eventually(t, 5*time.Second, func() bool { return srv.svc.inbound.len() == 1 }, "stream not held")
		_ = st.Reset()
	}
	blk := randomBlock(t, 1000)
	if err := peerA.svc.PutBlock(t.Context(), srv.h.ID(), blk, false); err != nil {
		t.Fatal(err)
	}

	// BUSY: the only slot is held by a get, and a second request is shed.
	open := srv.store.hold(blk.CID)
	held := make(chan error, 1)
	go func() { _, err := peerA.svc.GetBlock(t.Context(), srv.h.ID(), blk.CID); held <- err }()
	<-srv.store.entered
	quiet := len(seen.list())
	if st, _ := rawRequest(t, a, srv.h.ID(), encodeGet(blk.CID)); st != statusBusy {
		t.Fatalf("second request: %s, want busy", statusName(st))
	}
	open()
	if err := <-held; err != nil {
		t.Fatal(err)
	}
	if got := seen.list()[quiet:]; len(got) != 0 {
		t.Errorf("busy: reported %v", got)
	}

	for _, tc := range []struct {
		name   string
		reason string // rejection reason counted by the server
		send   func()
		want   string // violation reported, "" for none
	}{
		{"unknown op", reasonBadRequest, func() {
			if st, _ := rawRequest(t, a, srv.h.ID(), []byte{0x7f, 1, 2, 3}); st != statusBadRequest {
				t.Fatalf("status %s", statusName(st))
			}
		}, ""},
		{"undecodable get", reasonBadRequest, func() {
			if st, _ := rawRequest(t, a, srv.h.ID(), append([]byte{opGet, 5}, "hello"...)); st != statusBadRequest {
				t.Fatalf("status %s", statusName(st))
			}
		}, ""},
		{"put with unknown flags", reasonBadRequest, func() {
			rawRequest(t, a, srv.h.ID(), append([]byte{opPut, 0x80}, appendCID(nil, blk.CID)...))
		}, ""},
		{"reset inside the body", reasonTruncated, func() { resetAfter(append(frameHeader(1000), 1, 2, 3)) }, ""},
		{"stall inside the body", reasonTruncated, func() {
			_, _ = rawExchange(t, a, srv.h.ID(), append(frameHeader(1000), 1, 2, 3), false)
		}, ""},
		{"closed before any byte", reasonTruncated, func() { _, _ = rawExchange(t, a, srv.h.ID(), nil, true) }, ""},
		{"closed inside the body", reasonTruncated, func() {
			_, _ = rawExchange(t, a, srv.h.ID(), append(frameHeader(1000), 1, 2, 3), true)
		}, ViolationTruncated},
		{"closed inside the length prefix", reasonTruncated, func() { _, _ = rawExchange(t, a, srv.h.ID(), []byte{0x80}, true) }, ViolationTruncated},
		{"length prefix not minimal", reasonBadRequest, func() { _, _ = rawExchange(t, a, srv.h.ID(), []byte{0x81, 0x00, 1}, true) }, ViolationBadLength},
	} {
		before := len(seen.list())
		count := rejected(srv.svc, tc.reason)
		tc.send()
		wait(tc.reason, count)
		got := seen.list()[before:]
		switch {
		case tc.want == "" && len(got) != 0:
			t.Errorf("%s: reported %v, want no violation", tc.name, got)
		case tc.want != "" && !slices.Equal(got, []string{tc.want}):
			t.Errorf("%s: reported %v, want %s", tc.name, got, tc.want)
		}
	}

	// Three violations were reported: the peer is banned now. Until then
	// none of the others added up to a ban.
	if got := len(seen.list()); got != 3 {
		t.Fatalf("%d violations reported, want 3", got)
	}
	testutil.Eventually(t, 5*time.Second, func() bool { return gater.Banned(a.ID()) }, "three violations did not ban")
}

// TestUnknownOpsNeverBan: many requests with an op this version does not
// know (a newer version might send them) leave the peer connected and
// served.
func TestUnknownOpsNeverBan(t *testing.T) {
	srv, gater, seen := guardedNode(t, DefaultConfig())
	peerA := newNode(t, DefaultConfig())
	connect(t, peerA.h, srv.h)
	for op := byte(6); op < 16; op++ {
		// BUSY is the per-peer limit while the server has not yet released
		// the last request's slot (a busy machine): asked again, never a
		// violation either.
		var st byte
		testutil.Eventually(t, 10*time.Second, func() bool {
			st, _ = rawRequest(t, peerA.h, srv.h.ID(), []byte{op, 1, 2, 3})
			return st != statusBusy
		}, "op %d answered, not BUSY", op)
		if st != statusBadRequest {
			t.Fatalf("op %d: status %s, want bad_request", op, statusName(st))
		}
	}
	if got := seen.list(); len(got) != 0 || gater.Banned(peerA.h.ID()) {
		t.Fatalf("unknown ops reported %v, banned %v", got, gater.Banned(peerA.h.ID()))
	}
	honest(t, peerA, srv)
}
