package atomicfile

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"os"
	"path/filepath"
)

// Write fills a temporary file beside path with fill and renames it to path
// with the given mode, only if fill and the sync succeeded. On any error
// path is untouched and the temporary file is removed.
//
// A path that exists and is not a regular file (a character or block
// device such as /dev/null, a FIFO, a Unix socket, or a symbolic link to
// one) is never renamed over: fill writes into it in place, as a shell
// redirection would, and mode is not applied. A device or FIFO is opened
// for writing (a FIFO waits for its reader); a socket is connected to as a
// stream. Such a target has no old contents to keep, so a failed fill may
// leave part of its output there. A directory is refused.
//
// A symbolic link is followed: the file it names is replaced, and the link
// stays a link.
func Write(path string, mode os.FileMode, fill func(io.Writer) error) error {
	if st, err := os.Lstat(path); err == nil && st.Mode().Type() == fs.ModeSymlink {
		if target, err := filepath.EvalSymlinks(path); err == nil {
			path = target
		}
	}
	if st, err := os.Stat(path); err == nil && !st.Mode().IsRegular() {
		done, err := writeInPlace(path, st, fill)
		if done {
			return err
		}
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return err
	}
	defer os.Remove(f.Name()) // a no-op after the rename
	if err := fill(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Chmod(mode); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(f.Name(), path)
}

// ErrIsDirectory is Write's answer for a path that names a directory.
var ErrIsDirectory = errors.New("atomicfile: is a directory")

// writeInPlace writes fill's output into the non-regular file at path. done
// is false only if path turned out to be a regular file once opened (it was
// replaced since the Stat): then Write goes the atomic way after all.
func writeInPlace(path string, st fs.FileInfo, fill func(io.Writer) error) (done bool, err error) {
	switch {
	case st.IsDir():
		return true, fmt.Errorf("%w: %s", ErrIsDirectory, path)
	case st.Mode().Type() == fs.ModeSocket:
		conn, err := net.Dial("unix", path)
		if err != nil {
			return true, fmt.Errorf("atomicfile: socket %s: %w", path, err)
		}
		if err := fill(conn); err != nil {
			conn.Close()
			return true, err
		}
		if uc, ok := conn.(*net.UnixConn); ok {
			if err := uc.CloseWrite(); err != nil {
				conn.Close()
				return true, fmt.Errorf("atomicfile: socket %s: %w", path, err)
			}
		}
		return true, conn.Close()
	}
	// No O_CREATE: if the device or FIFO went away, nothing is created in
	// its place. No O_TRUNC: devices and FIFOs have nothing to cut.
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if err != nil {
		return true, err
	}
	if fst, err := f.Stat(); err == nil && fst.Mode().IsRegular() {
		f.Close()
		return false, nil
	}
	if err := fill(f); err != nil {
		f.Close()
		return true, err
	}
	// No Sync: devices and FIFOs have nothing to make durable, and many
	// refuse fsync (EINVAL).
	return true, f.Close()
}

// WriteBytes is Write of a byte slice.
func WriteBytes(path string, data []byte, mode os.FileMode) error {
	return Write(path, mode, func(w io.Writer) error {
		_, err := io.Copy(w, bytes.NewReader(data))
		return err
	})
}
