package storage

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dgraph-io/badger/v4"
	"github.com/ipfs/go-cid"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/block"
)

// Re-indexing rebuilds lost index entries from the segments (doc.go,
// "Re-indexing"). walkSegment is its pure core: it reads one segment's
// records from offset 0 by their headers and knows nothing of badger;
// Store.Reindex writes the index entries a walk finds missing.

var (
	// ErrInUse is a store directory that another process (a running node)
	// has open: badger's directory lock refuses a second opener.
	ErrInUse = fmt.Errorf("storage: %w: the block store is open in another process", xnode.ErrUnavailable)
	// ErrNoStore is a store directory that does not exist.
	ErrNoStore = fmt.Errorf("storage: %w: no block store", xnode.ErrNotFound)
	// ErrStarted is Reindex on a store whose loop runs: a store that serves
	// is written and collected meanwhile, which a walk must not race.
	ErrStarted = errors.New("storage: reindex: the store is started; re-index a store no node is serving")
)

// ReindexReport is what one Reindex walk found. Every record start the
// walk met is counted once, in exactly one of Reindexed, AlreadyIndexed,
// Duplicates, Damaged and TornTails, so Records is their sum.
type ReindexReport struct {
	// Segments is how many segment files were walked, Bytes their size.
	Segments int
	Bytes    int64
	// Records is how many record starts the walk met.
	Records int
	// Reindexed is how many blocks had no index entry and have one again
	// (confirmed), ReindexedBytes their size.
	Reindexed      int
	ReindexedBytes int64
	// AlreadyIndexed is how many whole records name a block the index
	// holds already (the normal case; also older copies that compaction
	// moved and had not removed yet).
	AlreadyIndexed int
	// Duplicates is how many whole records name a block that this walk
	// re-indexed from an earlier copy: only one copy is indexed.
	Duplicates int
	// Damaged is how many record starts were skipped: a header that fails
	// its magic, checksum or bounds, bytes that do not hash to the CID, or
	// a record cut short by the one after it (a torn write that later
	// appends followed). Bytes that are no record at all where one should
	// start count once for each run of them.
	Damaged int
	// TornTails is how many segments end in a record cut short by the end
	// of the file, with no record after it: a write torn by a crash.
	TornTails int
	// Took is how long the walk took.
	Took time.Duration
}

const (
	// reindexWindow is the read buffer of a walk: the largest record (a
	// 4 MiB block and its header) fits, and sequential reads are large.
	reindexWindow = 8 << 20
	// reindexScan is how far one step of the search for the next record
	// start reads.
	reindexScan = 1 << 20
	// reindexBatch is how many whole records one index transaction checks.
	reindexBatch = 256
	// maxRecordCID bounds a header's CID length, as block.Check does.
	maxRecordCID = 64
)

// segmentWalk is what walkSegment found besides the whole records it passed
// on.
type segmentWalk struct {
	damaged int
	torn    int // 0 or 1
}

// recordStatus is how a record start read.
type recordStatus int

const (
	recordWhole recordStatus = iota // header intact, bytes match the CID
	recordBad                       // damaged header or bytes
	recordCut                       // runs past the end of the file
)

// walkSegment reads segment id, size bytes through r, record by record from
// offset 0, and calls whole for each record whose header is intact and
// whose bytes hash to its CID, with where its data is. A rejected record
// start costs only its record: the walk goes on at the next record magic
// after it (the lengths of a rejected record are not trusted: a torn
// record may be followed by appends made after the crash, inside its
// claimed length). buf is the read window (reindexWindow bytes). It
// returns the first error of r or whole.
func walkSegment(r io.ReaderAt, id uint32, size int64, buf []byte, whole func(c cid.Cid, l location) error) (segmentWalk, error) {
	w := window{r: r, size: size, buf: buf}
	var res segmentWalk
	for off := int64(0); off < size; {
		c, l, next, st, err := w.record(id, off)
		if err != nil {
			return res, err
		}
		if st == recordWhole {
			if err := whole(c, l); err != nil {
				return res, err
			}
			off = next
			continue
		}
		at, found, err := w.nextMagic(off + 1)
		switch {
		case err != nil:
			return res, err
		case found:
			res.damaged++
			off = at
		case st == recordCut:
			res.torn++
			off = size
		default:
			res.damaged++
			off = size
		}
	}
	return res, nil
}

