package localnet

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/api"
	"github.com/xnode/xnode/overlay"
)

// ErrNotReady means a node did not become ready in time, or exited.
var ErrNotReady = fmt.Errorf("localnet: %w: node not ready", xnode.ErrUnavailable)

// ReadyHeight is the chain height Up waits for: height 2 means the validators
// have agreed on at least one block after the genesis one.
const ReadyHeight = 2

// logTailLines is how much of a failed node's log an error quotes.
const logTailLines = 20

// NodeStatus is one row of `xnode localnet status --json` (contract).
type NodeStatus struct {
	Name   string `json:"name"`
	PeerID string `json:"peer_id"`
	API    string `json:"api"`
	PID    int    `json:"pid"`
	Alive  bool   `json:"alive"`
	Height int64  `json:"height"`
}

// Up starts the localnet in opts.Dir in the background, generating it first
// when the directory holds none; an existing one is restarted with its data.
// Nodes already running are left alone. It returns once every node's
// /health/ready answers 200 and its chain is at ReadyHeight, within
// opts.ReadyTimeout; otherwise it stops the nodes it started and returns an
// error quoting the end of the failing node's log.
func Up(ctx context.Context, opts Options) (*Layout, error) {
	o, err := opts.withDefaults(0)
	if err != nil {
		return nil, err
	}
	l, err := LoadLayout(o.Dir)
	switch {
	case errors.Is(err, ErrNoLocalnet):
		if l, err = Generate(opts); err != nil {
			return nil, err
		}
	case err != nil:
		return nil, err
	default:
		if o.N != 0 && o.N != len(l.Nodes) {
			return nil, fmt.Errorf("localnet: %w: %s holds a %d-node localnet, not %d; run 'xnode localnet down --dir %s' and remove the directory to make a new one",
				xnode.ErrConflict, l.Dir, len(l.Nodes), o.N, l.Dir)
		}
		if o.BasePort != 0 && o.BasePort != l.BasePort {
			return nil, fmt.Errorf("localnet: %w: %s was made with base port %d, not %d; its ports cannot change",
				xnode.ErrConflict, l.Dir, l.BasePort, o.BasePort)
		}
		if opts.ChainID != "" && opts.ChainID != l.ChainID {
			return nil, fmt.Errorf("localnet: %w: %s runs chain %q, not %q", xnode.ErrConflict, l.Dir, l.ChainID, opts.ChainID)
		}
	}
	if l.Bin != o.Bin {
		l.Bin = o.Bin
		if err := l.save(); err != nil {
			return nil, err
		}
	}
	if err := l.start(ctx, o.ReadyTimeout); err != nil {
		return l, err
	}
	return l, nil
}

// proc is a node process this package started and is reaping.
type proc struct {
	node   NodeInfo
	pid    int
	exited chan struct{}
}

// start launches every node that is not running and waits for all to be ready.
func (l *Layout) start(ctx context.Context, timeout time.Duration) (err error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var todo []NodeInfo
	for _, n := range l.Nodes {
		if !n.alive() {
			todo = append(todo, n)
		}
	}
	// Ports first, so a clash is reported before anything starts.
	for _, n := range todo {
		if err := checkFree(n.Ports.uses(n.Name)); err != nil {
			return err
		}
	}
	var started []*proc
	defer func() {
		if err != nil && len(started) > 0 {
			// Leave nothing half up behind a failed command.
			nodes := make([]NodeInfo, len(started))
			for i, p := range started {
				nodes[i] = p.node
			}
			_ = l.stop(nodes, 5*time.Second)
		}
	}()
	anyUp := len(todo) < len(l.Nodes)
	for _, n := range todo {
		p, err := l.startNode(n)
		if err != nil {
			return err
		}
		started = append(started, p)
		if !anyUp {
			// The others bootstrap through the first node: it must be up
			// before they start (a node whose bootstrap peers are all
			// unreachable refuses to start).
			if err := waitLive(ctx, p); err != nil {
				return err
			}
			anyUp = true
		}
	}
	return l.waitReady(ctx, l.Nodes, started, timeout)
}

