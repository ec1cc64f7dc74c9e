package restore_test

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/ipfs/go-cid"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	tu "github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/restore"
	"github.com/xnode/xnode/storage"
)

// owner is another owner: it serves the blocks it has, after failing the
// first fails fetches of each, and counts the fetches.
type owner struct {
	mu      sync.Mutex
	blocks  map[cid.Cid][]byte
	fails   int
	fetches map[cid.Cid]int
	wrong   bool // serve wrong bytes
}

func (o *owner) FetchBlock(_ context.Context, c cid.Cid) (block.Block, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.fetches[c]++
	if o.fetches[c] <= o.fails {
		return block.Block{}, fmt.Errorf("no member answered: %w", xnode.ErrUnavailable)
	}
	d, ok := o.blocks[c]
	if !ok {
		return block.Block{}, xnode.ErrNotFound
	}
	if o.wrong {
		d = append([]byte("x"), d...)
	}
	return block.Block{CID: c, Data: d}, nil
}

func (o *owner) count(c cid.Cid) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.fetches[c]
}

func newOwner(bs ...block.Block) *owner {
	o := &owner{blocks: map[cid.Cid][]byte{}, fetches: map[cid.Cid]int{}}
	for _, b := range bs {
		o.blocks[b.CID] = b.Data
	}
	return o
}

func randBlock(n int) block.Block {
	d := make([]byte, n)
	rand.Read(d)
	return block.NewRaw(d)
}

func setup(t *testing.T, src restore.Fetcher, edit func(*restore.Config)) (*restore.Restorer, *storage.Store, *prometheus.Registry) {
	t.Helper()
	s, err := storage.Open(storage.DefaultConfig(t.TempDir()), nil, tu.Logger("store"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	cfg := restore.DefaultConfig()
	cfg.FirstRetry, cfg.MaxRetry = 10*time.Millisecond, 40*time.Millisecond
	if edit != nil {
		edit(&cfg)
	}
	reg := prometheus.NewRegistry()
	r, err := restore.New(cfg, s, src, reg, tu.Logger("restore"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r, s, reg
}

func held(t *testing.T, s *storage.Store, b block.Block) bool {
	got, err := s.Get(context.Background(), b.CID)
	return err == nil && string(got.Data) == string(b.Data)
}

func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	n, err := testutil.GatherAndCount(reg, name)
	if err != nil || n != 1 {
		t.Fatalf("metric %s: %d, %v", name, n, err)
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == name {
			m := mf.GetMetric()[0]
			if m.Counter != nil {
				return m.Counter.GetValue()
			}
			return m.Gauge.GetValue()
		}
	}
	return 0
}

// TestRestoresReportedBlocks: blocks reported before Start wait, and are
// fetched and stored once it runs, also those whose first fetches fail (as
// they do while a restarted node has not heard its members yet).
func TestRestoresReportedBlocks(t *testing.T) {
	a, b := randBlock(1000), randBlock(2000)
	o := newOwner(a, b)
	o.fails = 3
	r, s, reg := setup(t, o, nil)
	r.Report(a.CID)
	r.Report(b.CID)
	r.Report(a.CID) // once is enough
	r.Report(cid.Undef)
	if r.Pending() != 2 || o.count(a.CID) != 0 {
		t.Fatalf("before Start: %d pending, %d fetches", r.Pending(), o.count(a.CID))
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	tu.Eventually(t, 10*time.Second, func() bool { return held(t, s, a) && held(t, s, b) && r.Pending() == 0 },
		"reported blocks not restored")
	if got := o.count(a.CID); got != 4 {
		t.Fatalf("%d fetches of a, want 4 (3 failed)", got)
	}
	if v := metric(t, reg, "xnode_restore_restored_total"); v != 2 {
		t.Fatalf("restored = %v", v)
	}
	if v := metric(t, reg, "xnode_restore_pending_blocks"); v != 0 {
		t.Fatalf("pending = %v", v)
	}
	// A block already held again is not fetched.
	r.Report(a.CID)
	tu.Eventually(t, 10*time.Second, func() bool { return r.Pending() == 0 }, "held block still pending")
	if got := o.count(a.CID); got != 4 {
		t.Fatalf("a held block was fetched again (%d fetches)", got)
	}
}

// TestWrongBytesAreNotStored: a copy that does not match is never stored,
// and after GiveUp the block is left alone.
func TestWrongBytesAreNotStoredAndGivesUp(t *testing.T) {
	a := randBlock(1000)
	o := newOwner(a)
	o.wrong = true
	r, s, reg := setup(t, o, func(c *restore.Config) { c.GiveUp = 100 * time.Millisecond })
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	r.Report(a.CID)
	tu.Eventually(t, 10*time.Second, func() bool { return metric(t, reg, "xnode_restore_gave_up_total") == 1 },
		"did not give up")
	if r.Pending() != 0 || o.count(a.CID) < 2 {
		t.Fatalf("%d pending, %d fetches", r.Pending(), o.count(a.CID))
	}
	if ok, _ := s.Has(context.Background(), a.CID); ok {
		t.Fatal("wrong bytes stored")
	}
}

func TestBadInputAndLifecycle(t *testing.T) {
	s, err := storage.Open(storage.DefaultConfig(t.TempDir()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	for field, edit := range map[string]func(*restore.Config){
		"Concurrency":    func(c *restore.Config) { c.Concurrency = 0 },
		"FirstRetry":     func(c *restore.Config) { c.FirstRetry = 0 },
		"MaxRetry":       func(c *restore.Config) { c.MaxRetry = c.FirstRetry / 2 },
		"GiveUp":         func(c *restore.Config) { c.GiveUp = -1 },
		"AttemptTimeout": func(c *restore.Config) { c.AttemptTimeout = 0 },
	} {
		cfg := restore.DefaultConfig()
		edit(&cfg)
		_, err := restore.New(cfg, s, newOwner(), nil, nil)
		if !errors.Is(err, restore.ErrConfig) || !errors.Is(err, xnode.ErrInvalidArgument) || !strings.Contains(err.Error(), field+" = ") {
			t.Errorf("%s: %v", field, err)
		}
	}
	if _, err := restore.New(restore.DefaultConfig(), nil, newOwner(), nil, nil); !errors.Is(err, restore.ErrConfig) {
		t.Errorf("nil store: %v", err)
	}
	if _, err := restore.New(restore.DefaultConfig(), s, nil, nil, nil); !errors.Is(err, restore.ErrConfig) {
		t.Errorf("nil fetcher: %v", err)
	}
	r, err := restore.New(restore.DefaultConfig(), s, newOwner(), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := r.Start(context.Background()); err == nil {
		t.Error("second Start")
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	r2, _ := restore.New(restore.DefaultConfig(), s, newOwner(), nil, nil)
	r2.Close()
	if err := r2.Start(context.Background()); err == nil {
		t.Error("Start after Close")
	}
}
