//go:build linux

package storage

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/xnode/xnode/block"
	xtest "github.com/xnode/xnode/internal/testutil"
)

// cachedVlogBytes is how much of the segment files in dir (the block
// bytes) is in the page cache.
func cachedVlogBytes(t *testing.T, dir string) int64 {
	t.Helper()
	names, err := filepath.Glob(filepath.Join(dir, segmentDir, "*"+segmentSuffix))
	if err != nil {
		t.Fatal(err)
	}
	var n int64
	for _, name := range names {
		f, err := os.Open(name)
		if err != nil {
			t.Fatal(err)
		}
		st, err := f.Stat()
		if err == nil && st.Size() > 0 {
			var vec []byte
			if vec, err = residency(f, 0, st.Size()); err == nil {
				n += int64(cachedPages(vec)) * int64(os.Getpagesize())
			}
		}
		f.Close()
		if err != nil {
			t.Fatal(err)
		}
	}
	return n
}

func TestDropWrittenPages(t *testing.T) {
	ctx := context.Background()
	const wb, total = 1 << 20, 24 << 20
	dropDir, keepDir := t.TempDir(), t.TempDir()
	drop, dropReg := open(t, dropDir, func(c *Config) { c.WriteBehind = wb })
	keep, keepReg := open(t, keepDir, func(c *Config) { c.WriteBehind = wb; c.DropWritten = false })
	for _, s := range []*Store{drop, keep} {
		if err := s.Start(ctx); err != nil {
			t.Fatal(err)
		}
	}
	put := func(n int) []block.Block {
		var bs []block.Block
		for range n {
			b := randBlock(t, 256<<10)
			bs = append(bs, b)
			for _, s := range []*Store{drop, keep} {
				if err := s.Put(ctx, b, true); err != nil {
					t.Fatal(err)
				}
			}
		}
		return bs
	}
	dropped := func() float64 { return metric(t, dropReg, "xnode_storage_dropped_page_bytes_total") }

	written := put(total / (256 << 10))
	xtest.Eventually(t, 10*time.Second, func() bool { return dropped() >= total-4*wb },
		"written pages were not dropped")
	if got := cachedVlogBytes(t, dropDir); got > 4*wb {
		t.Fatalf("%d bytes of the value log still cached after writing %d with dropping on", got, total)
	}
	// The same writes without dropping stay cached (this machine is not
	// short of memory), which is what the bound above is checked against.
	if got := cachedVlogBytes(t, keepDir); got < total-wb {
		t.Fatalf("only %d of %d written bytes cached with dropping off", got, total)
	}
	if v := metric(t, keepReg, "xnode_storage_dropped_page_bytes_total"); v != 0 {
		t.Fatalf("store with dropping off dropped %v bytes", v)
	}

	// Dropped pages read back from the disk, verified.
	for _, b := range written {
		got, err := drop.Get(ctx, b.CID)
		if err != nil || !bytes.Equal(got.Data, b.Data) {
			t.Fatalf("block %s after its pages were dropped: %v", b.CID, err)
		}
	}
	// Pages cached by those reads stay through the passes that drop later
	// writes.
	read := cachedVlogBytes(t, dropDir)
	if read < total-wb {
		t.Fatalf("reading %d bytes back cached only %d", total, read)
	}
	before := dropped()
	put(8 * wb / (256 << 10))
	xtest.Eventually(t, 10*time.Second, func() bool { return dropped() >= before+4*wb },
		"later writes were not dropped")
	// The pages written after the last pass of the first writes (under one
	// WriteBehind) were never dropped; the next pass drops them even though
	// they were read since. Every page before them stays.
	if got := cachedVlogBytes(t, dropDir); got < read-2*wb {
		t.Fatalf("cached value log fell from %d to %d bytes: pages cached by reads were dropped", read, got)
	}
}
