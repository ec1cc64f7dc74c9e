package storage

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/ipfs/go-cid"
)

// Segment files hold the bytes of the store's blocks; badger holds only the
// index (see doc.go, "Layout"). A segment is appended to and never rewritten
// in place: a record is
//
//	magic "xsg1" | crc32c of what follows up to the data (4) | data length (4) |
//	CID length (2) | CID | data
//
// and the index entry l/<cid> says which segment, at which offset the data
// starts, and how long it is. Nothing is ever parsed to find where a record
// starts: a damaged byte, in a header or in the data, costs at most the block
// whose record holds it. The header lets a tool or a later recovery walk a
// segment without the index; the store itself trusts only the index, and the
// CID check of every read.

const (
	segmentDir    = "segments"
	segmentSuffix = ".seg"
	segmentMagic  = "xsg1"
	// segmentHeaderFixed is the header's size without the CID.
	segmentHeaderFixed = 4 + 4 + 4 + 2
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// errSegmentGone is a read of a segment that compaction has removed since
// the caller looked up the location: the caller looks it up again.
var errSegmentGone = errors.New("storage: segment removed")

// location is where a block's bytes are: segment, offset of the data, length.
type location struct {
	seg uint32
	off int64
	n   int
}

func (l location) encode() []byte {
	b := binary.AppendUvarint(nil, uint64(l.seg))
	b = binary.AppendUvarint(b, uint64(l.off))
	return binary.AppendUvarint(b, uint64(l.n))
}

func decodeLocation(v []byte) (location, error) {
	seg, a := binary.Uvarint(v)
	if a <= 0 || seg > 1<<32-1 {
		return location{}, fmt.Errorf("storage: bad location record %x", v)
	}
	off, b := binary.Uvarint(v[a:])
	if b <= 0 || off > 1<<62 {
		return location{}, fmt.Errorf("storage: bad location record %x", v)
	}
	n, c := binary.Uvarint(v[a+b:])
	if c <= 0 || a+b+c != len(v) || n > 1<<31 {
		return location{}, fmt.Errorf("storage: bad location record %x", v)
	}
	return location{seg: uint32(seg), off: int64(off), n: int(n)}, nil
}

// segment is one open segment file.
type segment struct {
	id uint32
	f  *os.File
	// m maps the file read-only (see segmap_unix.go); nil where segments
	// are not mapped. Reads past len(m) use pread.
	m []byte
	// size is where the next record goes (the file's length once written).
	size atomic.Int64
	// live is the bytes of data the index points at in this segment; it
	// decides when compaction rewrites the segment.
	live atomic.Int64
	// dirty: written since the last sync (guarded by segments.wmu).
	dirty bool
	// dropped is where the last page-drop pass stopped (the store's loop
	// only).
	dropped int64
}

// segments is the set of segment files under one directory.
//
// Readers take mu shared for the duration of a read, so compaction (mu
// exclusive) never closes a file under them. Appends are serialised by wmu:
// only the newest segment is written, at its size.
type segments struct {
	dir     string
	maxSize int64

	mu    sync.RWMutex
	files map[uint32]*segment

	wmu   sync.Mutex
	cur   *segment
	dirty []*segment

	// smu serialises syncs: a sync returns only once every append that
	// returned before it started is on disk, including those another sync
	// took from the dirty list and is still writing back.
	smu sync.Mutex
}

// openSegments opens every segment under dir (creating dir), and appends to
// the newest one from its end.
func openSegments(dir string, maxSize int64) (*segments, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	ss := &segments{dir: dir, maxSize: maxSize, files: make(map[uint32]*segment)}
	var ids []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok || !e.Type().IsRegular() {
			continue
		}
		id, err := strconv.ParseUint(name, 10, 32)
		if err != nil {
			continue
		}
		ids = append(ids, uint32(id))
	}
	slices.Sort(ids)
	for _, id := range ids {
		f, err := os.OpenFile(ss.path(id), os.O_RDWR, 0)
		if err != nil {
			return nil, errors.Join(err, ss.close())
		}
		st, err := f.Stat()
		if err != nil {
			return nil, errors.Join(err, f.Close(), ss.close())
		}
		sg := &segment{id: id, f: f}
		sg.size.Store(st.Size())
		sg.dropped = st.Size()
		if sg.m, err = mapSegment(f, max(st.Size(), maxSize)); err != nil {
			return nil, errors.Join(err, f.Close(), ss.close())
		}
		ss.files[id] = sg
		ss.cur = sg
	}
	return ss, nil
}

func (ss *segments) path(id uint32) string {
	return filepath.Join(ss.dir, fmt.Sprintf("%08d%s", id, segmentSuffix))
}

// close closes every file.
func (ss *segments) close() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	var errs []error
	for id, sg := range ss.files {
		errs = append(errs, unmapSegment(sg.m), sg.f.Close())
		delete(ss.files, id)
	}
	return errors.Join(errs...)
}

// recordSize is the size of c's record holding n bytes.
func recordSize(c cid.Cid, n int) int64 {
	return int64(segmentHeaderFixed + c.ByteLen() + n)
}

