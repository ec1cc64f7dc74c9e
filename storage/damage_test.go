package storage

import (
	"bytes"
	"context"
	"errors"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
	xtest "github.com/xnode/xnode/internal/testutil"
)

// damageLog collects what a store reports to Config.OnDamage.
type damageLog struct {
	mu  sync.Mutex
	got []Damage
}

func (l *damageLog) report(d Damage) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.got = append(l.got, d)
}

func (l *damageLog) cids() []cid.Cid {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []cid.Cid
	for _, d := range l.got {
		out = append(out, d.CID)
	}
	return out
}

// putSeparately stores n blocks of size bytes, each in its own confirmed
// put, so that each is a separate write after the one before.
func putSeparately(t *testing.T, s *Store, n, size int) []block.Block {
	t.Helper()
	var bs []block.Block
	for range n {
		b := randBlock(t, size)
		if err := s.Put(context.Background(), b, false); err != nil {
			t.Fatal(err)
		}
		bs = append(bs, b)
	}
	return bs
}

// wantOnly checks that every block of bs but those in gone reads back
// exact, and that those in gone are not served.
func wantOnly(t *testing.T, s *Store, bs []block.Block, gone map[cid.Cid]bool) {
	t.Helper()
	ctx := context.Background()
	for i, b := range bs {
		got, err := s.Get(ctx, b.CID)
		if gone[b.CID] {
			if err == nil {
				t.Fatalf("block %d: the damaged copy is served", i)
			}
			continue
		}
		if err != nil || !bytes.Equal(got.Data, b.Data) {
			t.Fatalf("block %d of %d after the restart: %v", i, len(bs), err)
		}
	}
}