// window reads a segment through one buffer.
type window struct {
	r    io.ReaderAt
	size int64
	buf  []byte
	at   int64 // file offset of buf[0]
	n    int   // bytes of buf read
}

// span returns the n bytes at off (valid until the next call), or false if
// they run past the end of the segment.
func (w *window) span(off int64, n int) ([]byte, bool, error) {
	if off < 0 || n < 0 || off+int64(n) > w.size {
		return nil, false, nil
	}
	if off >= w.at && off+int64(n) <= w.at+int64(w.n) {
		return w.buf[off-w.at : off-w.at+int64(n)], true, nil
	}
	if n > len(w.buf) {
		w.buf = make([]byte, n)
	}
	want := int(min(int64(len(w.buf)), w.size-off))
	got, err := w.r.ReadAt(w.buf[:want], off)
	w.at, w.n = off, got
	if got < n {
		if err == nil || errors.Is(err, io.EOF) {
			err = io.ErrUnexpectedEOF // the file shrank under the walk
		}
		return nil, false, fmt.Errorf("read at %d: %w", off, err)
	}
	return w.buf[:n], true, nil
}

// record reads the record starting at off of segment id: its CID, where
// its data is and where the next record starts, when whole.
func (w *window) record(id uint32, off int64) (cid.Cid, location, int64, recordStatus, error) {
	fail := func(st recordStatus, err error) (cid.Cid, location, int64, recordStatus, error) {
		return cid.Undef, location{}, 0, st, err
	}
	hdr, ok, err := w.span(off, segmentHeaderFixed)
	if err != nil || !ok {
		return fail(recordCut, err)
	}
	if string(hdr[:4]) != segmentMagic {
		return fail(recordBad, nil)
	}
	sum := binary.BigEndian.Uint32(hdr[4:])
	n := int(binary.BigEndian.Uint32(hdr[8:]))
	cidLen := int(binary.BigEndian.Uint16(hdr[12:]))
	if cidLen == 0 || cidLen > maxRecordCID {
		return fail(recordBad, nil)
	}
	hdr, ok, err = w.span(off, segmentHeaderFixed+cidLen)
	if err != nil || !ok {
		return fail(recordCut, err)
	}
	if crc32.Checksum(hdr[8:], castagnoli) != sum || n > block.MaxChunkSize {
		return fail(recordBad, nil)
	}
	c, err := block.Cast(hdr[segmentHeaderFixed:])
	if err != nil {
		return fail(recordBad, nil)
	}
	l := location{seg: id, off: off + int64(segmentHeaderFixed+cidLen), n: n}
	data, ok, err := w.span(l.off, n)
	if err != nil || !ok {
		return fail(recordCut, err)
	}
	if block.Verify(c, data) != nil {
		return fail(recordBad, nil)
	}
	return c, l, l.off + int64(n), recordWhole, nil
}

// nextMagic finds the first record magic at or after from.
func (w *window) nextMagic(from int64) (int64, bool, error) {
	magic := []byte(segmentMagic)
	for from+int64(len(magic)) <= w.size {
		n := int(min(reindexScan, w.size-from))
		b, _, err := w.span(from, n)
		if err != nil {
			return 0, false, err
		}
		if i := bytes.Index(b, magic); i >= 0 {
			return from + int64(i), true, nil
		}
		from += int64(n - len(magic) + 1)
	}
	return 0, false, nil
}

