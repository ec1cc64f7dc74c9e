//go:build linux

package main

import (
	"bytes"
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"golang.org/x/sys/unix"
)

// startSingleNode runs `xnode start` on a fresh home and returns its API URL
// once it is ready; the node stops when the test ends.
func startSingleNode(t *testing.T) string {
	t.Helper()
	api, _ := startNode(t, filepath.Join(t.TempDir(), "home"))
	return api
}

// nodeIdentity is what must not change about a special file that get
// writes to: its type and permissions, its inode and its device number.
type nodeIdentity struct {
	Mode      os.FileMode
	Ino, Rdev uint64
}

func (n nodeIdentity) String() string {
	return fmt.Sprintf("%v inode %d device %d", n.Mode, n.Ino, n.Rdev)
}

func identify(t *testing.T, path string) nodeIdentity {
	t.Helper()
	st, err := os.Lstat(path)
	if err != nil {
		t.Fatal(err)
	}
	sys := st.Sys().(*syscall.Stat_t)
	return nodeIdentity{st.Mode(), sys.Ino, sys.Rdev}
}

// TestGetOntoSpecialFiles: `xnode get CID -o X` onto a character device or
// a FIFO writes into it and leaves it what it was; `-o -` is standard
// output.
func TestGetOntoSpecialFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a node")
	}
	api := startSingleNode(t)
	data := make([]byte, 2<<20+17) // more than one chunk, far over a pipe's buffer
	rand.Read(data)
	r := cli(t, string(data), "put", "-", "--api", api)
	if r.code != 0 {
		t.Fatalf("put: %+v", r)
	}
	cid := strings.TrimSpace(r.stdout)

	t.Run("stdout", func(t *testing.T) {
		r := cli(t, "", "get", cid, "-o", "-", "--api", api)
		if r.code != 0 || r.stdout != string(data) {
			t.Fatalf("get -o -: exit %d, %d bytes on stdout, want %d (stderr %q)", r.code, len(r.stdout), len(data), r.stderr)
		}
	})

	t.Run("fifo", func(t *testing.T) {
		dir := t.TempDir()
		fifo := filepath.Join(dir, "pipe")
		if err := unix.Mkfifo(fifo, 0o600); err != nil {
			t.Fatal(err)
		}
		before := identify(t, fifo)
		got := make(chan []byte, 1)
		go func() {
			f, err := os.Open(fifo) // waits for get to open it
			if err != nil {
				got <- nil
				return
			}
			defer f.Close()
			b, _ := io.ReadAll(f)
			got <- b
		}()
		r := cli(t, "", "get", cid, "-o", fifo, "--api", api)
		if r.code != 0 {
			t.Fatalf("get -o FIFO: %+v", r)
		}
		if after := identify(t, fifo); after != before {
			t.Fatalf("get -o FIFO replaced it: %v, was %v", after, before)
		}
		if b := <-got; !bytes.Equal(b, data) {
			t.Fatalf("the FIFO's reader got %d bytes, want %d", len(b), len(data))
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("get -o FIFO left %d entries beside it", len(entries)-1)
		}
	})

	t.Run("character device", func(t *testing.T) {
		dir := t.TempDir()
		dev := filepath.Join(dir, "null")
		// The null device (1, 3) under a path of the test's own, so that a
		// failure replaces this node, not the machine's /dev/null.
		if err := unix.Mknod(dev, unix.S_IFCHR|0o666, int(unix.Mkdev(1, 3))); err != nil {
			t.Skipf("cannot create a character device with mknod here (needs root and CAP_MKNOD): %v", err)
		}
		if f, err := os.OpenFile(dev, os.O_WRONLY, 0); err != nil {
			t.Skipf("cannot open a character device made with mknod here (device cgroup or nodev mount): %v", err)
		} else {
			f.Close()
		}
		before := identify(t, dev)
		r := cli(t, "", "get", cid, "-o", dev, "--api", api)
		if r.code != 0 {
			t.Fatalf("get -o DEVICE: %+v", r)
		}
		if after := identify(t, dev); after != before {
			t.Fatalf("get -o DEVICE replaced it: %v, was %v", after, before)
		}
		// Still the null device: it reads as empty.
		if b, err := os.ReadFile(dev); err != nil || len(b) != 0 {
			t.Fatalf("the device reads %d bytes (%v), want the null device's 0", len(b), err)
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 1 {
			t.Fatalf("get -o DEVICE left %d entries beside it", len(entries)-1)
		}
	})
}
