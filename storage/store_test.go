package storage

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"
	mh "github.com/multiformats/go-multihash"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	xtest "github.com/xnode/xnode/internal/testutil"
)

// testClock is a settable clock for Config.Now.
type testClock struct{ nanos atomic.Int64 }

func newClock() *testClock {
	c := &testClock{}
	c.nanos.Store(time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *testClock) Now() time.Time          { return time.Unix(0, c.nanos.Load()) }
func (c *testClock) Advance(d time.Duration) { c.nanos.Add(int64(d)) }

func open(t testing.TB, dir string, edit ...func(*Config)) (*Store, *prometheus.Registry) {
	t.Helper()
	cfg := DefaultConfig(dir)
	for _, e := range edit {
		e(&cfg)
	}
	reg := prometheus.NewRegistry()
	s, err := Open(cfg, reg, xtest.Logger(t.Name()))
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s, reg
}

func randBlock(t testing.TB, n int) block.Block {
	t.Helper()
	data := make([]byte, n)
	rand.Read(data)
	return block.NewRaw(data)
}

// gauge reads one unlabelled metric from reg by name.
func metric(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		m := mf.GetMetric()[0]
		if m.Counter != nil {
			return m.Counter.GetValue()
		}
		return m.Gauge.GetValue()
	}
	t.Fatalf("metric %s not registered", name)
	return 0
}

func wantUsage(t *testing.T, s *Store, blocks, bytes int64) {
	t.Helper()
	if u := s.Usage(); u.Blocks != blocks || u.Bytes != bytes {
		t.Fatalf("usage %+v, want {Blocks:%d Bytes:%d}", u, blocks, bytes)
	}
}

