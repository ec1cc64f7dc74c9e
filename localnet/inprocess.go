package localnet

import (
	"context"
	"fmt"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/dht"
	"github.com/xnode/xnode/gossip"
	"github.com/xnode/xnode/internal/testutil"
	"github.com/xnode/xnode/overlay"
)

// InProcessOptions configure StartInProcess. Zero fields take the defaults.
type InProcessOptions struct {
	// Params are the genesis parameters. Default LocalParams(n):
	// abci.DefaultParams() with the replication factor lowered to n when
	// n < 3 and a minute to unbond.
	Params *abci.Params
	// RepairGrace is how long a failed member keeps its place before data is
	// repaired around it. Default 2s.
	RepairGrace time.Duration
	// AntiEntropy is the interval of full repair passes. Default 2s.
	AntiEntropy time.Duration
	// RepairSettle is how long membership must be quiet before the repair
	// pass a change calls for runs (overlay.RepairConfig.Settle). Default
	// 300ms.
	RepairSettle time.Duration
	// Validators is how many of the n nodes (the first ones) hold voting
	// power, equal for each. Default n. The rest are registered nodes: they
	// hold data but do not vote.
	Validators int
	// OpenAdmission writes a genesis that funds and registers no node, as
	// networks made before the chain governed placement: every announcing
	// member takes part. Default off: the genesis funds every node's
	// operator and bonds it (abci.GenesisStake).
	OpenAdmission bool
	// ChainID names the network. Default "xnode-inprocess".
	ChainID string
	// ReadyTimeout bounds the wait for full membership and chain height 2.
	// Default 60s.
	ReadyTimeout time.Duration
	// Durable keeps the block stores' fsyncs on, as in a real node (and with
	// them write-behind and the dropping of written pages; see
	// storage.Config). Default off: tests check behaviour, not the disk, and
	// run faster without them. Benchmarks turn it on.
	Durable bool
}

func (o InProcessOptions) withDefaults(n int) InProcessOptions {
	if o.Params == nil {
		p := LocalParams(n)
		o.Params = &p
	}
	if o.RepairGrace <= 0 {
		o.RepairGrace = 2 * time.Second
	}
	if o.AntiEntropy <= 0 {
		o.AntiEntropy = 2 * time.Second
	}
	if o.RepairSettle <= 0 {
		o.RepairSettle = 300 * time.Millisecond
	}
	if o.Validators <= 0 || o.Validators > n {
		o.Validators = n
	}
	if o.ChainID == "" {
		o.ChainID = "xnode-inprocess"
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = 60 * time.Second
	}
	return o
}

// InProcess is a network of overlay nodes running inside a Go test on
// loopback. Its methods are for the test's goroutine; they are not safe for
// concurrent use.
type InProcess struct {
	// Nodes are the network's nodes in order; Restart replaces an entry and
	// AddNode appends one.
	Nodes []*overlay.Node
	// Homes are the nodes' home directories, in the same order.
	Homes []overlay.Home
	// ChainID names the network.
	ChainID string

	opts    InProcessOptions
	cfgs    []overlay.Config
	stopped []bool
}

// StartInProcess starts n nodes inside the test (see NewInProcess) and
// returns them; tb.Cleanup closes them.
func StartInProcess(tb testing.TB, n int, opts InProcessOptions) []*overlay.Node {
	tb.Helper()
	return NewInProcess(tb, n, opts).Nodes
}