// append writes one record for block c and returns where its data is. It is
// not durable until sync.
func (ss *segments) append(c cid.Cid, data []byte) (location, error) {
	cb := c.Bytes()
	hdr := make([]byte, segmentHeaderFixed, segmentHeaderFixed+len(cb))
	copy(hdr, segmentMagic)
	binary.BigEndian.PutUint32(hdr[8:], uint32(len(data)))
	binary.BigEndian.PutUint16(hdr[12:], uint16(len(cb)))
	hdr = append(hdr, cb...)
	binary.BigEndian.PutUint32(hdr[4:], crc32.Checksum(hdr[8:], castagnoli))

	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	need := int64(len(hdr) + len(data))
	if ss.cur == nil || (ss.cur.size.Load() > 0 && ss.cur.size.Load()+need > ss.maxSize) {
		if err := ss.rotate(); err != nil {
			return location{}, err
		}
	}
	sg := ss.cur
	at := sg.size.Load()
	if _, err := sg.f.WriteAt(hdr, at); err != nil {
		return location{}, fmt.Errorf("write segment %d: %w", sg.id, err)
	}
	if _, err := sg.f.WriteAt(data, at+int64(len(hdr))); err != nil {
		return location{}, fmt.Errorf("write segment %d: %w", sg.id, err)
	}
	sg.size.Store(at + need)
	if !sg.dirty {
		sg.dirty = true
		ss.dirty = append(ss.dirty, sg)
	}
	return location{seg: sg.id, off: at + int64(len(hdr)), n: len(data)}, nil
}

// rotate starts a new segment after the newest one. wmu is held.
func (ss *segments) rotate() error {
	var id uint32 = 1
	if ss.cur != nil {
		id = ss.cur.id + 1
	}
	f, err := os.OpenFile(ss.path(id), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o644)
	if err != nil {
		return fmt.Errorf("new segment: %w", err)
	}
	// The new file's name must survive a crash with the data in it.
	if err := syncDir(ss.dir); err != nil {
		return errors.Join(fmt.Errorf("new segment: %w", err), f.Close())
	}
	sg := &segment{id: id, f: f}
	if sg.m, err = mapSegment(f, ss.maxSize); err != nil {
		return errors.Join(fmt.Errorf("new segment: %w", err), f.Close())
	}
	ss.mu.Lock()
	ss.files[id] = sg
	ss.mu.Unlock()
	ss.cur = sg
	return nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	return errors.Join(d.Sync(), d.Close())
}

// read returns the bytes at l, through the segment's map unless pread
// (the verification pass, whose pages must not stay mapped). A location past
// the end of its file (a truncated segment) is io.ErrUnexpectedEOF; a
// segment that no longer exists is errSegmentGone.
func (ss *segments) read(l location, pread bool) ([]byte, error) {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	sg, ok := ss.files[l.seg]
	if !ok {
		return nil, errSegmentGone
	}
	if end := l.off + int64(l.n); !pread && l.off >= 0 && end <= int64(len(sg.m)) {
		if end > sg.size.Load() {
			return nil, fmt.Errorf("read segment %d at %d: %w", l.seg, l.off, io.ErrUnexpectedEOF)
		}
		buf, err := copyMapped(sg.m[l.off:end])
		if err != nil {
			return nil, fmt.Errorf("read segment %d at %d: %w", l.seg, l.off, err)
		}
		return buf, nil
	}
	buf := make([]byte, l.n)
	n, err := sg.f.ReadAt(buf, l.off)
	if n == l.n {
		return buf, nil
	}
	if err == nil || errors.Is(err, io.EOF) {
		err = io.ErrUnexpectedEOF
	}
	return nil, fmt.Errorf("read segment %d at %d: %w", l.seg, l.off, err)
}

// sync makes every append that returned before it was called durable.
func (ss *segments) sync() error {
	ss.smu.Lock()
	defer ss.smu.Unlock()
	ss.wmu.Lock()
	dirty := ss.dirty
	ss.dirty = nil
	for _, sg := range dirty {
		sg.dirty = false
	}
	ss.wmu.Unlock()
	for _, sg := range dirty {
		if err := sg.f.Sync(); err != nil {
			// Written but not known durable: sync it again next time.
			ss.wmu.Lock()
			if !sg.dirty {
				sg.dirty = true
				ss.dirty = append(ss.dirty, sg)
			}
			ss.wmu.Unlock()
			return fmt.Errorf("sync segment %d: %w", sg.id, err)
		}
	}
	return nil
}

// list returns the open segments, oldest first.
func (ss *segments) list() []*segment {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	out := make([]*segment, 0, len(ss.files))
	for _, sg := range ss.files {
		out = append(out, sg)
	}
	slices.SortFunc(out, func(a, b *segment) int { return int(a.id) - int(b.id) })
	return out
}

// current is the id of the segment appends go to (0: none yet).
func (ss *segments) current() uint32 {
	ss.wmu.Lock()
	defer ss.wmu.Unlock()
	if ss.cur == nil {
		return 0
	}
	return ss.cur.id
}

// get returns segment id, or nil.
func (ss *segments) get(id uint32) *segment {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	return ss.files[id]
}

// remove closes and deletes a sealed segment no index entry points at.
func (ss *segments) remove(id uint32) error {
	ss.wmu.Lock()
	if ss.cur != nil && ss.cur.id == id {
		ss.wmu.Unlock()
		return fmt.Errorf("segment %d is being written", id)
	}
	ss.dirty = slices.DeleteFunc(ss.dirty, func(sg *segment) bool { return sg.id == id })
	ss.wmu.Unlock()
	ss.mu.Lock()
	sg, ok := ss.files[id]
	delete(ss.files, id)
	ss.mu.Unlock()
	if !ok {
		return nil
	}
	err := errors.Join(unmapSegment(sg.m), sg.f.Close())
	if rerr := os.Remove(ss.path(id)); rerr != nil && !errors.Is(rerr, fs.ErrNotExist) {
		err = errors.Join(err, rerr)
	}
	return err
}
