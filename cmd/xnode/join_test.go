package main

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	tu "github.com/xnode/xnode/internal/testutil"
)

var (
	buildOnce sync.Once
	binPath   string
	buildErr  error
)

// binary builds xnode once for the tests that run it as a process.
func binary(t testing.TB) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "xnode-bin")
		if err != nil {
			buildErr = err
			return
		}
		binPath = filepath.Join(dir, "xnode")
		out, err := exec.Command("go", "build", "-o", binPath, ".").CombinedOutput()
		if err != nil {
			buildErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return binPath
}

type proc struct {
	api string
	cmd *exec.Cmd
	log *bytes.Buffer
}

// spawn runs `xnode <verb> ...` with fresh loopback ports and waits until
// its API is ready.
func spawn(t testing.TB, bin, home string, verbArgs ...string) *proc {
	t.Helper()
	apiPort := tu.FreePort(t)
	args := append(verbArgs, "--home", home,
		"--api-listen", fmt.Sprintf("127.0.0.1:%d", apiPort),
		"--p2p-listen", fmt.Sprintf("/ip4/127.0.0.1/tcp/%d", tu.FreePort(t)),
		"--cmt-p2p-listen", fmt.Sprintf("127.0.0.1:%d", tu.FreePort(t)),
		"--cmt-rpc-listen", fmt.Sprintf("127.0.0.1:%d", tu.FreePort(t)))
	p := &proc{api: fmt.Sprintf("http://127.0.0.1:%d", apiPort), log: &bytes.Buffer{}}
	p.cmd = exec.Command(bin, args...)
	p.cmd.Stdout, p.cmd.Stderr = p.log, p.log
	if err := p.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { p.cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		p.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(20 * time.Second):
			p.cmd.Process.Kill()
			<-exited
		}
	})
	ok := tu.WaitFor(90*time.Second, func() bool {
		select {
		case <-exited:
			return true
		default:
		}
		resp, err := http.Get(p.api + "/health/ready")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	})
	select {
	case <-exited:
		t.Fatalf("xnode %v exited early:\n%s", verbArgs, p.log)
	default:
	}
	if !ok {
		t.Fatalf("xnode %v not ready:\n%s", verbArgs, p.log)
	}
	return p
}