// reindexItem is one whole record of a walk, and what the index made of it.
type reindexItem struct {
	c       cid.Cid
	loc     location
	outcome reindexOutcome
}

type reindexOutcome int

const (
	outcomeIndexed   reindexOutcome = iota // the index held the block already
	outcomeReindexed                       // its entries were written
)

// Reindex walks every segment record by record and gives each whole record
// whose block has no index entry (no s/ key) the entries a confirmed Put
// writes: l/ pointing at the record, s/, and no t/. Usage and the segments'
// live bytes move as a Put's would, so compaction stays exact. Damaged
// records are skipped, and cost only themselves (walkSegment). Of several
// whole copies of one block, one is indexed. The index is synced before it
// returns.
//
// A block re-indexed this way comes back confirmed, even one the node had
// deleted whose record compaction had not yet removed: a copy repair
// dropped, or the orphan of an aborted upload. Its bytes are verified, and
// repair drops again on its next pass a copy the node does not own; losing
// an acknowledged block would be worse.
//
// It is meant for a store no node is serving (xnode storage reindex opens
// one through ReindexDir): it refuses a started store (ErrStarted), and
// Start waits for it. Close interrupts it.
func (s *Store) Reindex(ctx context.Context) (ReindexReport, error) {
	start := time.Now()
	var rep ReindexReport
	s.life.Lock()
	defer s.life.Unlock()
	if s.closed.Load() {
		return rep, ErrClosed
	}
	if s.started {
		return rep, ErrStarted
	}
	if s.segs == nil {
		return rep, nil // InMemory: no segments
	}
	buf := make([]byte, reindexWindow)
	reindexed := make(map[cid.Cid]bool)
	for _, sg := range s.segs.list() {
		if err := s.reindexSegment(ctx, sg, buf, reindexed, &rep); err != nil {
			rep.Took = time.Since(start)
			return rep, err
		}
	}
	if err := s.acquire(); err != nil {
		return rep, err
	}
	err := s.db.Sync()
	s.release()
	rep.Took = time.Since(start)
	if err != nil {
		return rep, fmt.Errorf("storage: reindex: sync: %w", err)
	}
	s.log.Info("re-indexed the block store from its segments", "segments", rep.Segments, "records", rep.Records,
		"reindexed", rep.Reindexed, "reindexed_bytes", rep.ReindexedBytes, "damaged", rep.Damaged,
		"torn_tails", rep.TornTails, "took", rep.Took)
	return rep, nil
}

// reindexSegment walks one segment and indexes what it finds missing, a
// batch at a time, adding to rep.
func (s *Store) reindexSegment(ctx context.Context, sg *segment, buf []byte, reindexed map[cid.Cid]bool, rep *ReindexReport) error {
	if err := s.acquire(); err != nil {
		return err
	}
	defer s.release()
	size := sg.size.Load()
	var batch []reindexItem
	flush := func() error {
		err := s.reindexBatch(batch, reindexed, rep)
		batch = batch[:0]
		return err
	}
	walk, err := walkSegment(sg.f, sg.id, size, buf, func(c cid.Cid, l location) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if s.closed.Load() {
			return ErrClosed
		}
		batch = append(batch, reindexItem{c: c, loc: l})
		if len(batch) == reindexBatch {
			return flush()
		}
		return nil
	})
	if err == nil {
		err = flush()
	}
	// The walk read the whole segment once; its pages need not stay cached.
	s.segs.forget(location{seg: sg.id, n: int(size)})
	rep.Segments++
	rep.Bytes += size
	rep.Damaged += walk.damaged
	rep.TornTails += walk.torn
	rep.Records += walk.damaged + walk.torn
	if err != nil {
		if errors.Is(err, ErrClosed) {
			return err
		}
		return fmt.Errorf("storage: reindex segment %d: %w", sg.id, err)
	}
	if walk.damaged > 0 || walk.torn > 0 {
		s.log.Warn("skipped damaged records while re-indexing a segment", "segment", sg.id,
			"damaged", walk.damaged, "torn_tail", walk.torn > 0)
	}
	return nil
}

