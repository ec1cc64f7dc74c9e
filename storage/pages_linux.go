//go:build linux

package storage

import (
	"bufio"
	"bytes"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// releaseMappedPages drops this process's references to the resident pages
// of the segment files and of badger's value-log files (madvise
// MADV_DONTNEED) and returns how many bytes of mappings it advised.
//
// Why: segments are read, and badger v4 reads and writes the value log,
// through shared memory maps, so every chunk served stays counted in the
// process's RSS (as RssFile) until the kernel needs the memory. Those pages are only page
// cache, but a node that has moved a gigabyte would look like it holds one.
// For a shared file mapping MADV_DONTNEED only unmaps the pages: they stay in
// the page cache (dirty ones stay dirty and reach the disk as usual), and the
// next read faults them back in from there. No data changes.
//
// It holds ops exclusively: value-log maps move only when badger writes
// (commits and value-log GC, both ours and both under ops) or deletes a
// rewritten file (when our last iterator closes, also under ops), and
// segment maps only when a segment is created or compacted away (under
// ops), so the ranges read from /proc/self/maps are still those files' when
// advised.
func (s *Store) releaseMappedPages() (int64, error) {
	if s.cfg.InMemory || s.realDir == "" {
		return 0, nil
	}
	s.ops.Lock()
	defer s.ops.Unlock()
	if s.closed.Load() {
		return 0, ErrClosed
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, err
	}
	var total int64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	sc.Buffer(make([]byte, 0, 4096), 1<<20)
	for sc.Scan() {
		// start-end perms offset dev inode path
		f := strings.Fields(sc.Text())
		if len(f) < 6 {
			continue
		}
		path := strings.Join(f[5:], " ")
		vlog := strings.HasSuffix(path, ".vlog") && filepath.Dir(path) == s.realDir
		seg := strings.HasSuffix(path, segmentSuffix) && filepath.Dir(path) == filepath.Join(s.realDir, segmentDir)
		if !vlog && !seg {
			continue
		}
		lo, hi, ok := strings.Cut(f[0], "-")
		if !ok {
			continue
		}
		start, err1 := strconv.ParseUint(lo, 16, 64)
		end, err2 := strconv.ParseUint(hi, 16, 64)
		if err1 != nil || err2 != nil || end <= start {
			continue
		}
		if _, _, errno := syscall.Syscall(syscall.SYS_MADVISE, uintptr(start), uintptr(end-start), syscall.MADV_DONTNEED); errno != 0 {
			return total, errno
		}
		total += int64(end - start)
	}
	return total, sc.Err()
}

// resolveDir returns the absolute, symlink-free form of dir, as
// /proc/self/maps names the files in it.
func resolveDir(dir string) string {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return ""
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real
	}
	return abs
}
