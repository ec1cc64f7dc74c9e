package overlay

import (
	"testing"
	"time"

	"github.com/xnode/xnode/block"
)

// TestDropGate: a copy goes only once it has been found droppable, pass
// after pass, for the whole delay; a pass that does not find it droppable
// starts it again, and endPass says how many wait.
func TestDropGate(t *testing.T) {
	a, b := block.NewRaw([]byte("a")).CID, block.NewRaw([]byte("b")).CID
	g := newDropGate(2 * time.Second)
	t0 := time.Unix(1000, 0)

	if g.ready(a, t0) || g.ready(b, t0) {
		t.Fatal("dropped when first found droppable")
	}
	if n := g.endPass(); n != 2 {
		t.Fatalf("waiting %d, want 2", n)
	}
	if g.ready(a, t0.Add(time.Second)) {
		t.Fatal("dropped before the delay")
	}
	// b is not droppable in this pass (the views changed back): it starts again.
	if n := g.endPass(); n != 1 {
		t.Fatalf("waiting %d after b left, want 1", n)
	}
	if !g.ready(a, t0.Add(2*time.Second)) {
		t.Fatal("not dropped once droppable for the whole delay")
	}
	if g.ready(b, t0.Add(2*time.Second)) {
		t.Fatal("b dropped though its run was broken")
	}
	if n := g.endPass(); n != 1 {
		t.Fatalf("waiting %d, want 1 (b)", n)
	}
	if g.ready(b, t0.Add(3*time.Second)) || !g.ready(b, t0.Add(4*time.Second)) {
		t.Fatal("b not held for the delay from its new start, then dropped")
	}
	if n := g.endPass(); n != 0 {
		t.Fatalf("waiting %d after both went, want 0", n)
	}
	if d := dropDelay(300 * time.Millisecond); d != 2*time.Second {
		t.Fatalf("dropDelay(300ms) = %s, want the 2s floor", d)
	}
	if d := dropDelay(3 * time.Second); d != 6*time.Second {
		t.Fatalf("dropDelay(3s) = %s, want twice the settle", d)
	}
}