// indexUsage sums the index through ForEach, independently of the counters.
func indexUsage(t *testing.T, s *Store) Usage {
	t.Helper()
	var u Usage
	if err := s.ForEach(context.Background(), func(_ cid.Cid, size int) error {
		u.Blocks++
		u.Bytes += int64(size)
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	return u
}

func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	s, reg := open(t, t.TempDir())
	a, b, c := randBlock(t, 1<<20), randBlock(t, 100), randBlock(t, 5000)
	missing := randBlock(t, 10)
	if err := s.Put(ctx, a, false); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany(ctx, []block.Block{b, c}, true); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 3, 1<<20+100+5000)
	for _, want := range []block.Block{a, b, c} {
		got, err := s.Get(ctx, want.CID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.CID.Equals(want.CID) || !bytes.Equal(got.Data, want.Data) {
			t.Fatalf("get %s: wrong block", want.CID)
		}
		n, err := s.Size(ctx, want.CID)
		if err != nil || n != len(want.Data) {
			t.Fatalf("size %s = %d, %v; want %d", want.CID, n, err, len(want.Data))
		}
	}
	has, err := s.HasMany(ctx, []cid.Cid{a.CID, missing.CID, c.CID})
	if err != nil || fmt.Sprint(has) != "[true false true]" {
		t.Fatalf("HasMany = %v, %v", has, err)
	}
	if _, err := s.Get(ctx, missing.CID); !errors.Is(err, ErrNotFound) || !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := s.Size(ctx, missing.CID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("size missing: %v", err)
	}

	// ForEach walks in CID byte order with the right sizes.
	var seen []string
	sizes := map[string]int{}
	if err := s.ForEach(ctx, func(c cid.Cid, size int) error {
		seen = append(seen, string(c.Bytes()))
		sizes[c.String()] = size
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if len(seen) != 3 || !(seen[0] < seen[1] && seen[1] < seen[2]) {
		t.Fatalf("ForEach visited %d keys, not in order", len(seen))
	}
	for _, blk := range []block.Block{a, b, c} {
		if sizes[blk.CID.String()] != len(blk.Data) {
			t.Fatalf("ForEach size of %s = %d", blk.CID, sizes[blk.CID.String()])
		}
	}

	// Putting what is there changes nothing; deleting what is not neither.
	if err := s.PutMany(ctx, []block.Block{a, b, a}, false); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 3, 1<<20+100+5000)
	if err := s.Delete(ctx, missing.CID); err != nil {
		t.Fatalf("delete missing: %v", err)
	}
	wantUsage(t, s, 3, 1<<20+100+5000)
	if err := s.Delete(ctx, a.CID); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, a.CID); err != nil {
		t.Fatalf("delete twice: %v", err)
	}
	wantUsage(t, s, 2, 5100)
	if ok, err := s.Has(ctx, a.CID); ok || err != nil {
		t.Fatalf("has deleted = %v, %v", ok, err)
	}
	if _, err := s.Get(ctx, a.CID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("get deleted: %v", err)
	}
	if got := metric(t, reg, "xnode_storage_blocks"); got != 2 {
		t.Fatalf("xnode_storage_blocks = %v", got)
	}
	if got := metric(t, reg, "xnode_storage_bytes"); got != 5100 {
		t.Fatalf("xnode_storage_bytes = %v", got)
	}
	if u := indexUsage(t, s); u != s.Usage() {
		t.Fatalf("index says %+v, counters %+v", u, s.Usage())
	}
}

func TestReopenKeepsDataUsageAndState(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	clock := newClock()
	withClock := func(c *Config) { c.Now = clock.Now }
	s, _ := open(t, dir, withClock)
	keep, gone, tent := randBlock(t, 1<<20), randBlock(t, 300), randBlock(t, 2000)
	if err := s.PutMany(ctx, []block.Block{keep, gone}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, tent, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, gone.CID); err != nil {
		t.Fatal(err)
	}
	before := s.Usage()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	s2, reg := open(t, dir, withClock)
	if s2.Usage() != before || before != (Usage{2, 1<<20 + 2000}) {
		t.Fatalf("usage after reopen %+v, before %+v", s2.Usage(), before)
	}
	if got := metric(t, reg, "xnode_storage_bytes"); got != float64(before.Bytes) {
		t.Fatalf("bytes gauge after reopen = %v", got)
	}
	got, err := s2.Get(ctx, keep.CID)
	if err != nil || !bytes.Equal(got.Data, keep.Data) {
		t.Fatalf("get after reopen: %v", err)
	}
	if ok, _ := s2.Has(ctx, gone.CID); ok {
		t.Fatal("deleted block came back")
	}
	// The tentative mark survived too: GC past the grace removes it.
	clock.Advance(DefaultTentativeGrace + time.Second)
	res, err := s2.GC(ctx)
	if err != nil || res.Removed != 1 || res.Bytes != 2000 {
		t.Fatalf("gc after reopen = %+v, %v", res, err)
	}
	wantUsage(t, s2, 1, 1<<20)
}

func TestPutRejectsMismatch(t *testing.T) {
	ctx := context.Background()
	s, reg := open(t, t.TempDir())
	good := randBlock(t, 1000)
	bad := randBlock(t, 1000)
	bad.Data = append([]byte{}, bad.Data...)
	bad.Data[10] ^= 1

	err := s.Put(ctx, bad, false)
	if !errors.Is(err, block.ErrMismatch) || !errors.Is(err, xnode.ErrIntegrity) {
		t.Fatalf("put of a mismatched block: %v", err)
	}
	// A batch with one bad block stores nothing at all.
	if err := s.PutMany(ctx, []block.Block{good, good, bad, good}, false); !errors.Is(err, block.ErrMismatch) {
		t.Fatalf("put many with a mismatched block: %v", err)
	}
	has, err := s.HasMany(ctx, []cid.Cid{good.CID, bad.CID})
	if err != nil || has[0] || has[1] {
		t.Fatalf("after refused puts: has %v, %v", has, err)
	}
	wantUsage(t, s, 0, 0)
	if got := metric(t, reg, "xnode_storage_integrity_failures_total"); got != 2 {
		t.Fatalf("integrity failures = %v, want 2", got)
	}
	// The store goes on working.
	if err := s.Put(ctx, good, false); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 1, 1000)
}

