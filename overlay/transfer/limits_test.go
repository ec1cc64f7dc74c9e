package transfer

import (
	"errors"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"

	"github.com/xnode/xnode/block"
)

// withLimits builds a host option carrying a resource manager over limits,
// as the node builds its own.
func withLimits(tb testing.TB, limits rcmgr.ScalingLimitConfig) libp2p.Option {
	tb.Helper()
	libp2p.SetDefaultServiceLimits(&limits)
	mgr, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits.AutoScale()))
	if err != nil {
		tb.Fatal(err)
	}
	return libp2p.ResourceManager(mgr)
}

// heldPuts sends n concurrent max-size PUTs from a to b while b's store holds
// them, and reports how many reached the store and how many were refused as
// overloaded. It then lets the held ones finish and checks they succeed.
func heldPuts(t *testing.T, a, b *node, n int) (held, busy int) {
	t.Helper()
	errs := make(chan error, n)
	var opens []func()
	for range n {
		blk := randomBlock(t, block.MaxChunkSize)
		opens = append(opens, b.store.hold(blk.CID))
		go func() { errs <- a.svc.PutBlock(t.Context(), b.h.ID(), blk, false) }()
	}
	timeout := time.After(20 * time.Second)
	for held+busy < n {
		select {
		case <-b.store.entered:
			held++
		case err := <-errs:
			if !errors.Is(err, ErrOverloaded) {
				t.Fatalf("put refused with %v, want overloaded", err)
			}
			busy++
		case <-timeout:
			t.Fatalf("after 20 s: %d held, %d busy of %d", held, busy, n)
		}
	}
	for _, open := range opens {
		open()
	}
	for range held {
		if err := <-errs; err != nil {
			t.Fatalf("held put: %v", err)
		}
	}
	return held, busy
}

// TestMemoryReservation shows frame memory is reserved with the resource
// manager: with libp2p's default limits only a few 4 MiB frames per peer fit
// at once and the rest are answered BUSY; with Config.AddLimits all of a
// full window fit.
func TestMemoryReservation(t *testing.T) {
	cfg := DefaultConfig()
	const n = 6
	a := newNode(t, cfg)

	b := newNode(t, cfg, withLimits(t, rcmgr.DefaultLimits))
	connect(t, a.h, b.h)
	held, busy := heldPuts(t, a, b, n)
	if held == 0 || busy == 0 {
		t.Fatalf("default limits: %d held, %d busy; want some of each", held, busy)
	}
	// Each refused put was sent 1+busyRetries times.
	if got, want := rejected(b.svc, reasonBusy), float64(busy*(1+cfg.BusyRetries)); got != want {
		t.Fatalf("rejected{busy} = %v, want %v", got, want)
	}

	limits := rcmgr.DefaultLimits
	cfg.AddLimits(&limits)
	c := newNode(t, cfg, withLimits(t, limits))
	connect(t, a.h, c.h)
	if held, busy := heldPuts(t, a, c, n); held != n || busy != 0 {
		t.Fatalf("with AddLimits: %d held, %d busy; want all %d held", held, busy, n)
	}
	honest(t, a, b)
}