// NewInProcess generates n homes in tb.TempDir() sharing one genesis (the
// first opts.Validators nodes are validators of equal stake, the others
// registered nodes; every operator is funded), on loopback
// with OS-chosen API and libp2p ports and free CometBFT ports, with fast
// gossip, DHT, transfer and verification timings. It starts node0, then the
// others bootstrapping through it, and waits until every node sees n live
// members and the chain is at height 2 on all. tb.Cleanup closes every node.
func NewInProcess(tb testing.TB, n int, opts InProcessOptions) *InProcess {
	tb.Helper()
	if n < 1 {
		tb.Fatalf("localnet: StartInProcess: n = %d, want at least 1", n)
	}
	opts = opts.withDefaults(n)
	dir := tb.TempDir()
	p := &InProcess{ChainID: opts.ChainID, opts: opts}

	keys, nodes, err := genesisNodes(dir, n, opts.Validators)
	if err != nil {
		tb.Fatal(err)
	}
	iopts := overlay.InitOptions{ChainID: opts.ChainID, Params: opts.Params, OperatorKey: keys[0], Nodes: nodes}
	if opts.OpenAdmission {
		iopts.Nodes = nil
		for _, gn := range nodes[:opts.Validators] {
			iopts.Validators = append(iopts.Validators, consensus.Validator{Name: gn.Name, PubKey: gn.Operator, Power: 10})
		}
	}
	var genesis []byte
	for i := range n {
		h := overlay.Home(filepath.Join(dir, nodeName(i)))
		cfg := inProcessConfig(tb, nodeName(i), opts)
		var err error
		if i == 0 {
			iopts.Config = cfg
			err = overlay.Init(h, iopts)
			if err == nil {
				genesis, err = consensus.ReadGenesis(h.CometHome())
			}
		} else {
			err = overlay.InitFromGenesis(h, cfg, genesis, keys[i])
		}
		if err != nil {
			tb.Fatalf("localnet: %s: %v", nodeName(i), err)
		}
		p.Homes = append(p.Homes, h)
		p.cfgs = append(p.cfgs, cfg)
	}
	// CometBFT peers: everyone else, on the ports picked above.
	for i := range p.cfgs {
		for j, h := range p.Homes {
			if j == i {
				continue
			}
			id, err := consensus.NodeID(h.CometHome())
			if err != nil {
				tb.Fatal(err)
			}
			p.cfgs[i].Consensus.PersistentPeers = append(p.cfgs[i].Consensus.PersistentPeers, id+"@"+p.cfgs[j].Consensus.P2PListen)
		}
	}
	p.Nodes = make([]*overlay.Node, n)
	p.stopped = make([]bool, n)
	p.Nodes[0] = p.startNode(tb, 0)
	// The others bootstrap through node0, whose port is known only now.
	boot := TCPAddr(p.Nodes[0])
	var wg sync.WaitGroup
	errs := make([]error, n)
	for i := 1; i < n; i++ {
		p.cfgs[i].P2P.Bootstrap = []string{boot}
		wg.Go(func() { p.Nodes[i], errs[i] = p.tryStart(tb, i) })
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			tb.Fatalf("localnet: start %s: %v", nodeName(i), err)
		}
	}
	WaitConverged(tb, p.Nodes, n, opts.ReadyTimeout)
	return p
}

// inProcessConfig is a node config on loopback with fast local timings.
func inProcessConfig(tb testing.TB, name string, opts InProcessOptions) overlay.Config {
	cfg := overlay.DefaultConfig()
	cfg.Moniker = name
	cfg.API.Listen = "127.0.0.1:0"
	// A fixed port, as a real node has, so that a restarted node is found
	// where its peers remember it.
	cfg.P2P.Listen = []string{"/ip4/127.0.0.1/tcp/" + strconv.Itoa(testutil.FreePort(tb))}
	cfg.P2P.MaxMemoryMB = 128
	// CometBFT peers are dialled at a fixed address, so its port must be
	// concrete; the RPC server is not needed in process.
	cfg.Consensus.P2PListen = hostPort(testutil.FreePort(tb))
	cfg.Consensus.RPCListen = ""
	cfg.Consensus.TimeoutCommit = overlay.Duration(300 * time.Millisecond)
	cfg.Consensus.EmptyBlocksInterval = overlay.Duration(500 * time.Millisecond)
	cfg.Storage.SyncWrites = opts.Durable
	cfg.Repair.Grace = overlay.Duration(opts.RepairGrace)
	cfg.Repair.AntiEntropyInterval = overlay.Duration(opts.AntiEntropy)
	cfg.Repair.Settle = overlay.Duration(opts.RepairSettle)
	cfg.Log.Format = "text"
	return cfg
}

// inProcessTuning shortens gossip, DHT, transfer and verification timings.
func inProcessTuning() *overlay.Tuning {
	g := gossip.LocalTestConfig()
	d := dht.DefaultLocalConfig()
	return &overlay.Tuning{Gossip: &g, DHT: &d, AttemptTimeout: 5 * time.Second, VerifyInterval: 200 * time.Millisecond}
}