// StartNode starts the node called name of the localnet in dir, unless it
// is running, and returns its pid without waiting for it to be ready. It
// runs the binary recorded by the last Up (or this executable).
func StartNode(dir, name string) (int, error) {
	l, err := LoadLayout(dir)
	if err != nil {
		return 0, err
	}
	n, err := l.Node(name)
	if err != nil {
		return 0, err
	}
	if n.alive() {
		return readPID(n), nil
	}
	if err := checkFree(n.Ports.uses(n.Name)); err != nil {
		return 0, err
	}
	p, err := l.startNode(n)
	if err != nil {
		return 0, err
	}
	return p.pid, nil
}

// startNode points the node's bootstrap at the members that are up, then
// runs `BIN start --home HOME` in the background.
func (l *Layout) startNode(n NodeInfo) (*proc, error) {
	bin := l.Bin
	if bin == "" {
		var err error
		if bin, err = os.Executable(); err != nil {
			return nil, fmt.Errorf("localnet: cannot find the xnode binary: %w", err)
		}
	}
	if err := l.refreshBootstrap(n); err != nil {
		return nil, err
	}
	logf, err := os.OpenFile(n.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return nil, fmt.Errorf("localnet: %s: log: %w", n.Name, err)
	}
	defer logf.Close() // the child has its own descriptor
	fmt.Fprintf(logf, "=== localnet: starting %s at %s: %s start --home %s\n", n.Name, time.Now().UTC().Format(time.RFC3339), bin, n.Home)
	cmd, err := startProcess(bin, []string{"start", "--home", n.Home}, n.Home, logf)
	if err != nil {
		return nil, fmt.Errorf("localnet: %s: start %s: %w", n.Name, bin, err)
	}
	p := &proc{node: n, pid: cmd.Process.Pid, exited: make(chan struct{})}
	// Reap the child when it exits, so that it never lingers as a zombie
	// while this process lives (a test, or `up` still waiting).
	go func(cmd *exec.Cmd) {
		_ = cmd.Wait()
		close(p.exited)
	}(cmd)
	if err := os.WriteFile(n.PIDPath(), []byte(strconv.Itoa(p.pid)+"\n"), 0o644); err != nil {
		_ = signalProcess(p.pid, syscall.SIGKILL)
		return nil, fmt.Errorf("localnet: %s: pid file: %w", n.Name, err)
	}
	return p, nil
}

// refreshBootstrap sets the node's libp2p bootstrap to the other nodes that
// accept connections now (node order), or to none when no other node is up,
// so that it can start whichever nodes were stopped.
func (l *Layout) refreshBootstrap(n NodeInfo) error {
	h := overlay.Home(n.Home)
	cfg, err := overlay.LoadConfig(h.ConfigPath())
	if err != nil {
		return fmt.Errorf("localnet: %s: %w", n.Name, err)
	}
	var boot []string
	for _, o := range l.Nodes {
		if o.Name != n.Name && o.alive() && listening(o.Ports.P2P) {
			boot = append(boot, o.P2P)
		}
	}
	if slices.Equal(boot, cfg.P2P.Bootstrap) {
		return nil
	}
	cfg.P2P.Bootstrap = boot
	if err := overlay.WriteConfig(h.ConfigPath(), cfg); err != nil {
		return fmt.Errorf("localnet: %s: %w", n.Name, err)
	}
	return nil
}

// waitLive waits until the node's API answers, i.e. it has fully started.
func waitLive(ctx context.Context, p *proc) error {
	c, err := api.NewClient(p.node.API, &http.Client{Timeout: 2 * time.Second})
	if err != nil {
		return err
	}
	tick := time.NewTicker(200 * time.Millisecond)
	defer tick.Stop()
	for {
		select {
		case <-p.exited:
			return p.node.failure("exited while starting", nil)
		case <-ctx.Done():
			return p.node.failure("did not start its API", ctx.Err())
		case <-tick.C:
			if c.Live(ctx) == nil {
				return nil
			}
		}
	}
}