// reindexBatch writes the index entries of the items whose block the index
// lacks, in as few transactions as badger takes, and counts every item.
func (s *Store) reindexBatch(items []reindexItem, reindexed map[cid.Cid]bool, rep *ReindexReport) error {
	if len(items) == 0 {
		return nil
	}
	d, err := s.update(len(items), func(txn *badger.Txn, i int, d *delta) error {
		it := &items[i]
		it.outcome = outcomeIndexed // a rerun after a conflict reads again
		st, err := readState(txn, it.c)
		if err != nil || st.exists {
			// An earlier copy in this transaction reads as indexed too.
			return err
		}
		if err := txn.Set(locationKey(it.c), it.loc.encode()); err != nil {
			return err
		}
		if err := txn.Set(sizeKey(it.c), encodeSize(it.loc.n)); err != nil {
			return err
		}
		if st.tentative { // a stray t/ key: a confirmed Put drops it too
			if err := txn.Delete(tentativeKey(it.c)); err != nil {
				return err
			}
		}
		d.addLive(it.loc.seg, int64(it.loc.n))
		d.blocks++
		d.bytes += int64(it.loc.n)
		it.outcome = outcomeReindexed
		return nil
	})
	s.apply(d)
	if err != nil {
		return err
	}
	for _, it := range items {
		rep.Records++
		switch {
		case it.outcome == outcomeReindexed:
			reindexed[it.c] = true
			rep.Reindexed++
			rep.ReindexedBytes += int64(it.loc.n)
		case reindexed[it.c]:
			rep.Duplicates++
		default:
			rep.AlreadyIndexed++
		}
	}
	return nil
}

// ReindexDir opens the store cfg describes, re-indexes it (Store.Reindex)
// and closes it. cfg.Dir must hold a store (ErrNoStore): a mistyped home is
// not made into an empty store. A store another process has open, a running
// node's, is refused with ErrInUse: stop the node first.
func ReindexDir(ctx context.Context, cfg Config, log *slog.Logger) (ReindexReport, error) {
	if cfg.InMemory {
		return ReindexReport{}, fmt.Errorf("%w: InMemory = true: an in-memory store has no segments", ErrConfig)
	}
	switch st, err := os.Stat(cfg.Dir); {
	case errors.Is(err, fs.ErrNotExist):
		return ReindexReport{}, fmt.Errorf("%w at %s", ErrNoStore, cfg.Dir)
	case err != nil:
		return ReindexReport{}, fmt.Errorf("storage: reindex: %w", err)
	case !st.IsDir():
		return ReindexReport{}, fmt.Errorf("%w at %s: not a directory", ErrNoStore, cfg.Dir)
	}
	// Every badger directory has a manifest; without one, Open would make
	// a new store in whatever directory this is.
	if _, err := os.Stat(filepath.Join(cfg.Dir, badger.ManifestFilename)); errors.Is(err, fs.ErrNotExist) {
		return ReindexReport{}, fmt.Errorf("%w at %s: no badger manifest in it", ErrNoStore, cfg.Dir)
	}
	cfg.VerifyOnStart = false
	s, err := Open(cfg, nil, log)
	if err != nil {
		if isLocked(err) {
			return ReindexReport{}, fmt.Errorf("%w: %s: stop the node first (%v)", ErrInUse, cfg.Dir, err)
		}
		return ReindexReport{}, err
	}
	rep, err := s.Reindex(ctx)
	if cerr := s.Close(); err == nil {
		err = cerr
	}
	return rep, err
}

// isLocked reports whether err is badger refusing a directory another
// process holds the lock of.
func isLocked(err error) bool {
	return errors.Is(err, syscall.EWOULDBLOCK) || strings.Contains(err.Error(), "Cannot acquire directory lock")
}
