//go:build e2e

package e2e

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/localnet"
	"github.com/xnode/xnode/overlay"
)

// xnodeBin returns the xnode binary the suite drives: $XNODE_BIN, or one
// built from this module into dir.
func xnodeBin(t *testing.T, dir string) string {
	t.Helper()
	if b := os.Getenv("XNODE_BIN"); b != "" {
		abs, err := filepath.Abs(b)
		if err != nil {
			t.Fatalf("XNODE_BIN %q: %v", b, err)
		}
		if _, err := os.Stat(abs); err != nil {
			t.Fatalf("XNODE_BIN %q: %v (run `make build` or unset XNODE_BIN)", b, err)
		}
		return abs
	}
	bin := filepath.Join(dir, "xnode")
	t.Logf("XNODE_BIN not set: building %s", bin)
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/xnode")
	cmd.Dir = ".." // the module root, seen from e2e/
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./cmd/xnode: %v\n%s", err, out)
	}
	return bin
}

// cluster is one process-mode localnet under test.
type cluster struct {
	name    string // for messages: "A (4 nodes)"
	dir     string
	bin     string
	layout  *localnet.Layout
	clients map[string]*api.Client // by node name

	mu   sync.Mutex
	pids map[string]map[int]bool // every pid a node ever had, for the leak check
}

// newCluster wraps the localnet in dir, already started, and registers a
// cleanup on t (the whole suite's test, so the network outlives the
// scenario that started it) that prints the nodes' log tails when the test
// failed and makes sure no node process survives the test.
func newCluster(t *testing.T, name, dir, bin string) (*cluster, error) {
	l, err := localnet.LoadLayout(dir)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	c := &cluster{name: name, dir: l.Dir, bin: bin, layout: l, clients: map[string]*api.Client{}, pids: map[string]map[int]bool{}}
	for _, n := range l.Nodes {
		cl, err := api.NewClient(n.API, nil)
		if err != nil {
			return nil, fmt.Errorf("%s: client for %s: %w", name, n.Name, err)
		}
		c.clients[n.Name] = cl
	}
	c.notePIDs()
	t.Cleanup(func() { c.cleanup(t) })
	return c, nil
}