// waitReady polls every node until all are ready, one exits, or ctx ends.
func (l *Layout) waitReady(ctx context.Context, nodes []NodeInfo, started []*proc, timeout time.Duration) error {
	exited := map[string]<-chan struct{}{}
	for _, p := range started {
		exited[p.node.Name] = p.exited
	}
	clients := make([]*api.Client, len(nodes))
	for i, n := range nodes {
		c, err := api.NewClient(n.API, &http.Client{Timeout: 2 * time.Second})
		if err != nil {
			return err
		}
		clients[i] = c
	}
	ready := make([]bool, len(nodes))
	last := make([]string, len(nodes))
	tick := time.NewTicker(250 * time.Millisecond)
	defer tick.Stop()
	for {
		done := true
		for i, n := range nodes {
			if ready[i] {
				continue
			}
			if ch, ok := exited[n.Name]; ok {
				select {
				case <-ch:
					return n.failure("exited before it was ready", nil)
				default:
				}
			} else if !n.alive() {
				return n.failure("stopped before it was ready", nil)
			}
			ready[i], last[i] = nodeReady(ctx, clients[i])
			done = done && ready[i]
		}
		if done {
			return nil
		}
		select {
		case <-ctx.Done():
			for i, n := range nodes {
				if !ready[i] {
					return n.failure(fmt.Sprintf("not ready within %s (last check: %s)", timeout, last[i]), ctx.Err())
				}
			}
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// WaitReady waits until the named nodes of the localnet in dir (every node
// when names is empty) are ready, as Up does: /health/ready answers 200 and
// the chain is at ReadyHeight. A node that is not running is an error at
// once; so is one still not ready after timeout, quoting its log.
func WaitReady(ctx context.Context, dir string, timeout time.Duration, names ...string) error {
	l, err := LoadLayout(dir)
	if err != nil {
		return err
	}
	nodes := l.Nodes
	if len(names) > 0 {
		nodes = nil
		for _, name := range names {
			n, err := l.Node(name)
			if err != nil {
				return err
			}
			nodes = append(nodes, n)
		}
	}
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	return l.waitReady(ctx, nodes, nil, timeout)
}

// nodeReady reports readiness and, when not ready, why.
func nodeReady(ctx context.Context, c *api.Client) (bool, string) {
	checks, ok, err := c.Ready(ctx)
	if err != nil {
		return false, err.Error()
	}
	if !ok {
		var why []string
		for _, ch := range checks {
			if !ch.OK {
				why = append(why, ch.Name+": "+ch.Detail)
			}
		}
		return false, strings.Join(why, "; ")
	}
	st, err := c.Status(ctx)
	if err != nil {
		return false, err.Error()
	}
	if st.Height < ReadyHeight {
		return false, fmt.Sprintf("chain at height %d, waiting for %d", st.Height, ReadyHeight)
	}
	return true, ""
}

// failure is ErrNotReady for n with the end of its log.
func (n NodeInfo) failure(what string, cause error) error {
	msg := fmt.Sprintf("%s %s", n.Name, what)
	if cause != nil {
		msg += ": " + cause.Error()
	}
	return fmt.Errorf("%w: %s\n--- last lines of %s ---\n%s", ErrNotReady, msg, n.LogPath(), tailFile(n.LogPath(), logTailLines))
}

// tailFile returns the last lines of path (at most 64 KiB of it).
func tailFile(path string, lines int) string {
	f, err := os.Open(path)
	if err != nil {
		return "(no log: " + err.Error() + ")"
	}
	defer f.Close()
	const maxTail = 64 << 10
	if fi, err := f.Stat(); err == nil && fi.Size() > maxTail {
		_, _ = f.Seek(fi.Size()-maxTail, io.SeekStart)
	}
	b, _ := io.ReadAll(f)
	b = bytes.TrimRight(b, "\n")
	parts := bytes.Split(b, []byte("\n"))
	if len(parts) > lines {
		parts = parts[len(parts)-lines:]
	}
	return string(bytes.Join(parts, []byte("\n")))
}

// readPID returns the pid recorded for n, or 0.
func readPID(n NodeInfo) int {
	b, err := os.ReadFile(n.PIDPath())
	if err != nil {
		return 0
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(b)))
	if err != nil || pid <= 0 {
		return 0
	}
	return pid
}

// alive reports whether the node's recorded process runs.
func (n NodeInfo) alive() bool { return processAlive(readPID(n), n.Home) }

// Alive reports whether the node's recorded process is running and is this
// node's xnode (not a reused pid).
func (n NodeInfo) Alive() bool { return n.alive() }

// PID is the recorded process id of the node, or 0 when none is recorded.
func (n NodeInfo) PID() int { return readPID(n) }

// Status reports every node of the localnet in dir: whether its process
// runs and, when its API answers within a short timeout, its chain height.
func Status(dir string) ([]NodeStatus, error) {
	l, err := LoadLayout(dir)
	if err != nil {
		return nil, err
	}
	out := make([]NodeStatus, len(l.Nodes))
	var wg sync.WaitGroup
	for i, n := range l.Nodes {
		out[i] = NodeStatus{Name: n.Name, PeerID: n.PeerID, API: n.API}
		pid := readPID(n)
		if pid == 0 || !processAlive(pid, n.Home) {
			out[i].PID = pid
			continue
		}
		out[i].PID, out[i].Alive = pid, true
		wg.Go(func() {
			c, err := api.NewClient(n.API, &http.Client{Timeout: 2 * time.Second})
			if err != nil {
				return
			}
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
			defer cancel()
			if st, err := c.Status(ctx); err == nil {
				out[i].Height = st.Height
			}
		})
	}
	wg.Wait()
	return out, nil
}

// Down stops every node of the localnet in dir: SIGTERM (the node leaves the
// membership and shuts down cleanly), then SIGKILL for any still running
// after timeout (default 15s). It removes the pid files and fails if any
// process survives.
func Down(dir string, timeout time.Duration) error {
	l, err := LoadLayout(dir)
	if err != nil {
		return err
	}
	if timeout <= 0 {
		timeout = DefaultDownTimeout
	}
	return l.stop(l.Nodes, timeout)
}

// Kill sends sig to the process of the node called name (a crash test's
// SIGKILL, a pause's SIGSTOP). The pid file stays; Status shows the node
// dead once it is.
func Kill(dir, name string, sig syscall.Signal) error {
	l, err := LoadLayout(dir)
	if err != nil {
		return err
	}
	n, err := l.Node(name)
	if err != nil {
		return err
	}
	pid := readPID(n)
	if !processAlive(pid, n.Home) {
		return fmt.Errorf("localnet: %w: %s is not running", xnode.ErrNotFound, name)
	}
	if err := signalProcess(pid, sig); err != nil {
		return fmt.Errorf("localnet: signal %s (pid %d): %w", name, pid, err)
	}
	return nil
}

// stop terminates nodes and waits until their processes are gone.
func (l *Layout) stop(nodes []NodeInfo, timeout time.Duration) error {
	pids := map[string]int{}
	for _, n := range nodes {
		pid := readPID(n)
		if processAlive(pid, n.Home) {
			pids[n.Name] = pid
			_ = terminate(pid)
		}
	}
	byName := map[string]NodeInfo{}
	for _, n := range nodes {
		byName[n.Name] = n
	}
	running := func() []string {
		var out []string
		for name, pid := range pids {
			if processAlive(pid, byName[name].Home) {
				out = append(out, name)
			}
		}
		slices.Sort(out)
		return out
	}
	left := waitGone(running, timeout)
	for _, name := range left {
		_ = signalProcess(pids[name], syscall.SIGKILL)
	}
	if len(left) > 0 {
		left = waitGone(running, 5*time.Second)
	}
	for _, n := range nodes {
		if !slices.Contains(left, n.Name) {
			os.Remove(n.PIDPath())
		}
	}
	if len(left) > 0 {
		return fmt.Errorf("localnet: %v still running after SIGKILL; check their pids in %s/*/xnode.pid", left, l.Dir)
	}
	return nil
}

// waitGone polls running until it is empty or timeout passes, and returns
// what is still running.
func waitGone(running func() []string, timeout time.Duration) []string {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for {
		left := running()
		if len(left) == 0 {
			return nil
		}
		select {
		case <-deadline.C:
			return running()
		case <-tick.C:
		}
	}
}
