package storage

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode/block"
	xtest "github.com/xnode/xnode/internal/testutil"
)

// loseIndex deletes the index entries (l/, s/, t/) of cids from the closed
// store in dir straight through badger, as a write-ahead log truncated at a
// damaged entry loses the unflushed memtable's entries. nil loses them all.
func loseIndex(t *testing.T, dir string, cids []cid.Cid) {
	t.Helper()
	db, err := badger.Open(DefaultConfig(dir).badgerOptions(xtest.Logger(t.Name())))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	var keys [][]byte
	if cids == nil {
		err = db.View(func(txn *badger.Txn) error {
			it := txn.NewIterator(badger.IteratorOptions{})
			defer it.Close()
			for it.Rewind(); it.Valid(); it.Next() {
				keys = append(keys, it.Item().KeyCopy(nil))
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, c := range cids {
		keys = append(keys, locationKey(c), sizeKey(c), tentativeKey(c))
	}
	if err := db.Update(func(txn *badger.Txn) error {
		for _, k := range keys {
			if err := txn.Delete(k); err != nil {
				return err
			}
		}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
}

// segmentLive is each segment's count of live bytes.
func segmentLive(s *Store) map[uint32]int64 {
	live := make(map[uint32]int64)
	for _, sg := range s.segs.list() {
		live[sg.id] = sg.live.Load()
	}
	return live
}

func reindex(t *testing.T, s *Store) ReindexReport {
	t.Helper()
	rep, err := s.Reindex(context.Background())
	if err != nil {
		t.Fatalf("reindex: %v", err)
	}
	sum := rep.Reindexed + rep.AlreadyIndexed + rep.Duplicates + rep.Damaged + rep.TornTails
	if rep.Records != sum {
		t.Fatalf("report %+v: records %d, its outcomes sum to %d", rep, rep.Records, sum)
	}
	t.Logf("reindex: %+v", rep)
	return rep
}

// wantReport compares the counts of a report (not Bytes or Took).
func wantReport(t *testing.T, got, want ReindexReport) {
	t.Helper()
	got.Bytes, got.Took = 0, 0
	if got != want {
		t.Fatalf("report\n %+v, want\n %+v", got, want)
	}
}

// TestReindexRestoresLostIndexEntries loses the index entries of a third of
// the blocks, as a truncated badger write-ahead log would: after a reopen
// they are not held, and Reindex brings every one back byte-identical, with
// Usage and each segment's live bytes exactly as before the loss.
func TestReindexRestoresLostIndexEntries(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	small := func(c *Config) { c.SegmentFileSize = minSegmentFileSize; c.VerifyOnStart = false }
	s, _ := open(t, dir, small)
	bs := putSeparately(t, s, 30, 300<<10)
	// A tentative block, then confirmed, as an upload leaves it.
	tb := randBlock(t, 7<<10)
	if err := s.Put(ctx, tb, true); err != nil {
		t.Fatal(err)
	}
	if err := s.Confirm(ctx, []cid.Cid{tb.CID}); err != nil {
		t.Fatal(err)
	}
	bs = append(bs, tb)
	before, live := s.Usage(), segmentLive(s)
	if len(live) < 2 {
		t.Fatalf("%d segments, want several", len(live))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var lost []cid.Cid
	var lostBytes int64
	for i, b := range bs {
		if i%3 == 0 {
			lost = append(lost, b.CID)
			lostBytes += int64(len(b.Data))
		}
	}
	loseIndex(t, dir, lost)

	s, _ = open(t, dir, small)
	if u := s.Usage(); u.Blocks != before.Blocks-int64(len(lost)) {
		t.Fatalf("usage after the loss %+v, want %d blocks fewer than %+v", u, len(lost), before)
	}
	if _, err := s.Get(ctx, lost[0]); !errors.Is(err, ErrNotFound) {
		t.Fatalf("a lost block before reindex: %v, want not found", err)
	}
	rep := reindex(t, s)
	wantReport(t, rep, ReindexReport{
		Segments: len(live), Records: len(bs),
		Reindexed: len(lost), ReindexedBytes: lostBytes, AlreadyIndexed: len(bs) - len(lost),
	})
	if u := s.Usage(); u != before {
		t.Fatalf("usage after reindex %+v, want %+v", u, before)
	}
	if u := indexUsage(t, s); u != before {
		t.Fatalf("index after reindex %+v, want %+v", u, before)
	}
	if got := segmentLive(s); !mapsEqual(got, live) {
		t.Fatalf("live bytes after reindex %v, want %v", got, live)
	}
	wantOnly(t, s, bs, nil)
	for _, c := range lost {
		if tent, err := s.Tentative(ctx, c); err != nil || tent {
			t.Fatalf("re-indexed %s tentative=%v, %v; want confirmed", c, tent, err)
		}
	}

	// What Reindex wrote is durable, and a second run finds nothing to do.
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, _ = open(t, dir, small)
	if u := s.Usage(); u != before {
		t.Fatalf("usage after a reopen %+v, want %+v", u, before)
	}
	wantOnly(t, s, bs, nil)
	wantReport(t, reindex(t, s), ReindexReport{Segments: len(live), Records: len(bs), AlreadyIndexed: len(bs)})
	if got := segmentLive(s); !mapsEqual(got, live) {
		t.Fatalf("live bytes after a second reindex %v, want %v", got, live)
	}
}

func mapsEqual(a, b map[uint32]int64) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || w != v {
			return false
		}
	}
	return true
}

// recordStart is where the record holding the data at off of c starts.
func recordStart(c cid.Cid, off int64) int64 {
	return off - int64(segmentHeaderFixed+c.ByteLen())
}

// TestReindexSkipsOnlyDamagedRecords flips a byte inside one record's block
// bytes and another inside a different record's header (its data length,
// so that the header's lengths cannot be trusted), then loses the whole
// index: Reindex skips those two records and indexes every other one.
func TestReindexSkipsOnlyDamagedRecords(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	noVerify := func(c *Config) { c.VerifyOnStart = false }
	s, _ := open(t, dir, noVerify)
	bs := putSeparately(t, s, 12, 10<<10)
	path, off3, _, err := s.Locate(ctx, bs[3].CID)
	if err != nil {
		t.Fatal(err)
	}
	_, off4, _, err := s.Locate(ctx, bs[4].CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	xtest.FlipByteAt(t, path, off3+5000)                       // bs[3]'s bytes
	xtest.FlipByteAt(t, path, recordStart(bs[4].CID, off4)+10) // bs[4]'s data length
	loseIndex(t, dir, nil)

	s, _ = open(t, dir, noVerify)
	wantUsage(t, s, 0, 0)
	rep := reindex(t, s)
	wantReport(t, rep, ReindexReport{
		Segments: 1, Records: 12, Reindexed: 10, ReindexedBytes: 10 * 10 << 10, Damaged: 2,
	})
	gone := map[cid.Cid]bool{bs[3].CID: true, bs[4].CID: true}
	wantOnly(t, s, bs, gone)
	for c := range gone {
		if _, err := s.Get(ctx, c); !errors.Is(err, ErrNotFound) {
			t.Fatalf("a damaged record's block: %v, want not found (never indexed)", err)
		}
	}
	wantUsage(t, s, 10, 10*10<<10)
}

// TestReindexSkipsTornTail cuts the segment inside its last record, as a
// crash in the middle of a write does: Reindex indexes the whole records
// and skips the torn one without an error. Blocks put after the restart are
// appended at the torn end, inside the torn record's claimed length; a walk
// then finds them too, and counts the torn record as damaged.
func TestReindexSkipsTornTail(t *testing.T) {
	dir := t.TempDir()
	ctx := context.Background()
	noVerify := func(c *Config) { c.VerifyOnStart = false }
	s, _ := open(t, dir, noVerify)
	bs := putSeparately(t, s, 5, 100<<10)
	path, off, _, err := s.Locate(ctx, bs[4].CID)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, off+100); err != nil {
		t.Fatal(err)
	}
	loseIndex(t, dir, nil)

	s, _ = open(t, dir, noVerify)
	wantReport(t, reindex(t, s), ReindexReport{
		Segments: 1, Records: 5, Reindexed: 4, ReindexedBytes: 4 * 100 << 10, TornTails: 1,
	})
	wantOnly(t, s, bs, map[cid.Cid]bool{bs[4].CID: true})

	more := putSeparately(t, s, 2, 10<<10)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	loseIndex(t, dir, nil)
	s, _ = open(t, dir, noVerify)
	wantReport(t, reindex(t, s), ReindexReport{
		Segments: 1, Records: 7, Reindexed: 6, ReindexedBytes: 4*100<<10 + 2*10<<10, Damaged: 1,
	})
	wantOnly(t, s, append(bs[:4:4], more...), nil)
}

// TestReindexIndexesOneCopy finds two whole records of one block (as a
// compaction interrupted between its copy and the removal of the old file
// leaves): one is indexed, and the segments' live bytes count it once.
func TestReindexIndexesOneCopy(t *testing.T) {
	dir := t.TempDir()
	noVerify := func(c *Config) { c.VerifyOnStart = false }
	s, _ := open(t, dir, noVerify)
	bs := putSeparately(t, s, 3, 20<<10)
	if _, err := s.segs.append(bs[1].CID, bs[1].Data); err != nil {
		t.Fatal(err)
	}
	before, live := s.Usage(), segmentLive(s)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	loseIndex(t, dir, nil)
	s, _ = open(t, dir, noVerify)
	wantReport(t, reindex(t, s), ReindexReport{
		Segments: 1, Records: 4, Reindexed: 3, ReindexedBytes: 3 * 20 << 10, Duplicates: 1,
	})
	if u := s.Usage(); u != before {
		t.Fatalf("usage %+v, want %+v", u, before)
	}
	if got := segmentLive(s); !mapsEqual(got, live) {
		t.Fatalf("live bytes %v, want %v", got, live)
	}
	wantOnly(t, s, bs, nil)
}

// TestReindexBringsBackDeletedBlocks pins the documented cost: a block the
// store deleted, whose record compaction has not removed yet, comes back
// confirmed, with bytes that match its CID.
func TestReindexBringsBackDeletedBlocks(t *testing.T) {
	ctx := context.Background()
	s, _ := open(t, t.TempDir(), func(c *Config) { c.VerifyOnStart = false })
	bs := putSeparately(t, s, 2, 1<<10)
	if err := s.Delete(ctx, bs[0].CID); err != nil {
		t.Fatal(err)
	}
	wantReport(t, reindex(t, s), ReindexReport{
		Segments: 1, Records: 2, Reindexed: 1, ReindexedBytes: 1 << 10, AlreadyIndexed: 1,
	})
	wantOnly(t, s, bs, nil)
}

// TestReindexRefusals: a started store, a closed one, an in-memory one and
// a missing or busy directory are each refused with what is wrong.
func TestReindexRefusals(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, _ := open(t, dir, func(c *Config) { c.VerifyOnStart = false })
	if err := s.Start(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reindex(ctx); !errors.Is(err, ErrStarted) {
		t.Fatalf("reindex of a started store: %v", err)
	}
	if _, err := ReindexDir(ctx, DefaultConfig(dir), nil); !errors.Is(err, ErrInUse) {
		t.Fatalf("reindex of an open store's directory: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Reindex(ctx); !errors.Is(err, ErrClosed) {
		t.Fatalf("reindex of a closed store: %v", err)
	}
	if rep, err := ReindexDir(ctx, DefaultConfig(dir), nil); err != nil || rep.Segments != 0 {
		t.Fatalf("reindex of the closed store's directory: %+v, %v", rep, err)
	}
	missing := filepath.Join(t.TempDir(), "nope")
	if _, err := ReindexDir(ctx, DefaultConfig(missing), nil); !errors.Is(err, ErrNoStore) {
		t.Fatalf("reindex of a missing directory: %v", err)
	}
	if _, err := os.Stat(missing); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("reindex made the missing directory: %v", err)
	}
	notStore := t.TempDir()
	if _, err := ReindexDir(ctx, DefaultConfig(notStore), nil); !errors.Is(err, ErrNoStore) {
		t.Fatalf("reindex of a directory that holds no store: %v", err)
	}
	if ents, _ := os.ReadDir(notStore); len(ents) != 0 {
		t.Fatalf("reindex wrote %d files into a directory that holds no store", len(ents))
	}
	cfg := DefaultConfig("")
	cfg.InMemory = true
	if _, err := ReindexDir(ctx, cfg, nil); !errors.Is(err, ErrConfig) {
		t.Fatalf("reindex in memory: %v", err)
	}
}

// segmentImage writes n records of random blocks into a real segment file
// and returns its bytes and the records' CIDs and locations in order.
func segmentImage(t *testing.T, n int) ([]byte, []cid.Cid, []location) {
	t.Helper()
	dir := t.TempDir()
	ss, err := openSegments(dir, minSegmentFileSize)
	if err != nil {
		t.Fatal(err)
	}
	rng := rand.New(rand.NewPCG(1, 2))
	var cids []cid.Cid
	var locs []location
	for i := range n {
		data := make([]byte, 50+rng.IntN(200))
		for j := range data {
			data[j] = byte(rng.Uint32())
		}
		b := block.NewRaw(data)
		if i%4 == 3 { // a dag-pb CID, as a blob's root has
			b.CID = block.Sum(block.CodecNode, data)
		}
		l, err := ss.append(b.CID, b.Data)
		if err != nil {
			t.Fatal(err)
		}
		cids, locs = append(cids, b.CID), append(locs, l)
	}
	if err := ss.close(); err != nil {
		t.Fatal(err)
	}
	img, err := os.ReadFile(ss.path(1))
	if err != nil {
		t.Fatal(err)
	}
	return img, cids, locs
}

type walked struct {
	c cid.Cid
	l location
}

func walkImage(t *testing.T, img []byte) ([]walked, segmentWalk) {
	t.Helper()
	var got []walked
	res, err := walkSegment(bytes.NewReader(img), 1, int64(len(img)), make([]byte, 1<<10), func(c cid.Cid, l location) error {
		got = append(got, walked{c, l})
		return nil
	})
	if err != nil {
		t.Fatalf("walk: %v", err)
	}
	return got, res
}

// TestWalkSegmentOneFlipCostsOneRecord flips every byte of a segment in
// turn: each walk finds every record but the one holding the flipped byte,
// at its place, and counts that one as damaged.
func TestWalkSegmentOneFlipCostsOneRecord(t *testing.T) {
	img, cids, locs := segmentImage(t, 12)
	got, res := walkImage(t, img)
	if len(got) != len(cids) || res != (segmentWalk{}) {
		t.Fatalf("clean walk: %d records, %+v; want %d", len(got), res, len(cids))
	}
	k := 0 // the record holding byte i
	for i := range img {
		for k < len(locs)-1 && int64(i) >= recordStart(cids[k+1], locs[k+1].off) {
			k++
		}
		bad := bytes.Clone(img)
		bad[i] ^= 0x5a
		got, res := walkImage(t, bad)
		if res != (segmentWalk{damaged: 1}) || len(got) != len(cids)-1 {
			t.Fatalf("byte %d (record %d) flipped: %d records, %+v", i, k, len(got), res)
		}
		j := 0
		for r := range cids {
			if r == k {
				continue
			}
			if got[j].c != cids[r] || got[j].l != locs[r] {
				t.Fatalf("byte %d flipped: record %d found as %v, want %s at %+v", i, r, got[j], cids[r], locs[r])
			}
			j++
		}
	}
}

// TestWalkSegmentCutAnywhere cuts a segment at every length: the whole
// records before the cut are found, and a cut inside a record is a torn
// tail, never an error.
func TestWalkSegmentCutAnywhere(t *testing.T) {
	img, cids, locs := segmentImage(t, 6)
	for n := range len(img) + 1 {
		whole := 0
		for whole < len(locs) && locs[whole].off+int64(locs[whole].n) <= int64(n) {
			whole++
		}
		torn := 0
		if whole < len(locs) && int64(n) > recordStart(cids[whole], locs[whole].off) {
			torn = 1
		}
		got, res := walkImage(t, img[:n])
		if len(got) != whole || res != (segmentWalk{torn: torn}) {
			t.Fatalf("cut at %d: %d records, %+v; want %d and %d torn", n, len(got), res, whole, torn)
		}
	}
}

// TestWalkSegmentFindsRecordsAfterGarbage: bytes that are no record before
// and between records cost nothing but themselves.
func TestWalkSegmentFindsRecordsAfterGarbage(t *testing.T) {
	img, cids, _ := segmentImage(t, 3)
	junk := bytes.Repeat([]byte("xsg"), 1000)
	var bad []byte
	bad = append(bad, junk...)
	bad = append(bad, img...)
	bad = append(bad, []byte("xsg1 not a header at all")...)
	bad = append(bad, img...)
	got, res := walkImage(t, bad)
	if len(got) != 2*len(cids) || res != (segmentWalk{damaged: 2}) {
		t.Fatalf("%d records, %+v; want %d and 2 damaged", len(got), res, 2*len(cids))
	}
}

// BenchmarkReindex1GiB times Reindex of a store of 1 GiB in 1 MiB blocks
// whose index is lost entirely (every block re-indexed), from a cold page
// cache: the walk reads and hashes every record. Run with
// go test -run '^$' -bench Reindex1GiB -benchtime 3x ./storage/
func BenchmarkReindex1GiB(b *testing.B) {
	const blocks, size = 1024, 1 << 20
	dir := b.TempDir()
	cfg := DefaultConfig(dir)
	cfg.VerifyOnStart = false
	s, err := Open(cfg, nil, nil)
	if err != nil {
		b.Fatal(err)
	}
	for range blocks {
		bl := randBlock(b, size)
		if err := s.Put(context.Background(), bl, false); err != nil {
			b.Fatal(err)
		}
	}
	want := s.Usage()
	if err := s.Close(); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(blocks) * size)
	b.ResetTimer()
	for range b.N {
		b.StopTimer()
		db, err := badger.Open(cfg.badgerOptions(slog.New(slog.DiscardHandler)))
		if err != nil {
			b.Fatal(err)
		}
		if err := db.DropPrefix(prefixLocation, prefixSize); err != nil {
			b.Fatal(err)
		}
		if err := db.Close(); err != nil {
			b.Fatal(err)
		}
		s, err := Open(cfg, nil, nil)
		if err != nil {
			b.Fatal(err)
		}
		for _, sg := range s.segs.list() { // a cold page cache
			s.segs.forget(location{seg: sg.id, n: int(sg.size.Load())})
		}
		b.StartTimer()
		rep, err := s.Reindex(context.Background())
		b.StopTimer()
		if err != nil || rep.Reindexed != blocks || s.Usage() != want {
			b.Fatalf("reindex %+v, %v; usage %+v, want %+v", rep, err, s.Usage(), want)
		}
		b.ReportMetric(rep.Took.Seconds(), "s/reindex")
		if err := s.Close(); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}
}

// copyDir copies the files of dir, and of its subdirectories, into a new
// directory: the disk image a crash leaves, taken while the store is open.
func copyDir(t *testing.T, dir string) string {
	t.Helper()
	out := t.TempDir()
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(dir, path)
		if d.IsDir() {
			return os.MkdirAll(filepath.Join(out, rel), 0o755)
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		return os.WriteFile(filepath.Join(out, rel), data, 0o644)
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestReindexAfterTruncatedWAL is the failure Reindex exists for, with
// badger's own replay: a crash image of an open store (the index still in
// the memtable's write-ahead log) whose log has one damaged byte halfway
// through. Badger cuts the log there when it opens, silently, and the blocks
// acknowledged after the damage are not held; Reindex brings every one back.
func TestReindexAfterTruncatedWAL(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	noVerify := func(c *Config) {
		c.VerifyOnStart = false
		c.ValueLogFileSize = 4 * block.MaxChunkSize // a smaller file to copy
	}
	s, _ := open(t, dir, noVerify)
	bs := putSeparately(t, s, 40, 8<<10)
	before := s.Usage()
	crash := copyDir(t, dir)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	mems, err := filepath.Glob(filepath.Join(crash, "*.mem"))
	if err != nil || len(mems) != 1 {
		t.Fatalf("write-ahead logs %v, %v; want one", mems, err)
	}
	wal, err := os.ReadFile(mems[0])
	if err != nil {
		t.Fatal(err)
	}
	end := len(bytes.TrimRight(wal, "\x00"))
	xtest.FlipByteAt(t, mems[0], int64(end/2))

	s, _ = open(t, crash, noVerify)
	u := s.Usage()
	if u.Blocks == 0 || u.Blocks >= before.Blocks {
		t.Fatalf("after the damaged log %+v, want some blocks but not all of %+v", u, before)
	}
	lost := int(before.Blocks - u.Blocks)
	if _, err := s.Get(ctx, bs[len(bs)-1].CID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("the last block put, after the damage: %v, want not found", err)
	}
	wantReport(t, reindex(t, s), ReindexReport{
		Segments: 1, Records: len(bs), Reindexed: lost, ReindexedBytes: int64(lost) * 8 << 10,
		AlreadyIndexed: len(bs) - lost,
	})
	if u := s.Usage(); u != before {
		t.Fatalf("usage after reindex %+v, want %+v", u, before)
	}
	wantOnly(t, s, bs, nil)
}
