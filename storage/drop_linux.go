//go:build linux

package storage

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unsafe"

	"golang.org/x/sys/unix"
)

// pageDropper drops value-log pages the store has written, once they are
// synced, from the page cache (see Config.DropWritten). It is used by the
// store's loop only.
//
// Badger appends to the newest value-log file only, so what was written to a
// file since the last pass is the run of pages from where that pass stopped
// to the file's write head. The head is where the file's data ends
// (lseek SEEK_HOLE): badger preallocates the file sparsely, and the
// filesystem counts written pages as data even before they reach the disk.
// Pages read ahead past the head are not data, and stay. On a filesystem
// without holes the head is the preallocated end, and the written pages stay
// cached until the file is full.
type pageDropper struct {
	dir string
	// first is the newest value-log file at Open. Older files are never
	// written again (badger appends to the newest file, value-log GC
	// included), so their cached pages are reads and stay.
	first uint32
	// through is, per file, the offset the last pass dropped up to.
	through map[uint32]int64
}

func newPageDropper(dir string) (*pageDropper, error) {
	fids, err := vlogFiles(dir)
	if err != nil {
		return nil, err
	}
	d := &pageDropper{dir: dir, through: make(map[uint32]int64)}
	if len(fids) > 0 {
		d.first = fids[len(fids)-1]
	}
	return d, nil
}

// heads returns where the written data of each file that may have pages to
// drop ends now. Taken before a sync, every page below a head but the last
// one is clean after it.
func (d *pageDropper) heads() (map[uint32]int64, error) {
	fids, err := vlogFiles(d.dir)
	if err != nil {
		return nil, err
	}
	for fid := range d.through {
		if _, ok := slices.BinarySearch(fids, fid); !ok {
			delete(d.through, fid) // removed by value-log GC
		}
	}
	heads := make(map[uint32]int64)
	for _, fid := range fids {
		if fid < d.first {
			continue
		}
		head, err := d.head(fid)
		if err != nil {
			return nil, err
		}
		if head > d.through[fid] {
			heads[fid] = head
		}
	}
	return heads, nil
}

func (d *pageDropper) head(fid uint32) (int64, error) {
	f, err := d.open(fid)
	if f == nil {
		return 0, err
	}
	defer f.Close()
	head, err := unix.Seek(int(f.Fd()), d.through[fid], unix.SEEK_HOLE)
	if errors.Is(err, unix.ENXIO) {
		return 0, nil // the file is shorter than what was dropped: nothing new
	}
	if err != nil {
		return 0, fmt.Errorf("seek hole in %s: %w", f.Name(), err)
	}
	return head, nil
}

// open opens value-log file fid, or returns nil and no error if value-log GC
// has removed it since it was listed.
func (d *pageDropper) open(fid uint32) (*os.File, error) {
	f, err := os.Open(filepath.Join(d.dir, vlogName(fid)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	return f, err
}

// drop drops from the page cache the pages of each file from where the last
// pass stopped up to, and not including, the page holding the head: badger
// writes that one again. It returns how many bytes left the cache.
func (d *pageDropper) drop(heads map[uint32]int64) (int64, error) {
	var total int64
	for fid, head := range heads {
		n, err := d.dropFile(fid, head)
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func (d *pageDropper) dropFile(fid uint32, head int64) (int64, error) {
	page := int64(os.Getpagesize())
	from := d.through[fid] / page * page
	end := (head - 1) / page * page
	if end <= from {
		return 0, nil
	}
	f, err := d.open(fid)
	if f == nil {
		return 0, err
	}
	defer f.Close()
	vec, err := residency(f, from, end-from)
	if err != nil {
		return 0, err
	}
	before := cachedPages(vec)
	if err := unix.Fadvise(int(f.Fd()), from, end-from, unix.FADV_DONTNEED); err != nil {
		return 0, fmt.Errorf("fadvise %s: %w", f.Name(), err)
	}
	if vec, err = residency(f, from, end-from); err != nil {
		return 0, err
	}
	d.through[fid] = from + int64(droppedThrough(vec))*page
	return int64(before-cachedPages(vec)) * page, nil
}

// residency reports which pages of f's n bytes from off (a page multiple)
// are in the page cache, one byte a page as mincore fills it. It maps the
// span read-only for the call, which faults nothing in.
func residency(f *os.File, off, n int64) ([]byte, error) {
	page := int64(os.Getpagesize())
	m, err := unix.Mmap(int(f.Fd()), off, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	defer unix.Munmap(m)
	vec := make([]byte, (n+page-1)/page)
	if err := mincore(m, vec); err != nil {
		return nil, fmt.Errorf("mincore %s: %w", f.Name(), err)
	}
	return vec, nil
}

// mincore fills vec with the page-cache residency of the pages under b.
func mincore(b, vec []byte) error {
	_, _, errno := unix.Syscall(unix.SYS_MINCORE, uintptr(unsafe.Pointer(unsafe.SliceData(b))), uintptr(len(b)), uintptr(unsafe.Pointer(unsafe.SliceData(vec))))
	if errno != 0 {
		return errno
	}
	return nil
}

// vlogName is the name badger gives value-log file fid.
func vlogName(fid uint32) string { return fmt.Sprintf("%06d.vlog", fid) }

// vlogFiles lists the numbers of the value-log files in dir, ascending.
func vlogFiles(dir string) ([]uint32, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	var fids []uint32
	for _, e := range ents {
		name, ok := strings.CutSuffix(e.Name(), ".vlog")
		if !ok {
			continue
		}
		if fid, err := strconv.ParseUint(name, 10, 32); err == nil {
			fids = append(fids, uint32(fid))
		}
	}
	slices.Sort(fids)
	return fids, nil
}