// flipStoredByte corrupts the stored copy of c on disk, as a disk fault
// would.
func flipStoredByte(t *testing.T, s *Store, c cid.Cid, at int) {
	t.Helper()
	path, off, _, err := s.Locate(context.Background(), c)
	if err != nil {
		t.Fatal(err)
	}
	xtest.FlipByteAt(t, path, off+int64(at))
}

func TestGetDropsCorruptCopy(t *testing.T) {
	ctx := context.Background()
	for _, size := range []int{1 << 20, 200} { // value log and inline in the LSM tree
		t.Run(fmt.Sprint(size), func(t *testing.T) {
			s, reg := open(t, t.TempDir())
			b, other := randBlock(t, size), randBlock(t, 64)
			if err := s.PutMany(ctx, []block.Block{b, other}, false); err != nil {
				t.Fatal(err)
			}
			flipStoredByte(t, s, b.CID, size/2)

			got, err := s.Get(ctx, b.CID)
			if !errors.Is(err, xnode.ErrIntegrity) || !errors.Is(err, block.ErrMismatch) {
				t.Fatalf("get of a corrupt copy: %v", err)
			}
			if got.Data != nil {
				t.Fatal("wrong bytes returned")
			}
			if v := testutil.ToFloat64(s.m.integrityFailures); v != 1 {
				t.Fatalf("integrity failures = %v, want 1", v)
			}
			if v := metric(t, reg, "xnode_storage_integrity_failures_total"); v != 1 {
				t.Fatalf("registered integrity failures = %v, want 1", v)
			}
			if ok, err := s.Has(ctx, b.CID); ok || err != nil {
				t.Fatalf("bad copy still held: %v, %v", ok, err)
			}
			if _, err := s.Get(ctx, b.CID); !errors.Is(err, ErrNotFound) {
				t.Fatalf("second get: %v", err)
			}
			wantUsage(t, s, 1, 64)
			// A good copy can be stored again.
			if err := s.Put(ctx, b, false); err != nil {
				t.Fatal(err)
			}
			if got, err := s.Get(ctx, b.CID); err != nil || !bytes.Equal(got.Data, b.Data) {
				t.Fatalf("get after re-put: %v", err)
			}
		})
	}
}

