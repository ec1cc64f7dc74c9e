package gossip

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
)

// testPeers returns n valid, deterministic peer ids.
func testPeers(t testing.TB, n int) []peer.ID {
	t.Helper()
	r := rand.NewChaCha8([32]byte{7})
	ids := make([]peer.ID, n)
	for i := range ids {
		sk, _, err := crypto.GenerateEd25519Key(r)
		if err != nil {
			t.Fatal(err)
		}
		if ids[i], err = peer.IDFromPrivateKey(sk); err != nil {
			t.Fatal(err)
		}
	}
	return ids
}

var t0 = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func TestDetectorRegularArrivalsKeepPhiLow(t *testing.T) {
	cfg := DefaultConfig()
	d := NewDetector(cfg)
	p := testPeers(t, 1)[0]
	now := t0
	for range 200 {
		d.Heartbeat(p, now)
		now = now.Add(cfg.HeartbeatInterval)
		// Checked just as the next heartbeat is due.
		if got := d.Phi(p, now); got > 0.5 {
			t.Fatalf("phi %.3f at a regular arrival; want < 0.5", got)
		}
	}
}

func TestDetectorSilenceCrossesThresholdsWhenPredicted(t *testing.T) {
	for name, cfg := range map[string]Config{"default": DefaultConfig(), "localtest": LocalTestConfig()} {
		t.Run(name, func(t *testing.T) {
			d := NewDetector(cfg)
			p := testPeers(t, 1)[0]
			now := t0
			for range cfg.WindowSize + 10 { // fill the window with exact intervals
				d.Heartbeat(p, now)
				now = now.Add(cfg.HeartbeatInterval)
			}
			last := now.Add(-cfg.HeartbeatInterval)

			step := cfg.HeartbeatInterval / 100
			var suspectAt, failAt time.Duration
			prev := -1.0
			for el := time.Duration(0); el < 30*cfg.HeartbeatInterval && failAt == 0; el += step {
				ph := d.Phi(p, last.Add(el))
				if ph < prev {
					t.Fatalf("phi fell from %.3f to %.3f at %s of silence", prev, ph, el)
				}
				prev = ph
				if suspectAt == 0 && ph >= cfg.SuspectPhi {
					suspectAt = el
				}
				if ph >= cfg.FailPhi {
					failAt = el
				}
			}
			if suspectAt == 0 || failAt == 0 {
				t.Fatalf("thresholds never crossed: suspect at %s, fail at %s", suspectAt, failAt)
			}
			// Regular history has zero observed deviation, so the model is
			// (HeartbeatInterval+AcceptablePause, MinStdDev): exactly what
			// SuspectAfter and FailAfter invert.
			near := func(got, want time.Duration) bool { return (got - want).Abs() <= step }
			if !near(suspectAt, cfg.SuspectAfter()) {
				t.Errorf("suspect after %s of silence; config predicts %s", suspectAt, cfg.SuspectAfter())
			}
			if !near(failAt, cfg.FailAfter()) {
				t.Errorf("failed after %s of silence; config predicts %s", failAt, cfg.FailAfter())
			}
			if suspectAt >= failAt {
				t.Errorf("suspect at %s not before fail at %s", suspectAt, failAt)
			}
		})
	}
}

func TestDefaultDetectionWindow(t *testing.T) {
	// The documented promise: with 1 s heartbeats a killed node is failed
	// within about 5-8 s.
	cfg := DefaultConfig()
	w := cfg.DetectionWindow()
	if w < 5*time.Second || w > 8*time.Second {
		t.Fatalf("default detection window %s, want 5s..8s", w)
	}
	if s := cfg.SuspectAfter(); s >= cfg.FailAfter() || s < 2*cfg.HeartbeatInterval {
		t.Fatalf("suspect after %s, fail after %s", s, cfg.FailAfter())
	}
}

func TestDetectorJitterDoesNotFalsePositive(t *testing.T) {
	cfg := DefaultConfig()
	d := NewDetector(cfg)
	p := testPeers(t, 1)[0]
	r := rand.New(rand.NewPCG(1, 2))
	now := t0
	maxPhi := 0.0
	for i := range 5000 {
		d.Heartbeat(p, now)
		// Normal jitter of 200 ms around 1 s, and one heartbeat in 50 lost
		// entirely (a 2 s gap).
		gap := time.Duration((1 + 0.2*r.NormFloat64()) * float64(time.Second))
		gap = max(gap, 10*time.Millisecond)
		if i%50 == 49 {
			gap += cfg.HeartbeatInterval
		}
		// Check phi at every tick up to the next arrival.
		for el := time.Duration(0); el <= gap; el += cfg.TickInterval {
			maxPhi = max(maxPhi, d.Phi(p, now.Add(el)))
		}
		now = now.Add(gap)
		maxPhi = max(maxPhi, d.Phi(p, now))
	}
	if maxPhi >= cfg.SuspectPhi {
		t.Fatalf("jittery but live peer reached phi %.2f (suspect at %.1f)", maxPhi, cfg.SuspectPhi)
	}
	t.Logf("max phi under jitter: %.3f", maxPhi)
}

func TestDetectorAdaptsToSlowPeer(t *testing.T) {
	// A peer that heartbeats every 3 s is not suspected after 4 s of
	// silence, while a 1 s peer silent for 6 s is.
	cfg := DefaultConfig()
	d := NewDetector(cfg)
	ids := testPeers(t, 2)
	slow, fast := ids[0], ids[1]
	now := t0
	for i := range 300 {
		if i%3 == 0 {
			d.Heartbeat(slow, now)
		}
		d.Heartbeat(fast, now)
		now = now.Add(time.Second)
	}
	last := now.Add(-time.Second) // fast's last beat; slow's was at most 2 s before
	if got := d.Phi(slow, last.Add(4*time.Second)); got >= cfg.SuspectPhi {
		t.Errorf("slow peer phi %.2f after a normal gap", got)
	}
	if got := d.Phi(fast, last.Add(6*time.Second)); got < cfg.SuspectPhi {
		t.Errorf("fast peer phi %.2f after 6 s of silence; want suspect", got)
	}
}

func TestDetectorEdges(t *testing.T) {
	cfg := DefaultConfig()
	d := NewDetector(cfg)
	p := testPeers(t, 1)[0]
	if got := d.Phi(p, t0); got != 0 {
		t.Fatalf("unknown peer phi %v, want 0", got)
	}
	d.Heartbeat(p, t0)
	d.Heartbeat(p, t0.Add(-time.Hour)) // clock stepped back: no negative sample
	d.Heartbeat(p, t0.Add(time.Second-time.Hour))
	for _, el := range []time.Duration{0, time.Minute, 24 * time.Hour, 100 * 365 * 24 * time.Hour} {
		got := d.Phi(p, t0.Add(el))
		if math.IsNaN(got) || math.IsInf(got, 0) || got < 0 {
			t.Fatalf("phi after %s = %v; want finite, non-negative", el, got)
		}
	}
	if d.Phi(p, t0.Add(time.Minute)) < cfg.FailPhi {
		t.Fatal("a minute of silence did not reach FailPhi")
	}
	d.Forget(p)
	if got := d.Phi(p, t0.Add(time.Hour)); got != 0 {
		t.Fatalf("forgotten peer phi %v, want 0", got)
	}
}
