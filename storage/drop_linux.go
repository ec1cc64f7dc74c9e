//go:build linux

package storage

import (
	"fmt"
	"os"
	"unsafe"

	"golang.org/x/sys/unix"
)

// Dropping written pages (Config.DropWritten): segments are only appended
// to, so what was written to a segment since the last pass is the run of
// pages from where that pass stopped to the segment's size. Taken before a
// sync, every page below a head but the last one is clean after it; the
// last, partly written page is left for the next pass, since the next append
// writes it again.

// dropHeads returns, for each segment written since the last drop pass,
// where its data ends now.
func (ss *segments) dropHeads() map[uint32]int64 {
	heads := make(map[uint32]int64)
	for _, sg := range ss.list() {
		if h := sg.size.Load(); h > sg.dropped {
			heads[sg.id] = h
		}
	}
	return heads
}

// dropWritten drops from the page cache the pages of each segment from where
// the last pass stopped up to, not including, the page holding its head. It
// returns how many bytes left the cache. It runs on the store's loop only.
func (ss *segments) dropWritten(heads map[uint32]int64) (int64, error) {
	var total int64
	for id, head := range heads {
		ss.mu.RLock()
		sg := ss.files[id]
		var n int64
		var err error
		if sg != nil {
			n, err = dropSpan(sg, head)
		}
		ss.mu.RUnlock()
		total += n
		if err != nil {
			return total, err
		}
	}
	return total, nil
}

func dropSpan(sg *segment, head int64) (int64, error) {
	page := int64(os.Getpagesize())
	from := sg.dropped / page * page
	end := head / page * page
	if end <= from {
		return 0, nil
	}
	vec, err := residency(sg.f, from, end-from)
	if err != nil {
		return 0, err
	}
	before := cachedPages(vec)
	if err := unix.Fadvise(int(sg.f.Fd()), from, end-from, unix.FADV_DONTNEED); err != nil {
		return 0, fmt.Errorf("fadvise %s: %w", sg.f.Name(), err)
	}
	if vec, err = residency(sg.f, from, end-from); err != nil {
		return 0, err
	}
	sg.dropped = from + int64(droppedThrough(vec))*page
	return int64(before-cachedPages(vec)) * page, nil
}

// forget drops the pages of n bytes at off of segment sg from the page
// cache: the verification pass reads every block once, and must not leave
// the whole store cached.
func (ss *segments) forget(l location) {
	ss.mu.RLock()
	defer ss.mu.RUnlock()
	if sg := ss.files[l.seg]; sg != nil {
		_ = unix.Fadvise(int(sg.f.Fd()), l.off, int64(l.n), unix.FADV_DONTNEED)
	}
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
