package storage

import (
	"bufio"
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/ipfs/go-cid"
	"go.uber.org/goleak"

	"github.com/xnode/xnode/block"
)

// procStatus reads memory lines (in KiB) from /proc/self/status.
func procStatus(t *testing.T) map[string]int64 {
	t.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	out := map[string]int64{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		k, v, ok := strings.Cut(sc.Text(), ":")
		if !ok || !strings.HasPrefix(k, "VmRSS") && !strings.HasPrefix(k, "Rss") {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
		if err == nil {
			out[k] = n
		}
	}
	return out
}

func settle() {
	runtime.GC()
	debug.FreeOSMemory()
}

// TestIdleFootprint measures what an open store adds to the process's
// resident memory, empty and after 64 MiB went through it. RssAnon is the
// memory the store really holds; RssFile is mapped value-log and table pages,
// which the kernel can drop at will but VmRSS still counts.
func TestIdleFootprint(t *testing.T) {
	settle()
	before := procStatus(t)
	s, _ := open(t, t.TempDir())
	settle()
	empty := procStatus(t)

	bs := make([]block.Block, 64)
	for i := range bs {
		bs[i] = randBlock(t, block.DefaultChunkSize)
	}
	if err := s.PutMany(context.Background(), bs, false); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs {
		if _, err := s.Get(context.Background(), b.CID); err != nil {
			t.Fatal(err)
		}
	}
	var written []cid.Cid
	for _, b := range bs {
		written = append(written, b.CID)
	}
	bs = nil
	settle()
	used := procStatus(t)

	advised, err := s.releaseMappedPages()
	if err != nil {
		t.Fatal(err)
	}
	released := procStatus(t)

	d := func(m map[string]int64, k string) int64 { return (m[k] - before[k]) / 1024 }
	t.Logf("open empty store adds: VmRSS %+d MiB (RssAnon %+d MiB, RssFile %+d MiB)",
		d(empty, "VmRSS"), d(empty, "RssAnon"), d(empty, "RssFile"))
	t.Logf("after 64 MiB written and read: VmRSS %+d MiB (RssAnon %+d MiB, RssFile %+d MiB)",
		d(used, "VmRSS"), d(used, "RssAnon"), d(used, "RssFile"))
	t.Logf("after releasing %d MiB of value-log mappings: VmRSS %+d MiB (RssAnon %+d MiB, RssFile %+d MiB)",
		advised>>20, d(released, "VmRSS"), d(released, "RssAnon"), d(released, "RssFile"))
	// The released pages read back intact (Get checks them against the CID).
	for _, c := range written {
		if _, err := s.Get(context.Background(), c); err != nil {
			t.Fatalf("get after releasing pages: %v", err)
		}
	}
	if raceEnabled {
		return // the race detector's shadow memory swamps the figures
	}
	// Generous bounds, far under the node's 150 MiB idle budget.
	if d(empty, "RssAnon") > 48 {
		t.Errorf("an empty store holds %d MiB of anonymous memory", d(empty, "RssAnon"))
	}
	if d(used, "RssAnon") > 64 {
		t.Errorf("an idle store holds %d MiB of anonymous memory after 64 MiB of traffic", d(used, "RssAnon"))
	}
	if runtime.GOOS == "linux" && d(released, "RssFile") > 16 {
		t.Errorf("%d MiB of mapped files still resident after releasing value-log pages", d(released, "RssFile"))
	}
}

func TestCloseLeavesNoGoroutines(t *testing.T) {
	defer goleak.VerifyNone(t, goleak.IgnoreCurrent())
	s, err := Open(DefaultConfig(t.TempDir()), nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(context.Background(), randBlock(t, 1<<20), true); err != nil {
		t.Fatal(err)
	}
	if _, err := s.GC(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

// TestConcurrentPutsOfOneBlockCountOnce races writers of the same new CID:
// exactly one may count it.
func TestConcurrentPutsOfOneBlockCountOnce(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir())
	const rounds, writers = 20, 8
	for r := range rounds {
		b := randBlock(t, 100+r)
		start := make(chan struct{})
		var wg sync.WaitGroup
		errs := make([]error, writers)
		for w := range writers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				<-start
				errs[w] = s.Put(ctx, b, w%2 == 0)
			}()
		}
		close(start)
		wg.Wait()
		for _, err := range errs {
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	if u := s.Usage(); u.Blocks != rounds {
		t.Fatalf("usage %+v after %d blocks each put %d times at once", u, rounds, writers)
	}
	if u := indexUsage(t, s); u != s.Usage() {
		t.Fatalf("index %+v, counters %+v", u, s.Usage())
	}
}