// TestJoinProcesses: a running dev node, and two more processes that join it
// from its multiaddr alone (as printed by `status --json`); both appear in
// the first node's members, and a blob put on one reads back on another.
func TestJoinProcesses(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	bin := binary(t)
	dir := t.TempDir()
	a := spawn(t, bin, filepath.Join(dir, "a"), "start")
	r := cli(t, "", "status", "--json", "--api", a.api)
	var st struct {
		Addrs   []string `json:"addrs"`
		ChainID string   `json:"chain_id"`
	}
	if r.code != 0 || json.Unmarshal([]byte(r.stdout), &st) != nil || len(st.Addrs) == 0 {
		t.Fatalf("status: %+v", r)
	}
	boot := st.Addrs[0]

	// Wrong chain id: refused, nothing written.
	wrong := filepath.Join(dir, "wrong")
	out, err := exec.Command(bin, "join", boot, "--chain-id", "not-"+st.ChainID, "--home", wrong).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), "wrong network") {
		t.Fatalf("join with a wrong chain id: %v\n%s", err, out)
	}
	if _, err := os.Stat(wrong); !os.IsNotExist(err) {
		t.Fatal("a refused join wrote its home")
	}
	// An unreachable bootstrap: refused within the timeout, naming the address.
	dead := strings.Replace(boot, strings.Split(strings.Split(boot, "/tcp/")[1], "/")[0], fmt.Sprint(tu.FreePort(t)), 1)
	start := time.Now()
	out, err = exec.Command(bin, "join", dead, "--timeout", "3s", "--home", filepath.Join(dir, "dead")).CombinedOutput()
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(string(out), dead) {
		t.Fatalf("join through a dead bootstrap: %v\n%s", err, out)
	}
	if time.Since(start) > 20*time.Second {
		t.Fatalf("join through a dead bootstrap took %s", time.Since(start))
	}

	b := spawn(t, bin, filepath.Join(dir, "b"), "join", boot, "--chain-id", st.ChainID)
	c := spawn(t, bin, filepath.Join(dir, "c"), "join", boot)
	// Joined, they are observers until they register: the first node lists
	// them only with --all. Its operator funds theirs, and they register.
	states := func(api string, all bool) map[string]int {
		args := []string{"members", "--json", "--api", api}
		if all {
			args = append(args, "--all")
		}
		r := cli(t, "", args...)
		var ms []struct {
			State string `json:"state"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ms) != nil {
			return nil
		}
		n := map[string]int{}
		for _, m := range ms {
			n[m.State]++
		}
		return n
	}
	tu.Eventually(t, 60*time.Second, func() bool {
		return states(a.api, true)["observer"] == 2 && states(a.api, false)["observer"] == 0
	}, "two observers on the first node")
	for name, p := range map[string]*proc{"b": b, "c": c} {
		var role struct {
			Role string `json:"role"`
		}
		if r := cli(t, "", "status", "--json", "--api", p.api); r.code != 0 || json.Unmarshal([]byte(r.stdout), &role) != nil || role.Role != "observer" {
			t.Fatalf("joined node: %+v", r)
		}
		var acct struct {
			Address string `json:"address"`
		}
		if r := cli(t, "", "account", "--json", "--api", p.api); r.code != 0 || json.Unmarshal([]byte(r.stdout), &acct) != nil {
			t.Fatalf("account of a joined node: %+v", r)
		}
		if r := cli(t, "", "send", acct.Address, "5000", "--home", filepath.Join(dir, "a"), "--api", a.api); r.code != 0 {
			t.Fatalf("fund a joined node: %+v", r)
		}
		// Signed with the joined node's keys, relayed by the first node,
		// whose state already holds the transfer.
		if r := cli(t, "", "node", "register", "--stake", "1000", "--home", filepath.Join(dir, name), "--api", a.api); r.code != 0 {
			t.Fatalf("register a joined node: %+v", r)
		}
	}
	tu.Eventually(t, 60*time.Second, func() bool {
		r := cli(t, "", "members", "--json", "--api", a.api)
		var ms []struct {
			State string `json:"state"`
		}
		if r.code != 0 || json.Unmarshal([]byte(r.stdout), &ms) != nil {
			return false
		}
		alive := 0
		for _, m := range ms {
			if m.State == "alive" {
				alive++
			}
		}
		return alive == 3
	}, "three alive members on the first node")

	data := make([]byte, 5<<20+3)
	rand.Read(data)
	f := filepath.Join(dir, "blob")
	os.WriteFile(f, data, 0o644)
	r = cli(t, "", "put", f, "--api", c.api)
	if r.code != 0 {
		t.Fatalf("put on the third node: %+v", r)
	}
	outFile := filepath.Join(dir, "copy")
	if r = cli(t, "", "get", strings.TrimSpace(r.stdout), "-o", outFile, "--api", b.api); r.code != 0 {
		t.Fatalf("get on the second node: %+v", r)
	}
	if got, _ := os.ReadFile(outFile); !bytes.Equal(got, data) {
		t.Fatal("the second node returned different bytes")
	}
}

// TestCrashRestart kills a running node with SIGKILL (no clean shutdown)
// and restarts it on the same home: the height and app hash carry on from
// where they were and no committed record or stored blob is lost.
func TestCrashRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("runs processes")
	}
	bin := binary(t)
	home := filepath.Join(t.TempDir(), "home")
	p := spawn(t, bin, home, "start")
	f := filepath.Join(t.TempDir(), "blob")
	data := make([]byte, 1<<20+77)
	rand.Read(data)
	os.WriteFile(f, data, 0o644)
	if r := cli(t, "", "ns", "register", "crash", "--api", p.api); r.code != 0 {
		t.Fatalf("ns register: %+v", r)
	}
	for i := range 3 {
		if r := cli(t, "", "submit", fmt.Sprintf("crash/k%d", i), f, "--api", p.api); r.code != 0 {
			t.Fatalf("submit: %+v", r)
		}
	}
	type status struct {
		Height  int64  `json:"height"`
		AppHash string `json:"app_hash"`
	}
	var before status
	r := cli(t, "", "status", "--json", "--api", p.api)
	json.Unmarshal([]byte(r.stdout), &before)
	if err := p.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	p.cmd.Process.Wait()

	q := spawn(t, bin, home, "start")
	var after status
	tu.Eventually(t, 30*time.Second, func() bool {
		r := cli(t, "", "status", "--json", "--api", q.api)
		return r.code == 0 && json.Unmarshal([]byte(r.stdout), &after) == nil && after.Height > before.Height
	}, "height continues past %d", before.Height)
	if after.AppHash == "" {
		t.Fatal("no app hash after restart")
	}
	for i := range 3 {
		var rec struct{ Status, CID string }
		tu.Eventually(t, 30*time.Second, func() bool {
			r := cli(t, "", "record", fmt.Sprintf("crash/k%d", i), "--json", "--api", q.api)
			return r.code == 0 && json.Unmarshal([]byte(r.stdout), &rec) == nil && rec.Status == "verified"
		}, "record k%d survives the crash, verified", i)
		out := filepath.Join(t.TempDir(), "copy")
		if r := cli(t, "", "get", rec.CID, "-o", out, "--api", q.api); r.code != 0 {
			t.Fatalf("get after crash: %+v", r)
		}
		if got, _ := os.ReadFile(out); !bytes.Equal(got, data) {
			t.Fatal("blob changed across the crash")
		}
	}
}
