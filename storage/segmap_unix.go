//go:build unix

package storage

import (
	"fmt"
	"io"
	"os"
	"runtime/debug"

	"golang.org/x/sys/unix"
)

// Segments are read through a read-only shared memory map, as badger reads
// its value log: a copy out of the page cache in user space, where pread
// costs a system call per block and, on a loaded machine, a wait for the
// thread to get its processor back. The map covers the segment's largest
// size from the start, so a segment still being appended to is read
// through the same map (on Linux the page cache is shared by pwrite and
// the map). Written pages are never mapped: writes stay pwrite.
//
// A page of the map past the end of the file faults with SIGBUS when
// touched (a truncated segment). copyMapped turns that fault into an error
// for the one read, so a damaged segment costs its blocks, not the process.

// mapSegment maps n bytes of f read-only.
func mapSegment(f *os.File, n int64) ([]byte, error) {
	if n <= 0 {
		return nil, nil
	}
	m, err := unix.Mmap(int(f.Fd()), 0, int(n), unix.PROT_READ, unix.MAP_SHARED)
	if err != nil {
		return nil, fmt.Errorf("map %s: %w", f.Name(), err)
	}
	return m, nil
}

func unmapSegment(m []byte) error {
	if m == nil {
		return nil
	}
	return unix.Munmap(m)
}

// copyMapped returns a copy of src, a span of a segment's map; a fault (the
// file is shorter than the span) is io.ErrUnexpectedEOF. The copy is made
// by append, which does not zero the new slice first.
func copyMapped(src []byte) (out []byte, err error) {
	old := debug.SetPanicOnFault(true)
	defer func() {
		debug.SetPanicOnFault(old)
		if r := recover(); r != nil {
			out, err = nil, fmt.Errorf("%w: fault reading the segment map: %v", io.ErrUnexpectedEOF, r)
		}
	}()
	return append([]byte(nil), src...), nil
}