func (p *InProcess) startNode(tb testing.TB, i int) *overlay.Node {
	tb.Helper()
	n, err := p.tryStart(tb, i)
	if err != nil {
		tb.Fatalf("localnet: start %s: %v", nodeName(i), err)
	}
	return n
}

// tryStart starts node i from its home and config; safe from any goroutine.
func (p *InProcess) tryStart(tb testing.TB, i int) (*overlay.Node, error) {
	return startOverlay(tb, p.Homes[i], p.cfgs[i], nodeName(i))
}

func startOverlay(tb testing.TB, h overlay.Home, cfg overlay.Config, name string) (*overlay.Node, error) {
	if err := overlay.WriteConfig(h.ConfigPath(), cfg); err != nil {
		return nil, err
	}
	n, err := overlay.New(overlay.Options{Home: h, Config: cfg, Version: "localnet-test", Logger: testutil.Logger(name), Tuning: inProcessTuning()})
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 60*time.Second)
	defer cancel()
	if err := n.Start(ctx); err != nil {
		return nil, err
	}
	homes.Store(n, h)
	tb.Cleanup(func() { homes.Delete(n) })
	tb.Cleanup(func() {
		if err := n.Close(); err != nil {
			tb.Logf("localnet: close %s: %v", name, err)
		}
	})
	return n, nil
}

// Stop closes node i abruptly: no graceful leave, so the others have to
// detect the failure. It is a no-op for a node already stopped.
func (p *InProcess) Stop(i int) error {
	if p.stopped[i] {
		return nil
	}
	p.stopped[i] = true
	return p.Nodes[i].Close()
}

// Leave makes node i leave the membership gracefully, then closes it, as
// SIGTERM does to a node process. Calls for different nodes may run at once.
func (p *InProcess) Leave(tb testing.TB, i int) error {
	tb.Helper()
	if p.stopped[i] {
		return nil
	}
	ctx, cancel := context.WithTimeout(tb.Context(), 5*time.Second)
	defer cancel()
	err := p.Nodes[i].Leave(ctx)
	p.stopped[i] = true
	if cerr := p.Nodes[i].Close(); err == nil {
		err = cerr
	}
	return err
}

// Live lists the nodes not stopped.
func (p *InProcess) Live() []*overlay.Node {
	var out []*overlay.Node
	for i, n := range p.Nodes {
		if !p.stopped[i] {
			out = append(out, n)
		}
	}
	return out
}

// Restart starts stopped node i again from its home (same keys, data and
// CometBFT port), bootstrapping through a live node, and returns it without
// waiting for it to converge.
func (p *InProcess) Restart(tb testing.TB, i int) *overlay.Node {
	tb.Helper()
	if !p.stopped[i] {
		tb.Fatalf("localnet: restart %s: it is running", nodeName(i))
	}
	var bootstrap []string
	for j, n := range p.Nodes {
		if j != i && !p.stopped[j] {
			bootstrap = []string{TCPAddr(n)}
			break
		}
	}
	return p.RestartWith(tb, i, bootstrap)
}

// RestartWith starts stopped node i again from its home with the given
// bootstrap peers. With none, the node finds the network only through the
// members it remembers from its last run.
func (p *InProcess) RestartWith(tb testing.TB, i int, bootstrap []string) *overlay.Node {
	tb.Helper()
	if !p.stopped[i] {
		tb.Fatalf("localnet: restart %s: it is running", nodeName(i))
	}
	p.cfgs[i].P2P.Bootstrap = bootstrap
	n := p.startNode(tb, i)
	p.Nodes[i], p.stopped[i] = n, false
	return n
}

// AddNode joins a new node to the network (see the function AddNode)
// through the first live node, funds and registers it, and appends it to
// Nodes.
func (p *InProcess) AddNode(tb testing.TB) *overlay.Node {
	tb.Helper()
	return p.add(tb, true)
}

// AddObserver joins a new node to the network through the first live node
// as `xnode join` does, without registering it on chain: it is an
// observer, which follows the chain and holds no data. It appends it to
// Nodes; RegisterNode or CreateValidator (after Fund) admit it later.
func (p *InProcess) AddObserver(tb testing.TB) *overlay.Node {
	tb.Helper()
	return p.add(tb, false)
}

