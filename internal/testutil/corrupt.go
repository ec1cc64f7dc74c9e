package testutil

import (
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// FlipByteAt inverts the byte at off in the file at path, as a disk fault
// would, and syncs the file.
func FlipByteAt(tb testing.TB, path string, off int64) {
	tb.Helper()
	f, err := os.OpenFile(path, os.O_RDWR, 0)
	if err != nil {
		tb.Fatalf("flip a byte: %v", err)
	}
	defer f.Close()
	b := make([]byte, 1)
	if _, err := f.ReadAt(b, off); err != nil {
		tb.Fatalf("flip a byte of %s at %d: %v", path, off, err)
	}
	b[0] ^= 0xff
	if _, err := f.WriteAt(b, off); err != nil {
		tb.Fatalf("flip a byte of %s at %d: %v", path, off, err)
	}
	if err := f.Sync(); err != nil {
		tb.Fatalf("flip a byte of %s: %v", path, err)
	}
}

// FlipByteInside finds the one file under dir that holds data (a block's
// bytes, at least 64 of them) and inverts the byte in the middle of them
// there, whatever the store's layout. It returns the file's path. It fails
// the test unless exactly one copy of data is found.
func FlipByteInside(tb testing.TB, dir string, data []byte) string {
	tb.Helper()
	if len(data) < 64 {
		tb.Fatalf("FlipByteInside: %d bytes are too few to find reliably", len(data))
	}
	var found []string
	var at []int64
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || !d.Type().IsRegular() {
			return err
		}
		content, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for from := 0; ; {
			i := bytes.Index(content[from:], data)
			if i < 0 {
				break
			}
			found = append(found, path)
			at = append(at, int64(from+i))
			from += i + 1
		}
		return nil
	})
	if err != nil {
		tb.Fatalf("FlipByteInside: %v", err)
	}
	if len(found) != 1 {
		tb.Fatalf("FlipByteInside: %d copies of the %d bytes under %s (%v), want 1", len(found), len(data), dir, found)
	}
	FlipByteAt(tb, found[0], at[0]+int64(len(data)/2))
	return found[0]
}