// cleanup runs after the test: log tails on failure, then a forced stop.
func (c *cluster) cleanup(t *testing.T) {
	if t.Failed() {
		c.dumpLogs(t, 25)
	}
	c.notePIDs()
	if err := localnet.Down(c.dir, 10*time.Second); err != nil {
		t.Logf("%s: cleanup down: %v", c.name, err)
	}
	for name, pids := range c.allPIDs() {
		for pid := range pids {
			if c.runs(name, pid) {
				t.Errorf("%s: %s pid %d still running at cleanup; sending SIGKILL", c.name, name, pid)
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
}

// names lists the node names in order.
func (c *cluster) names() []string {
	out := make([]string, len(c.layout.Nodes))
	for i, n := range c.layout.Nodes {
		out[i] = n.Name
	}
	return out
}

func (c *cluster) node(name string) localnet.NodeInfo {
	n, err := c.layout.Node(name)
	if err != nil {
		panic(err) // a typo in the test
	}
	return n
}

// notePIDs records the current pid of every node.
func (c *cluster) notePIDs() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, n := range c.layout.Nodes {
		if pid := n.PID(); pid > 0 {
			if c.pids[n.Name] == nil {
				c.pids[n.Name] = map[int]bool{}
			}
			c.pids[n.Name][pid] = true
		}
	}
}

func (c *cluster) allPIDs() map[string]map[int]bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := map[string]map[int]bool{}
	for k, v := range c.pids {
		out[k] = copyPIDs(v)
	}
	return out
}

func copyPIDs(m map[int]bool) map[int]bool {
	out := make(map[int]bool, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// pidGone reports whether pid no longer runs: kill(pid, 0) says ESRCH, or
// the process is a zombie waiting for its parent to reap it (it has exited
// and holds no ports, files or memory).
func pidGone(pid int) bool {
	err := syscall.Kill(pid, 0)
	if errors.Is(err, syscall.ESRCH) {
		return true
	}
	stat, rerr := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if rerr != nil {
		return errors.Is(rerr, os.ErrNotExist)
	}
	if i := bytes.LastIndexByte(stat, ')'); i >= 0 && i+2 < len(stat) {
		return stat[i+2] == 'Z' || stat[i+2] == 'X'
	}
	return false
}

// exited returns an error naming the first of names whose process is
// gone, quoting the log lines that tell why ("shutting down" means it got
// SIGINT or SIGTERM, which this suite never sends outside a shutdown).
func (c *cluster) exited(names ...string) error {
	for _, n := range names {
		if c.node(n).Alive() {
			continue
		}
		why := c.grepLogs(n, 4, `"shutting down"`, "panic", "fatal", "FATAL")
		return fmt.Errorf("%s %s exited unexpectedly (log: %s)", c.name, n, strings.Join(why, " | "))
	}
	return nil
}

// runs reports whether pid is still a running node process of this
// cluster's node name, and not a recycled pid of some other program.
func (c *cluster) runs(name string, pid int) bool {
	if pidGone(pid) {
		return false
	}
	cmdline, err := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid))
	if err != nil {
		_, noProc := os.Stat("/proc/self")
		return noProc != nil // without /proc, trust the live pid; with it, the process just went
	}
	return bytes.Contains(cmdline, []byte(c.node(name).Home))
}

// cli runs the xnode binary and returns its standard output; a non-zero exit
// is an error quoting standard error.
func (c *cluster) cli(ctx context.Context, args ...string) ([]byte, error) {
	return runCLI(ctx, c.bin, args...)
}

func runCLI(ctx context.Context, bin string, args ...string) ([]byte, error) {
	cmd := exec.CommandContext(ctx, bin, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.Env = append(os.Environ(), "XNODE_API=", "XNODE_HOME=")
	if err := cmd.Run(); err != nil {
		return stdout.Bytes(), fmt.Errorf("xnode %s: %w\nstderr:\n%s", strings.Join(args, " "), err, tail(stderr.String(), 40))
	}
	return stdout.Bytes(), nil
}

// cliUp runs `xnode localnet up --json` and returns the node rows it prints.
func cliUp(ctx context.Context, bin, dir string, n int) ([]localnet.NodeStatus, error) {
	args := []string{"localnet", "up", "--json", "--dir", dir, "--timeout", "120s"}
	if n > 0 {
		args = append(args, "-n", strconv.Itoa(n))
	}
	out, err := runCLI(ctx, bin, args...)
	if err != nil {
		return nil, err
	}
	var sts []localnet.NodeStatus
	if err := json.Unmarshal(out, &sts); err != nil {
		return nil, fmt.Errorf("localnet up --json: decode %q: %w", tail(string(out), 10), err)
	}
	return sts, nil
}

// cliStatus runs `xnode localnet status --json`.
func (c *cluster) cliStatus(ctx context.Context) ([]localnet.NodeStatus, error) {
	out, err := c.cli(ctx, "localnet", "status", "--json", "--dir", c.dir)
	if err != nil {
		return nil, err
	}
	var sts []localnet.NodeStatus
	if err := json.Unmarshal(out, &sts); err != nil {
		return nil, fmt.Errorf("localnet status --json: decode %q: %w", tail(string(out), 10), err)
	}
	return sts, nil
}

// restart starts the nodes that are not running with `xnode localnet up`
// on the same directory (their data is kept) and waits until they are ready.
func (c *cluster) restart(ctx context.Context) ([]localnet.NodeStatus, error) {
	sts, err := cliUp(ctx, c.bin, c.dir, 0)
	c.notePIDs()
	return sts, err
}

// kill sends sig to the node's process.
func (c *cluster) kill(name string, sig syscall.Signal) error {
	return localnet.Kill(c.dir, name, sig)
}

// statuses queries /v1/status of the named nodes in parallel.
func (c *cluster) statuses(ctx context.Context, names []string) (map[string]api.Status, map[string]error) {
	var mu sync.Mutex
	out := map[string]api.Status{}
	errs := map[string]error{}
	var wg sync.WaitGroup
	for _, n := range names {
		wg.Go(func() {
			cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
			defer cancel()
			st, err := c.clients[n].Status(cctx)
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[n] = err
			} else {
				out[n] = st
			}
		})
	}
	wg.Wait()
	return out, errs
}

// heights returns the min and max chain height the named nodes report;
// nodes that do not answer are left out (ok false when none answers).
func (c *cluster) heights(ctx context.Context, names []string) (lo, hi int64, ok bool) {
	sts, _ := c.statuses(ctx, names)
	for _, st := range sts {
		if !ok || st.Height < lo {
			lo = st.Height
		}
		if !ok || st.Height > hi {
			hi = st.Height
		}
		ok = true
	}
	return lo, hi, ok
}

// waitHeightAbove waits until every named node reports a height above h.
func (c *cluster) waitHeightAbove(ctx context.Context, names []string, h int64, timeout time.Duration) (int64, error) {
	var lo int64
	err := poll(ctx, timeout, 250*time.Millisecond, func() (bool, error) {
		sts, errs := c.statuses(ctx, names)
		if len(errs) > 0 {
			return false, nil
		}
		lo = -1
		for _, st := range sts {
			if lo < 0 || st.Height < lo {
				lo = st.Height
			}
		}
		return lo > h, nil
	})
	if err != nil {
		return lo, fmt.Errorf("height of %v not above %d (lowest %d): %w", names, h, lo, err)
	}
	return lo, nil
}

// waitSameState waits until every named node has reported the same app hash
// at one common height at or above minHeight, comparing observations made
// at equal heights (a node's status gives its latest height and app hash as
// one pair). Two nodes reporting different app hashes at the same height is
// an error at once: the state diverged.
func (c *cluster) waitSameState(ctx context.Context, names []string, minHeight int64, timeout time.Duration) (int64, string, error) {
	seen := map[string]map[int64]string{}
	for _, n := range names {
		seen[n] = map[int64]string{}
	}
	var gotH int64
	var gotHash string
	err := poll(ctx, timeout, 100*time.Millisecond, func() (bool, error) {
		sts, _ := c.statuses(ctx, names)
		for n, st := range sts {
			if st.AppHash != "" && !st.CatchingUp {
				seen[n][st.Height] = st.AppHash
			}
		}
		// Divergence check and search for a common height.
		for h, hash := range seen[names[0]] {
			common := true
			for _, n := range names[1:] {
				other, ok := seen[n][h]
				if !ok {
					common = false
					continue
				}
				if other != hash {
					return false, fmt.Errorf("state diverged at height %d: %s has app hash %s, %s has %s", h, names[0], hash, n, other)
				}
			}
			if common && h >= minHeight && h > gotH {
				gotH, gotHash = h, hash
			}
		}
		return gotH > 0, nil
	})
	return gotH, gotHash, err
}

// memberStates returns how node sees every member: peer id → state.
func (c *cluster) memberStates(ctx context.Context, node string) (map[string]string, error) {
	cctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	defer cancel()
	ms, err := c.clients[node].Members(cctx)
	if err != nil {
		return nil, err
	}
	out := map[string]string{}
	for _, m := range ms {
		out[m.PeerID] = m.State
	}
	return out, nil
}

// waitMemberState waits until every observer sees every target member in
// one of the given states (a member absent from the table counts as "gone").
func (c *cluster) waitMemberState(ctx context.Context, observers, targets []string, timeout time.Duration, states ...string) error {
	var last string
	err := poll(ctx, timeout, 200*time.Millisecond, func() (bool, error) {
		if err := c.exited(observers...); err != nil {
			return false, err
		}
		for _, o := range observers {
			ms, err := c.memberStates(ctx, o)
			if err != nil {
				last = fmt.Sprintf("%s: %v", o, err)
				return false, nil
			}
			for _, tg := range targets {
				st, ok := ms[c.node(tg).PeerID]
				if !ok {
					st = "gone"
				}
				if !slices.Contains(states, st) {
					last = fmt.Sprintf("%s sees %s as %s", o, tg, st)
					return false, nil
				}
			}
		}
		return true, nil
	})
	if err != nil {
		return fmt.Errorf("%v not %v for %v (last: %s): %w", targets, states, observers, last, err)
	}
	return nil
}

// metric returns the value of an unlabelled counter or gauge from the
// node's /metrics.
func (c *cluster) metric(ctx context.Context, node, name string) (float64, error) {
	cctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(cctx, http.MethodGet, c.node(node).API+"/metrics", nil)
	if err != nil {
		return 0, err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return 0, fmt.Errorf("%s /metrics: %s", node, resp.Status)
	}
	sc := bufio.NewScanner(resp.Body)
	sc.Buffer(make([]byte, 64<<10), 1<<20)
	for sc.Scan() {
		line := sc.Text()
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			return strconv.ParseFloat(strings.TrimSpace(v), 64)
		}
	}
	if err := sc.Err(); err != nil {
		return 0, err
	}
	return 0, fmt.Errorf("%s /metrics has no %s", node, name)
}