func (p *InProcess) add(tb testing.TB, register bool) *overlay.Node {
	tb.Helper()
	live := p.Live()
	if len(live) == 0 {
		tb.Fatal("localnet: AddNode: no live node to join through")
	}
	name := nodeName(len(p.Nodes))
	h, cfg, n := addNode(tb, live[0], name, p.opts, register)
	p.Nodes = append(p.Nodes, n)
	p.Homes = append(p.Homes, h)
	p.cfgs = append(p.cfgs, cfg)
	p.stopped = append(p.stopped, false)
	return n
}

// AddNode joins a new node (no voting power) to the network of nodes the
// way `xnode join` does: it fetches the genesis from nodes[0] over the
// genesis protocol, bootstraps through it, and starts. On a chain that
// admits only registered nodes, nodes[0]'s operator then funds the new
// node's operator with twice JoinedStake and the new node registers with
// JoinedStake, so that it takes part in placement. It waits until the new
// node is ready (it sees another member and the chain has caught up).
// opts supplies the repair timings. tb.Cleanup closes it.
func AddNode(tb testing.TB, nodes []*overlay.Node, opts InProcessOptions) *overlay.Node {
	tb.Helper()
	if len(nodes) == 0 {
		tb.Fatal("localnet: AddNode: no node to join through")
	}
	_, _, n := addNode(tb, nodes[0], nodeName(len(nodes)), opts.withDefaults(len(nodes)+1), true)
	return n
}

func addNode(tb testing.TB, through *overlay.Node, name string, opts InProcessOptions, register bool) (overlay.Home, overlay.Config, *overlay.Node) {
	tb.Helper()
	h := overlay.Home(filepath.Join(tb.TempDir(), name))
	cfg := inProcessConfig(tb, name, opts)
	ctx, cancel := context.WithTimeout(tb.Context(), 30*time.Second)
	defer cancel()
	if _, err := overlay.Join(ctx, h, cfg, overlay.JoinOptions{Bootstrap: TCPAddr(through), Timeout: 10 * time.Second}); err != nil {
		tb.Fatalf("localnet: %s: join: %v", name, err)
	}
	cfg, err := overlay.LoadConfig(h.ConfigPath()) // Join filled in bootstrap and CometBFT peer
	if err != nil {
		tb.Fatal(err)
	}
	n, err := startOverlay(tb, h, cfg, name)
	if err != nil {
		tb.Fatalf("localnet: start %s: %v", name, err)
	}
	if register {
		registerJoined(tb, through, h)
	}
	testutil.Eventually(tb, opts.ReadyTimeout, func() bool {
		for _, c := range n.Ready(ctx) {
			if !c.OK {
				return false
			}
		}
		return true
	}, "%s not ready after joining", name)
	return h, cfg, n
}

// WaitConverged waits until every node sees want live members and its
// chain is at height 2 or more.
func WaitConverged(tb testing.TB, nodes []*overlay.Node, want int, timeout time.Duration) {
	tb.Helper()
	var last string
	ok := testutil.WaitFor(timeout, func() bool {
		for _, n := range nodes {
			ctx, cancel := context.WithTimeout(tb.Context(), 2*time.Second)
			st, err := n.Status(ctx)
			cancel()
			if err != nil || st.Members != want || st.Height < ReadyHeight {
				last = fmt.Sprintf("%s: members %d (want %d), height %d, err %v", n.ID().ShortString(), st.Members, want, st.Height, err)
				return false
			}
		}
		return true
	})
	if !ok {
		tb.Fatalf("localnet: network did not converge within %s: %s", timeout, last)
	}
}

// TCPAddr is the node's libp2p TCP multiaddr ending in /p2p/<id>, the
// address to bootstrap or join through.
func TCPAddr(n *overlay.Node) string {
	addrs := n.Addrs()
	for _, a := range addrs {
		if strings.Contains(a, "/tcp/") && !strings.Contains(a, "/ws") {
			return a
		}
	}
	if len(addrs) > 0 {
		return addrs[0]
	}
	return ""
}