func TestOrphanGC(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	s, reg := open(t, t.TempDir(), func(c *Config) { c.Now = clock.Now })
	grace := DefaultTentativeGrace
	orphan := randBlock(t, 1<<20)  // tentative, never confirmed
	kept := randBlock(t, 100)      // stored confirmed
	confirmed := randBlock(t, 200) // tentative, then confirmed
	sticky := randBlock(t, 300)    // confirmed, then put tentatively again
	refreshed := randBlock(t, 400) // tentative, put tentatively again later
	young := randBlock(t, 500)     // tentative, put later

	if err := s.PutMany(ctx, []block.Block{orphan, confirmed, refreshed}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.PutMany(ctx, []block.Block{kept, sticky}, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, sticky, true); err != nil {
		t.Fatal(err)
	}
	// A CID not held fails the confirm, and the held ones are confirmed
	// all the same.
	unknown := randBlock(t, 1).CID
	if err := s.Confirm(ctx, []cid.Cid{confirmed.CID, unknown, cid.Undef}); !errors.Is(err, xnode.ErrNotFound) || !strings.Contains(err.Error(), unknown.String()) {
		t.Fatalf("confirm with a CID not held: %v", err)
	}
	clock.Advance(grace / 2)
	if err := s.PutMany(ctx, []block.Block{young, refreshed}, true); err != nil {
		t.Fatal(err)
	}
	clock.Advance(grace/2 + time.Second) // the first batch is now past the grace

	res, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Removed != 1 || res.Bytes != 1<<20 {
		t.Fatalf("gc = %+v, want the one orphan", res)
	}
	has, _ := s.HasMany(ctx, []cid.Cid{orphan.CID, kept.CID, confirmed.CID, sticky.CID, refreshed.CID, young.CID})
	if fmt.Sprint(has) != "[false true true true true true]" {
		t.Fatalf("after gc: has %v", has)
	}
	if v := metric(t, reg, "xnode_storage_gc_removed_total"); v != 1 {
		t.Fatalf("gc removed metric = %v", v)
	}
	wantUsage(t, s, 5, 100+200+300+400+500)

	// Later the young ones expire too; confirmed ones never do.
	clock.Advance(grace)
	res, err = s.GC(ctx)
	if err != nil || res.Removed != 2 || res.Bytes != 900 {
		t.Fatalf("second gc = %+v, %v", res, err)
	}
	has, _ = s.HasMany(ctx, []cid.Cid{kept.CID, confirmed.CID, sticky.CID, refreshed.CID, young.CID})
	if fmt.Sprint(has) != "[true true true false false]" {
		t.Fatalf("after second gc: has %v", has)
	}
	wantUsage(t, s, 3, 600)
	if u := indexUsage(t, s); u != s.Usage() {
		t.Fatalf("index says %+v, counters %+v", u, s.Usage())
	}
	// A non-tentative put confirms a tentative block.
	late := randBlock(t, 10)
	if err := s.Put(ctx, late, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, late, false); err != nil {
		t.Fatal(err)
	}
	clock.Advance(2 * grace)
	if res, err := s.GC(ctx); err != nil || res.Removed != 0 {
		t.Fatalf("gc after confirming put = %+v, %v", res, err)
	}
}

func TestGCLoopAndClose(t *testing.T) {
	ctx := context.Background()
	clock := newClock()
	s, _ := open(t, t.TempDir(), func(c *Config) {
		c.Now = clock.Now
		c.GCInterval = 10 * time.Millisecond
	})
	if err := s.PutMany(ctx, []block.Block{randBlock(t, 10), randBlock(t, 20)}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if err := s.Start(ctx); err == nil {
		t.Fatal("second Start succeeded")
	}
	clock.Advance(2 * DefaultTentativeGrace)
	xtest.Eventually(t, 10*time.Second, func() bool { return s.Usage().Blocks == 0 }, "gc loop did not remove orphans")

	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second close: %v", err)
	}
	b := randBlock(t, 10)
	for name, err := range map[string]error{
		"put":    s.Put(ctx, b, false),
		"get":    func() error { _, err := s.Get(ctx, b.CID); return err }(),
		"has":    func() error { _, err := s.Has(ctx, b.CID); return err }(),
		"gc":     func() error { _, err := s.GC(ctx); return err }(),
		"start":  s.Start(ctx),
		"each":   s.ForEach(ctx, func(cid.Cid, int) error { return nil }),
		"delete": s.Delete(ctx, b.CID),
	} {
		if !errors.Is(err, ErrClosed) {
			t.Errorf("%s after close: %v, want ErrClosed", name, err)
		}
	}
}

// TestWriteBehind checks that tentative writes past Config.WriteBehind get
// synced in the background, that the blocks stay readable through it (the
// value-log pages it unmaps stay in the page cache), and that a store with
// write-behind off never syncs on its own.
func TestWriteBehind(t *testing.T) {
	ctx := context.Background()
	s, reg := open(t, t.TempDir(), func(c *Config) { c.WriteBehind = 1 << 20 })
	off, offReg := open(t, t.TempDir(), func(c *Config) { c.WriteBehind = 0 })
	for _, st := range []*Store{s, off} {
		if err := st.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	var bs []block.Block
	for range 3 {
		b := randBlock(t, 512<<10)
		bs = append(bs, b)
		for _, st := range []*Store{s, off} {
			if err := st.Put(ctx, b, true); err != nil {
				t.Fatal(err)
			}
		}
	}
	xtest.Eventually(t, 10*time.Second, func() bool {
		return metric(t, reg, "xnode_storage_background_syncs_total") >= 1
	}, "no background sync after 1.5 MiB of tentative writes")
	for _, b := range bs {
		got, err := s.Get(ctx, b.CID)
		if err != nil || !bytes.Equal(got.Data, b.Data) {
			t.Fatalf("block %s after a background sync: %v", b.CID, err)
		}
	}
	// The other store saw the same writes; its loop has had as long.
	if v := metric(t, offReg, "xnode_storage_background_syncs_total"); v != 0 {
		t.Fatalf("store with write-behind off synced in the background %v times", v)
	}
}

func TestStartStopsWithContext(t *testing.T) {
	s, _ := open(t, "", func(c *Config) { c.InMemory = true; c.GCInterval = time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	cancel()
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("gc loop did not stop when its context ended")
	}
	// In memory mode GC skips the value log and still works.
	if _, err := s.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
}

func TestConcurrentPutGetDelete(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir())
	// A small shared pool, so goroutines race on the same CIDs.
	pool := make([]block.Block, 24)
	for i := range pool {
		pool[i] = randBlock(t, 1000+i*3000)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 16)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range 60 {
				b := pool[(g*7+i)%len(pool)]
				var err error
				switch i % 5 {
				case 0, 1:
					err = s.Put(ctx, b, i%2 == 0)
				case 2:
					err = s.PutMany(ctx, []block.Block{b, pool[(i+3)%len(pool)]}, false)
				case 3:
					var got block.Block
					got, err = s.Get(ctx, b.CID)
					if errors.Is(err, ErrNotFound) {
						err = nil
					} else if err == nil && !bytes.Equal(got.Data, b.Data) {
						err = fmt.Errorf("get %s: wrong bytes", b.CID)
					}
				case 4:
					if g%2 == 0 {
						err = s.Delete(ctx, b.CID)
					} else {
						_, err = s.Has(ctx, b.CID)
					}
				}
				if err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	if u := indexUsage(t, s); u != s.Usage() {
		t.Fatalf("after concurrent use the index says %+v, the counters %+v", u, s.Usage())
	}
	_, err := s.GC(ctx)
	if err != nil {
		t.Fatal(err)
	}
}

func TestForEachPagesAndStops(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir())
	n := forEachPage*2 + 7
	bs := make([]block.Block, n)
	for i := range bs {
		bs[i] = randBlock(t, 8+i%5)
	}
	if err := s.PutMany(ctx, bs, false); err != nil {
		t.Fatal(err)
	}
	var prev []byte
	count := 0
	if err := s.ForEach(ctx, func(c cid.Cid, size int) error {
		k := c.Bytes()
		if prev != nil && bytes.Compare(prev, k) >= 0 {
			return fmt.Errorf("out of order at %d", count)
		}
		prev = k
		count++
		// Deleting while walking is allowed (repair drops copies).
		if count%100 == 0 {
			return s.Delete(ctx, c)
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if count != n {
		t.Fatalf("visited %d of %d", count, n)
	}
	wantUsage(t, s, int64(n-n/100), s.Usage().Bytes)
	if u := indexUsage(t, s); u != s.Usage() {
		t.Fatalf("index %+v, counters %+v", u, s.Usage())
	}
	stop := errors.New("stop")
	calls := 0
	err := s.ForEach(ctx, func(cid.Cid, int) error {
		calls++
		if calls == 10 {
			return stop
		}
		return nil
	})
	if !errors.Is(err, stop) || calls != 10 {
		t.Fatalf("ForEach returned %v after %d calls", err, calls)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.ForEach(cctx, func(cid.Cid, int) error { return nil }); !errors.Is(err, context.Canceled) {
		t.Fatalf("ForEach with a cancelled context: %v", err)
	}
}

func TestBadInput(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir())
	v0, _ := cid.Decode("QmYwAPJzv5CZsnA625s3Xf2nemtYgPpHdWEz79ojWnPbdG")
	sha1, _ := mh.Sum([]byte("x"), mh.SHA1, -1)
	notSha256 := cid.NewCidV1(cid.Raw, sha1)
	for _, c := range []cid.Cid{cid.Undef, v0, notSha256} {
		if _, err := s.Get(ctx, c); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("get %v: %v", c, err)
		}
		if _, err := s.Has(ctx, c); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("has %v: %v", c, err)
		}
		if _, err := s.Size(ctx, c); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("size %v: %v", c, err)
		}
		if err := s.Delete(ctx, c); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("delete %v: %v", c, err)
		}
		if err := s.Put(ctx, block.Block{CID: c, Data: []byte("x")}, false); !errors.Is(err, xnode.ErrInvalidArgument) {
			t.Errorf("put %v: %v", c, err)
		}
	}
	big := randBlock(t, block.MaxChunkSize+1)
	if err := s.Put(ctx, big, false); !errors.Is(err, xnode.ErrTooLarge) {
		t.Errorf("put of an oversized block: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(cctx, randBlock(t, 1), false); !errors.Is(err, context.Canceled) {
		t.Errorf("put with a cancelled context: %v", err)
	}
	// A blob's root block is stored like any other.
	rootData := randBlock(t, 10).Data
	mb := block.Block{CID: block.Sum(block.CodecManifest, rootData), Data: rootData}
	if err := s.Put(ctx, mb, false); err != nil {
		t.Fatal(err)
	}
	if got, err := s.Get(ctx, mb.CID); err != nil || !block.IsManifest(got.CID) {
		t.Fatalf("get manifest: %v", err)
	}
	wantUsage(t, s, 1, int64(len(mb.Data)))
	// Garbage written around the store does not stop ForEach or GC.
	if err := s.DB().Update(func(txn *badger.Txn) error {
		if err := txn.Set([]byte("s/not-a-cid"), []byte{1}); err != nil {
			return err
		}
		return txn.Set(tentativeKey(randBlock(t, 3).CID), []byte("bad"))
	}); err != nil {
		t.Fatal(err)
	}
	if u := indexUsage(t, s); u.Blocks != 1 {
		t.Fatalf("ForEach over garbage: %+v", u)
	}
	if _, err := s.GC(ctx); err != nil {
		t.Fatalf("gc over garbage: %v", err)
	}
}

func TestConfigValidate(t *testing.T) {
	if err := DefaultConfig("/x").Validate(); err != nil {
		t.Fatalf("default config: %v", err)
	}
	mem := DefaultConfig("")
	mem.InMemory = true
	if err := mem.Validate(); err != nil {
		t.Fatalf("in-memory config: %v", err)
	}
	for field, edit := range map[string]func(*Config){
		"Dir":                func(c *Config) { c.Dir = "" },
		"WriteBehind":        func(c *Config) { c.WriteBehind = -1 },
		"TentativeGrace":     func(c *Config) { c.TentativeGrace = 0 },
		"GCInterval":         func(c *Config) { c.GCInterval = -time.Second },
		"MemTableSize":       func(c *Config) { c.MemTableSize = 1 << 20 },
		"NumMemtables":       func(c *Config) { c.NumMemtables = 0 },
		"NumLevelZeroTables": func(c *Config) { c.NumLevelZeroTables = 15 },
		"NumCompactors":      func(c *Config) { c.NumCompactors = 1 },
		"BlockCacheSize":     func(c *Config) { c.BlockCacheSize = -1 },
		"IndexCacheSize":     func(c *Config) { c.IndexCacheSize = -1 },
		"ValueLogFileSize":   func(c *Config) { c.ValueLogFileSize = 1 << 20 },
		"ValueThreshold":     func(c *Config) { c.ValueThreshold = 2 << 20 },
		"SegmentFileSize":    func(c *Config) { c.SegmentFileSize = 1 << 20 },
	} {
		c := DefaultConfig("/x")
		edit(&c)
		err := c.Validate()
		if !errors.Is(err, ErrConfig) || !errors.Is(err, xnode.ErrInvalidArgument) || !strings.Contains(err.Error(), field+" = ") {
			t.Errorf("%s: %v", field, err)
		}
		if _, err := Open(c, nil, nil); !errors.Is(err, ErrConfig) {
			t.Errorf("open with bad %s: %v", field, err)
		}
	}
}

func TestMetricsPerRegistry(t *testing.T) {
	s1, reg := open(t, t.TempDir())
	open(t, t.TempDir()) // a second store on its own registry is fine
	if err := s1.Put(context.Background(), randBlock(t, 10), false); err != nil {
		t.Fatal(err)
	}
	if _, err := Open(DefaultConfig(t.TempDir()), reg, nil); err == nil {
		t.Fatal("two stores registered on one registry")
	}
	// The failed Open left the first store's metrics alone.
	if v := metric(t, reg, "xnode_storage_blocks"); v != 1 {
		t.Fatalf("blocks gauge = %v", v)
	}
	// And nil registers nothing but still works.
	s3, err := Open(DefaultConfig(t.TempDir()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer s3.Close()
	if err := s3.Put(context.Background(), randBlock(t, 10), false); err != nil {
		t.Fatal(err)
	}
}

// TestAbandon: a failed put's tentative copies are deleted at once, and
// nothing else is: not confirmed blocks, not blocks stored confirmed. A put
// of the same bytes whose copy was abandoned finds out at its confirm.
func TestAbandon(t *testing.T) {
	ctx := context.Background()
	s, reg := open(t, t.TempDir())
	loose := randBlock(t, 1<<20) // tentative: abandoned
	loose2 := randBlock(t, 300)  // tentative: abandoned
	settled := randBlock(t, 200) // tentative, then confirmed: kept
	stored := randBlock(t, 100)  // stored confirmed: kept
	if err := s.PutMany(ctx, []block.Block{loose, loose2, settled}, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, stored, false); err != nil {
		t.Fatal(err)
	}
	if err := s.Confirm(ctx, []cid.Cid{settled.CID}); err != nil {
		t.Fatal(err)
	}
	before := s.Usage()
	n, err := s.Abandon(ctx, []cid.Cid{loose.CID, settled.CID, stored.CID, loose2.CID, randBlock(t, 1).CID, cid.Undef})
	if err != nil || n != 2 {
		t.Fatalf("abandon = %d, %v; want the 2 tentative blocks", n, err)
	}
	has, _ := s.HasMany(ctx, []cid.Cid{loose.CID, loose2.CID, settled.CID, stored.CID})
	if fmt.Sprint(has) != "[false false true true]" {
		t.Fatalf("after abandon: has %v", has)
	}
	if u := s.Usage(); u.Blocks != before.Blocks-2 || u.Bytes != before.Bytes-int64(len(loose.Data)+len(loose2.Data)) {
		t.Fatalf("usage %+v after abandon, was %+v", u, before)
	}
	if v := metric(t, reg, "xnode_storage_blocks"); v != float64(before.Blocks-2) {
		t.Fatalf("blocks gauge = %v", v)
	}
	// Another put of loose's bytes, whose tentative copy went with it, is
	// told so when it confirms, rather than counting a copy that is gone.
	if err := s.Confirm(ctx, []cid.Cid{settled.CID, loose.CID}); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("confirm of an abandoned block: %v", err)
	}
	if _, err := s.Abandon(ctx, nil); err != nil {
		t.Fatalf("abandon of nothing: %v", err)
	}
}