// metricSum sums a metric over the named nodes; every node must answer.
func (c *cluster) metricSum(ctx context.Context, names []string, name string) (float64, map[string]float64, error) {
	per := map[string]float64{}
	var sum float64
	for _, n := range names {
		v, err := c.metric(ctx, n, name)
		if err != nil {
			return 0, per, err
		}
		per[n] = v
		sum += v
	}
	return sum, per, nil
}

// repairConfig reads the repair settings from a node's config.toml.
func (c *cluster) repairConfig(node string) (overlay.RepairConfig, error) {
	cfg, err := overlay.LoadConfig(overlay.Home(c.node(node).Home).ConfigPath())
	if err != nil {
		return overlay.RepairConfig{}, err
	}
	return cfg.Repair, nil
}

// dumpLogs logs the tail of every node's xnode.log.
func (c *cluster) dumpLogs(t *testing.T, lines int) {
	for _, n := range c.layout.Nodes {
		b, err := readTail(n.LogPath(), 256<<10)
		if err != nil {
			t.Logf("%s %s: no log: %v", c.name, n.Name, err)
			continue
		}
		t.Logf("%s: last %d lines of %s:\n%s", c.name, lines, n.LogPath(), tail(string(b), lines))
	}
}

// grepLogs returns up to max log lines of node that contain any of the words.
func (c *cluster) grepLogs(node string, max int, words ...string) []string {
	b, err := readTail(c.node(node).LogPath(), 4<<20)
	if err != nil {
		return nil
	}
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		for _, w := range words {
			if strings.Contains(line, w) {
				out = append(out, line)
				break
			}
		}
	}
	if len(out) > max {
		out = out[len(out)-max:]
	}
	return out
}

func readTail(path string, max int64) ([]byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	if fi, err := f.Stat(); err == nil && fi.Size() > max {
		if _, err := f.Seek(fi.Size()-max, io.SeekStart); err != nil {
			return nil, err
		}
	}
	return io.ReadAll(f)
}

// tail returns the last n lines of s, each cut to 600 bytes.
func tail(s string, n int) string {
	lines := strings.Split(strings.TrimRight(s, "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	for i, l := range lines {
		if len(l) > 600 {
			lines[i] = l[:600] + "..."
		}
	}
	return strings.Join(lines, "\n")
}

// poll calls cond every interval until it returns true or an error, or
// timeout passes (an error wrapping context.DeadlineExceeded).
func poll(ctx context.Context, timeout, interval time.Duration, cond func() (bool, error)) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	tick := time.NewTicker(interval)
	defer tick.Stop()
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("not within %s: %w", timeout, ctx.Err())
		case <-tick.C:
		}
	}
}

// wait blocks for d or until ctx ends.
func wait(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}
