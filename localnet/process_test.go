package localnet

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/xnode/xnode/internal/testutil"
)

// buildXnode compiles the xnode binary into a temporary directory.
func buildXnode(t *testing.T) string {
	t.Helper()
	if testing.Short() {
		t.Skip("builds and runs the xnode binary")
	}
	bin := filepath.Join(t.TempDir(), "xnode")
	ctx, cancel := context.WithTimeout(t.Context(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "go", "build", "-o", bin, "github.com/xnode/xnode/cmd/xnode").CombinedOutput()
	if err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// gone reports whether no process has pid (a reaped child or none at all).
func gone(pid int) bool {
	return errors.Is(syscall.Kill(pid, 0), syscall.ESRCH)
}

func TestProcessUpStatusRestartDown(t *testing.T) {
	bin := buildXnode(t)
	dir := filepath.Join(t.TempDir(), "net")
	t.Cleanup(func() { _ = Down(dir, 5*time.Second) }) // nothing left behind if the test fails midway
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()

	l, err := Up(ctx, Options{N: 2, Dir: dir, BasePort: freeBase(t, 2), Bin: bin, ReadyTimeout: 60 * time.Second})
	if err != nil {
		t.Fatalf("up: %v", err)
	}
	sts, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(sts) != 2 {
		t.Fatalf("status lists %d nodes, want 2", len(sts))
	}
	pids := map[string]int{}
	for i, s := range sts {
		if !s.Alive || s.PID <= 0 || s.Height < ReadyHeight || s.PeerID != l.Nodes[i].PeerID || s.API != l.Nodes[i].API || s.Name != l.Nodes[i].Name {
			t.Fatalf("status %+v after up; want alive with height >= %d", s, ReadyHeight)
		}
		pids[s.Name] = s.PID
	}

	// A killed node shows dead, and up restarts it with its data.
	if err := Kill(dir, "node1", syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 10*time.Second, func() bool { return gone(pids["node1"]) }, "killed node1 still running")
	sts, err = Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sts[1].Alive || sts[1].Height != 0 || !sts[0].Alive {
		t.Fatalf("status after killing node1: %+v", sts)
	}
	if _, err := Up(ctx, Options{Dir: dir, Bin: bin, ReadyTimeout: 60 * time.Second}); err != nil {
		t.Fatalf("up after a kill: %v", err)
	}
	sts, err = Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	if sts[0].PID != pids["node0"] {
		t.Fatalf("up restarted running node0 (pid %d → %d)", pids["node0"], sts[0].PID)
	}
	if !sts[1].Alive || sts[1].PID == pids["node1"] || sts[1].Height < ReadyHeight {
		t.Fatalf("node1 after restart: %+v", sts[1])
	}
	pids["node1"] = sts[1].PID

	// node0, which the others bootstrapped through, can be restarted alone:
	// it bootstraps through the nodes that are up.
	if err := Kill(dir, "node0", syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	testutil.Eventually(t, 20*time.Second, func() bool { return gone(pids["node0"]) }, "node0 still running after SIGTERM")
	pid, err := StartNode(dir, "node0")
	if err != nil {
		t.Fatalf("start node0: %v", err)
	}
	if err := WaitReady(ctx, dir, 60*time.Second); err != nil {
		t.Fatalf("after restarting node0: %v", err)
	}
	pids["node0"] = pid
	if again, err := StartNode(dir, "node0"); err != nil || again != pid {
		t.Fatalf("StartNode of a running node: pid %d, %v; want %d", again, err, pid)
	}

	if err := Down(dir, 15*time.Second); err != nil {
		t.Fatalf("down: %v", err)
	}
	for name, pid := range pids {
		testutil.Eventually(t, 10*time.Second, func() bool { return gone(pid) }, "%s (pid %d) still exists after down", name, pid)
		n, _ := l.Node(name)
		if _, err := os.Stat(n.PIDPath()); !errors.Is(err, os.ErrNotExist) {
			t.Fatalf("%s pid file left after down (%v)", name, err)
		}
	}
	sts, err = Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Alive || s.PID != 0 {
			t.Fatalf("status after down: %+v", s)
		}
	}
	// Node logs were written where the layout says.
	if b, err := os.ReadFile(l.Nodes[0].LogPath()); err != nil || !strings.Contains(string(b), "node started") {
		t.Fatalf("node0 log lacks the start line (%v)", err)
	}
}

func TestUpReportsAFailingNodeWithItsLog(t *testing.T) {
	// A "binary" that says why it fails and exits, as a node with a broken
	// config would.
	bin := filepath.Join(t.TempDir(), "broken-xnode")
	script := "#!/bin/sh\necho \"starting with $*\"\necho 'fatal: cannot open block store' >&2\nexit 3\n"
	if err := os.WriteFile(bin, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	dir := filepath.Join(t.TempDir(), "net")
	_, err := Up(t.Context(), Options{N: 2, Dir: dir, BasePort: freeBase(t, 2), Bin: bin, ReadyTimeout: 20 * time.Second})
	if !errors.Is(err, ErrNotReady) {
		t.Fatalf("up with a failing binary: %v; want ErrNotReady", err)
	}
	for _, want := range []string{"node0", "exited", "fatal: cannot open block store", "start --home " + filepath.Join(dir, "node0")} {
		if !strings.Contains(err.Error(), want) {
			t.Fatalf("error does not mention %q:\n%v", want, err)
		}
	}
	sts, err := Status(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, s := range sts {
		if s.Alive {
			t.Fatalf("%s left running after a failed up", s.Name)
		}
	}
}

func TestStatusAndDownWithoutLocalnet(t *testing.T) {
	dir := t.TempDir()
	if _, err := Status(dir); !errors.Is(err, ErrNoLocalnet) {
		t.Fatalf("status of an empty dir: %v", err)
	}
	if err := Down(dir, time.Second); !errors.Is(err, ErrNoLocalnet) {
		t.Fatalf("down of an empty dir: %v", err)
	}
	if _, err := StartNode(dir, "node0"); !errors.Is(err, ErrNoLocalnet) {
		t.Fatalf("start node of an empty dir: %v", err)
	}
}

func TestTailFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "log")
	var b strings.Builder
	for i := range 50 {
		b.WriteString("line ")
		b.WriteString(string(rune('a' + i%26)))
		b.WriteString("\n")
	}
	if err := os.WriteFile(path, []byte(b.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	got := strings.Split(tailFile(path, 20), "\n")
	if len(got) != 20 || got[19] != "line x" || got[0] != "line e" {
		t.Fatalf("tail: %q", got)
	}
	if !strings.Contains(tailFile(filepath.Join(t.TempDir(), "none"), 5), "no log") {
		t.Fatal("tail of a missing file should say so")
	}
}