// TestFlippedByteCostsOnlyItsBlock flips one byte inside one block's bytes
// on disk while the store is closed, wherever the layout keeps them, then
// opens it again. Every other block reads back exact (a value log truncated
// at the damaged entry lost every later block), and the verification pass
// that Start runs finds the damaged block at once, drops it and reports it.
func TestFlippedByteCostsOnlyItsBlock(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := open(t, dir)
	bs := putSeparately(t, s, 48, 256<<10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	victim := bs[10] // with 37 blocks written after it
	xtest.FlipByteInside(t, dir, victim.Data)

	var reports damageLog
	s, reg := open(t, dir, func(c *Config) { c.OnDamage = reports.report })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	xtest.Eventually(t, 10*time.Second, func() bool { return len(reports.cids()) > 0 },
		"the damaged block was not reported after the restart")
	if got := reports.cids(); len(got) != 1 || got[0] != victim.CID {
		t.Fatalf("reported %v, want only %s", got, victim.CID)
	}
	if reports.got[0].Tentative || !errors.Is(reports.got[0].Cause, block.ErrMismatch) {
		t.Fatalf("report %+v: want a confirmed block with a mismatch", reports.got[0])
	}
	if v := metric(t, reg, "xnode_storage_damaged_blocks_total"); v != 1 {
		t.Fatalf("damaged blocks metric = %v, want 1", v)
	}
	wantOnly(t, s, bs, map[cid.Cid]bool{victim.CID: true})
	if _, err := s.Get(ctx, victim.CID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the damaged block after the pass: %v, want not found", err)
	}
	wantUsage(t, s, int64(len(bs)-1), int64(len(bs)-1)*256<<10)
	// A good copy, fetched elsewhere, can be stored again.
	if err := s.Put(ctx, victim, false); err != nil {
		t.Fatal(err)
	}
	wantOnly(t, s, bs, nil)
}

// TestTornSegmentCostsOnlyItsBlocks cuts the end off the segment file, as a
// crash in the middle of a write would: the blocks whose bytes were cut are
// reported at once, the others read back.
func TestTornSegmentCostsOnlyItsBlocks(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	bs := putSeparately(t, s, 8, 100<<10)
	path, off, _, err := s.Locate(context.Background(), bs[7].CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, off+10); err != nil {
		t.Fatal(err)
	}
	var reports damageLog
	s, _ = open(t, dir, func(c *Config) { c.OnDamage = reports.report; c.VerifyOnStart = false })
	res, err := s.VerifyAll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Checked != 8 || res.Damaged != 1 {
		t.Fatalf("verify %+v, want 8 checked and 1 damaged", res)
	}
	if got := reports.cids(); len(got) != 1 || got[0] != bs[7].CID {
		t.Fatalf("reported %v, want %s", got, bs[7].CID)
	}
	wantOnly(t, s, bs, map[cid.Cid]bool{bs[7].CID: true})
	// New writes go after the torn end and read back.
	more := putSeparately(t, s, 2, 100<<10)
	wantOnly(t, s, more, nil)
}

// TestDamagedHeaderCostsNothing flips a byte in a record's header: reads go
// by the index, never by parsing the segment, so every block still reads.
func TestDamagedHeaderCostsNothing(t *testing.T) {
	dir := t.TempDir()
	s, _ := open(t, dir)
	bs := putSeparately(t, s, 4, 10<<10)
	path, off, _, err := s.Locate(context.Background(), bs[1].CID)
	if err != nil {
		t.Fatal(err)
	}
	xtest.FlipByteAt(t, path, off-int64(segmentHeaderFixed+bs[1].CID.ByteLen())+1) // in the header's checksum
	xtest.FlipByteAt(t, path, off-5)                                               // in the CID
	res, err := s.VerifyAll(context.Background())
	if err != nil || res.Damaged != 0 || res.Checked != 4 {
		t.Fatalf("verify %+v, %v", res, err)
	}
	wantOnly(t, s, bs, nil)
}

// TestCompactionKeepsLiveBlocks deletes most blocks, so that GC rewrites
// their mostly dead segments: the files go, the live blocks read back from
// their new place, and a damaged live block is dropped and reported rather
// than copied.
func TestCompactionKeepsLiveBlocks(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	var reports damageLog
	s, reg := open(t, dir, func(c *Config) {
		c.SegmentFileSize = minSegmentFileSize
		c.OnDamage = reports.report
	})
	bs := putSeparately(t, s, 64, 256<<10) // four segments and more
	before := len(s.segs.list())
	if before < 4 {
		t.Fatalf("%d segments, want at least 4", before)
	}
	var keep []block.Block
	for i, b := range bs {
		if i%4 == 0 {
			keep = append(keep, b)
			continue
		}
		if err := s.Delete(ctx, b.CID); err != nil {
			t.Fatal(err)
		}
	}
	damaged := keep[1]
	path, off, n, err := s.Locate(ctx, damaged.CID)
	if err != nil {
		t.Fatal(err)
	}
	xtest.FlipByteAt(t, path, off+int64(n/2))
	if _, err := s.GC(ctx); err != nil {
		t.Fatal(err)
	}
	if v := metric(t, reg, "xnode_storage_compacted_segments_total"); v < 2 {
		t.Fatalf("%v segments compacted, want at least 2", v)
	}
	if _, err := os.Stat(path); !os.IsNotExist(err) {
		t.Fatalf("compacted segment %s still there: %v", path, err)
	}
	if got := reports.cids(); len(got) != 1 || got[0] != damaged.CID {
		t.Fatalf("reported %v, want %s", got, damaged.CID)
	}
	wantOnly(t, s, keep, map[cid.Cid]bool{damaged.CID: true})
	wantUsage(t, s, int64(len(keep)-1), int64(len(keep)-1)*256<<10)
	// And after a restart.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = open(t, dir)
	wantOnly(t, s, keep, map[cid.Cid]bool{damaged.CID: true})
	res, err := s.VerifyAll(ctx)
	if err != nil || res.Damaged != 0 || res.Checked != len(keep)-1 {
		t.Fatalf("verify after compaction %+v, %v", res, err)
	}
}

// TestOpensBlocksStoredInline: blocks kept in badger itself, as a store
// written before segment files kept them (and as an in-memory store does),
// still read, count and verify.
func TestOpensBlocksStoredInline(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	s, _ := open(t, dir)
	old := []block.Block{randBlock(t, 300<<10), randBlock(t, 100)}
	if err := s.DB().Update(func(txn *badger.Txn) error {
		for _, b := range old {
			if err := txn.Set(blockKey(b.CID), b.Data); err != nil {
				return err
			}
			if err := txn.Set(sizeKey(b.CID), encodeSize(len(b.Data))); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = open(t, dir)
	wantUsage(t, s, 2, 300<<10+100)
	newer := putSeparately(t, s, 2, 1000)
	wantOnly(t, s, append(old, newer...), nil)
	if res, err := s.VerifyAll(ctx); err != nil || res.Checked != 4 || res.Damaged != 0 {
		t.Fatalf("verify %+v, %v", res, err)
	}
	if err := s.Delete(ctx, old[0].CID); err != nil {
		t.Fatal(err)
	}
	wantUsage(t, s, 3, 100+2000)
}

// TestLocateBadInput: Locate answers what it cannot locate with an error.
func TestLocateBadInput(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir())
	if _, _, _, err := s.Locate(ctx, randBlock(t, 10).CID); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("locate of a block not held: %v", err)
	}
	mem, _ := open(t, "", func(c *Config) { c.InMemory = true })
	b := randBlock(t, 10)
	if err := mem.Put(ctx, b, false); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := mem.Locate(ctx, b.CID); !errors.Is(err, xnode.ErrNotFound) {
		t.Fatalf("locate in memory: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, _, err := s.Locate(ctx, b.CID); !errors.Is(err, ErrClosed) {
		t.Fatalf("locate after close: %v", err)
	}
}

// TestDamageReportSaysTentative: a damaged copy of an upload not yet
// confirmed is reported as tentative (no acknowledgement rests on it), a
// confirmed one not.
func TestDamageReportSaysTentative(t *testing.T) {
	ctx := context.Background()
	var reports damageLog
	s, _ := open(t, t.TempDir(), func(c *Config) { c.OnDamage = reports.report })
	tent, conf := randBlock(t, 5000), randBlock(t, 5000)
	if err := s.Put(ctx, tent, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, conf, false); err != nil {
		t.Fatal(err)
	}
	for _, b := range []block.Block{tent, conf} {
		flipStoredByte(t, s, b.CID, 2500)
		if _, err := s.Get(ctx, b.CID); !errors.Is(err, xnode.ErrIntegrity) {
			t.Fatalf("get of a damaged copy: %v", err)
		}
	}
	if len(reports.got) != 2 || !reports.got[0].Tentative || reports.got[1].Tentative {
		t.Fatalf("reports %+v: want the first tentative, the second not", reports.got)
	}
}

// TestSegmentTruncatedUnderTheStore cuts a segment short while the store has
// it open and mapped: a read of a block past the new end fails as damaged
// (the fault of touching the map past the file's end is caught), it does not
// bring the process down, and the blocks before it still read.
func TestSegmentTruncatedUnderTheStore(t *testing.T) {
	ctx := context.Background()
	var reports damageLog
	s, _ := open(t, t.TempDir(), func(c *Config) { c.OnDamage = reports.report })
	bs := putSeparately(t, s, 6, 64<<10)
	path, off, _, err := s.Locate(ctx, bs[4].CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, off); err != nil {
		t.Fatal(err)
	}
	for _, b := range bs[4:] {
		if _, err := s.Get(ctx, b.CID); !errors.Is(err, xnode.ErrIntegrity) {
			t.Fatalf("get of a block cut off its segment: %v", err)
		}
	}
	if len(reports.cids()) != 2 {
		t.Fatalf("reported %v, want the two cut-off blocks", reports.cids())
	}
	wantOnly(t, s, bs[:4], nil)
}
