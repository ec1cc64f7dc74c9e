package admission

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"
)

// chain is a Source whose node list the test sets.
type chain struct {
	mu     sync.Mutex
	height int64
	answer string
	err    error
	asked  int
}

func (c *chain) Nodes(context.Context) (int64, []byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.asked++
	return c.height, []byte(c.answer), c.err
}

func (c *chain) set(height int64, nodes ...peer.ID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.height = height
	var parts []string
	for _, p := range nodes {
		parts = append(parts, fmt.Sprintf(`{"peer_id":%q,"stake":1,"status":"active"}`, p.String()))
	}
	c.answer = "[" + strings.Join(parts, ",") + "]"
}

func TestWatcherFollowsNewBlocks(t *testing.T) {
	p := peers(t, 2)
	src := &chain{}
	src.set(1, p[0])
	heights := make(chan int64) // unbuffered: a send returns once the loop took the height
	changes := make(chan Change, 8)
	reg := prometheus.NewRegistry()
	w, err := NewWatcher(DefaultConfig(), src, heights, func(c Change) { changes <- c }, reg, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := <-changes; len(got.Admitted) != 1 || got.Admitted[0] != p[0] {
		t.Fatalf("first refresh: %+v", got)
	}
	if !w.Admitted(p[0]) || w.Admitted(p[1]) {
		t.Fatal("wrong admission after the first refresh")
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { w.Close() })

	// A new block with the same node list applies nothing.
	heights <- 2
	heights <- 3 // taken once the refresh for 2 is done
	src.set(4, p[0], p[1])
	heights <- 4
	got := <-changes
	if len(got.Admitted) != 1 || got.Admitted[0] != p[1] || got.Height != 4 {
		t.Fatalf("registration of p1: %+v", got)
	}
	if !w.Admitted(p[1]) {
		t.Fatal("p1 not admitted after its registration")
	}
	if n := testutil.ToFloat64(w.m.refreshes.WithLabelValues("unchanged")); n < 1 {
		t.Fatalf("unchanged refreshes = %v, want at least one skipped", n)
	}
	if n := testutil.ToFloat64(w.m.admitted); n != 2 {
		t.Fatalf("registered peers gauge = %v, want 2", n)
	}

	src.set(5, p[1])
	heights <- 5
	got = <-changes
	if len(got.Ended) != 1 || got.Ended[0] != p[0] {
		t.Fatalf("end of p0: %+v", got)
	}
	if d := w.Place(p[0]); d.Placement != Ended {
		t.Fatalf("p0 placement %s, want ended", d.Placement)
	}
	if !w.Ignore(p[0]) || w.Ignore(p[1]) {
		t.Fatal("Ignore wrong")
	}
	if n := testutil.ToFloat64(w.m.ignored); n != 1 {
		t.Fatalf("ignored announcements = %v, want 1", n)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal("second close:", err)
	}
	if err := w.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("start after close: %v", err)
	}
}

func TestWatcherBadAnswers(t *testing.T) {
	p := peers(t, 1)
	src := &chain{}
	src.set(1, p[0])
	w, err := NewWatcher(DefaultConfig(), src, nil, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	// The chain fails, then answers garbage: the last good list stays.
	src.err = errors.New("query failed")
	if _, err := w.Refresh(t.Context()); err == nil || !strings.Contains(err.Error(), "query failed") {
		t.Fatalf("failed query: %v", err)
	}
	src.err, src.answer = nil, `{"not":"a list"}`
	if _, err := w.Refresh(t.Context()); !errors.Is(err, ErrMalformed) {
		t.Fatalf("garbage answer: %v", err)
	}
	if !w.Admitted(p[0]) {
		t.Fatal("a bad answer dropped the last good registry")
	}
	if _, err := NewWatcher(DefaultConfig(), nil, nil, nil, nil, nil); err == nil {
		t.Fatal("a closed watcher without a source was built")
	}
	if _, err := NewWatcher(Config{}, src, nil, nil, nil, nil); err == nil {
		t.Fatal("a zero config was accepted")
	}
}

func TestWatcherOpenNeverAsks(t *testing.T) {
	src := &chain{}
	cfg := DefaultConfig()
	cfg.Open = true
	heights := make(chan int64, 1)
	w, err := NewWatcher(cfg, src, heights, nil, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Start(t.Context()); err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	if _, err := w.Refresh(t.Context()); err != nil {
		t.Fatal(err)
	}
	p := peers(t, 1)[0]
	if !w.Admitted(p) || w.Ignore(p) {
		t.Fatal("an open chain refused a peer")
	}
	if src.asked != 0 {
		t.Fatalf("an open chain was asked for its node list %d times", src.asked)
	}
}
