package overlay

import (
	"testing"
	"time"
)

func TestSettlingWaitsForQuietWithinLimit(t *testing.T) {
	t0 := time.Unix(1000, 0)
	at := func(ms int) time.Time { return t0.Add(time.Duration(ms) * time.Millisecond) }
	s := settling{quiet: 3 * time.Second, limit: 30 * time.Second}

	// A wave of joins one second apart: each pushes the pass back.
	for i := range 4 {
		if due := s.changed(at(i * 1000)); !due.Equal(at(i*1000 + 3000)) {
			t.Fatalf("change %d: due %v, want quiet after it", i, due.Sub(t0))
		}
	}
	if !s.pending {
		t.Fatal("not pending after changes")
	}
	s.ran()
	if s.pending {
		t.Fatal("still pending after the pass")
	}

	// Changes that never stop: the pass runs at the limit after the first.
	var due time.Time
	for ms := 0; ms <= 40000; ms += 2000 {
		due = s.changed(at(100000 + ms))
		if due.After(at(100000 + 30000)) {
			t.Fatalf("change at +%dms: due %v, later than the limit", ms, due.Sub(at(100000)))
		}
	}
	if !due.Equal(at(130000)) {
		t.Fatalf("due %v after the first change, want the 30s limit", due.Sub(at(100000)))
	}

	// The next wave is timed from its own first change.
	s.ran()
	if due := s.changed(at(200000)); !due.Equal(at(203000)) {
		t.Fatalf("new wave: due %v", due.Sub(at(200000)))
	}
}

func TestSettlingZeroRunsAtOnce(t *testing.T) {
	now := time.Unix(50, 0)
	s := settling{}
	if due := s.changed(now); !due.Equal(now) {
		t.Fatalf("due %v, want now", due)
	}
}
