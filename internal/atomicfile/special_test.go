//go:build linux

package atomicfile

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// sameNode fails t unless path is still the very inode it was: same type,
// permissions, device number, inode.
func sameNode(t *testing.T, path string, before os.FileInfo) {
	t.Helper()
	after, err := os.Lstat(path)
	if err != nil {
		t.Fatalf("%s after the write: %v", path, err)
	}
	if after.Mode() != before.Mode() {
		t.Fatalf("%s was %v, is now %v", path, before.Mode(), after.Mode())
	}
	b, a := before.Sys().(*syscall.Stat_t), after.Sys().(*syscall.Stat_t)
	if a.Ino != b.Ino || a.Rdev != b.Rdev {
		t.Fatalf("%s replaced: inode %d→%d, device %d→%d", path, b.Ino, a.Ino, b.Rdev, a.Rdev)
	}
}

// onlyEntry fails t if dir holds anything but name (a leftover temporary
// file).
func onlyEntry(t *testing.T, dir, name string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != name {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("%s holds %v, want only %s", dir, names, name)
	}
}

func TestWriteIntoCharacterDeviceInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "null")
	// A node for the null device (1, 3) of the test's own, so that a
	// failure replaces it and not the machine's /dev/null.
	if err := unix.Mknod(path, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
		t.Skipf("cannot create a character device with mknod here (needs root and CAP_MKNOD): %v", err)
	}
	if f, err := os.OpenFile(path, os.O_WRONLY, 0); err != nil {
		t.Skipf("cannot open a character device made with mknod here (device cgroup or nodev mount): %v", err)
	} else {
		f.Close()
	}
	before, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("blob "), 100_000)
	if err := WriteBytes(path, data, 0o644); err != nil {
		t.Fatalf("write into a character device: %v", err)
	}
	sameNode(t, path, before)
	if before.Mode()&os.ModeCharDevice == 0 {
		t.Fatalf("mknod made %v, not a character device", before.Mode())
	}
	onlyEntry(t, dir, "null")

	// A failing fill says so and leaves the device a device.
	boom := errors.New("boom")
	if err := Write(path, 0o644, func(w io.Writer) error { _, _ = w.Write([]byte("part")); return boom }); !errors.Is(err, boom) {
		t.Fatalf("failed fill: err %v, want boom", err)
	}
	sameNode(t, path, before)
	onlyEntry(t, dir, "null")
}

func TestWriteIntoFIFOInPlace(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "pipe")
	if err := unix.Mkfifo(path, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	before, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	data := bytes.Repeat([]byte("0123456789"), 200_000) // far over a pipe's buffer
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(path) // waits for the writer
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- b
	}()
	if err := WriteBytes(path, data, 0o644); err != nil {
		t.Fatalf("write into a FIFO: %v", err)
	}
	sameNode(t, path, before) // before waiting on a reader a replaced FIFO would strand
	if b := <-got; !bytes.Equal(b, data) {
		t.Fatalf("the reader got %d bytes, want the %d written", len(b), len(data))
	}
	onlyEntry(t, dir, "pipe")
}

func TestWriteIntoUnixSocket(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sock")
	l, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	before, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	got := make(chan []byte, 1)
	go func() {
		c, err := l.Accept()
		if err != nil {
			got <- nil
			return
		}
		defer c.Close()
		b, _ := io.ReadAll(c)
		got <- b
	}()
	if err := WriteBytes(path, []byte("to a socket"), 0o644); err != nil {
		t.Fatalf("write into a socket: %v", err)
	}
	sameNode(t, path, before)
	if b := <-got; string(b) != "to a socket" {
		t.Fatalf("the listener got %q", b)
	}
}

func TestWriteThroughSymlinkToDeviceKeepsBoth(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "pipe")
	if err := unix.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	link := filepath.Join(dir, "out")
	if err := os.Symlink(fifo, link); err != nil {
		t.Fatal(err)
	}
	linkBefore, _ := os.Lstat(link)
	got := make(chan []byte, 1)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- b
	}()
	if err := WriteBytes(link, []byte("via a link"), 0o644); err != nil {
		t.Fatal(err)
	}
	sameNode(t, link, linkBefore)
	if b := <-got; string(b) != "via a link" {
		t.Fatalf("the reader got %q", b)
	}
}

func TestWriteRefusesDirectory(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "d")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(target, []byte("x"), 0o644); !errors.Is(err, ErrIsDirectory) {
		t.Fatalf("err %v, want ErrIsDirectory", err)
	}
	if st, err := os.Stat(target); err != nil || !st.IsDir() {
		t.Fatalf("the directory is gone: %v", err)
	}
	onlyEntry(t, dir, "d")
}

func TestWriteThroughSymlinkReplacesTarget(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real")
	if err := os.WriteFile(target, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(dir, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if err := WriteBytes(link, []byte("new"), 0o600); err != nil {
		t.Fatal(err)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode().Type() != os.ModeSymlink {
		t.Fatalf("the link was replaced: %v %v", st.Mode(), err)
	}
	if b, _ := os.ReadFile(target); string(b) != "new" {
		t.Fatalf("target holds %q", b)
	}
}
