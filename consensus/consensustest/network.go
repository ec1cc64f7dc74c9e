package consensustest

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	abcitypes "github.com/cometbft/cometbft/abci/types"
	"github.com/cometbft/cometbft/types"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/internal/testutil"
)

// AppFactory makes the application of node i, whose CometBFT home is home
// (an app may keep its own data beside it, e.g. filepath.Dir(home)). An app
// that implements io.Closer is closed after its node.
type AppFactory func(i int, home string) abcitypes.Application

// Option adjusts StartNetwork.
type Option func(*options)

type options struct {
	chainID   string
	appState  json.RawMessage
	minHeight int64
	timeout   time.Duration
	configure func(i int, cfg *consensus.Config)
}

// WithChainID sets the chain id (default "consensustest").
func WithChainID(id string) Option { return func(o *options) { o.chainID = id } }

// WithAppState sets the genesis app_state passed to InitChain.
func WithAppState(raw json.RawMessage) Option { return func(o *options) { o.appState = raw } }

// WithMinHeight sets the height every node must reach before StartNetwork
// returns (default 2: the network has agreed on at least one block).
func WithMinHeight(h int64) Option { return func(o *options) { o.minHeight = h } }

// WithStartTimeout bounds the wait for WithMinHeight (default 60 s).
func WithStartTimeout(d time.Duration) Option { return func(o *options) { o.timeout = d } }

// WithConfig adjusts node i's config after the harness filled it in
// (DevConfig, free ports, persistent peers to every other node, no RPC).
func WithConfig(f func(i int, cfg *consensus.Config)) Option {
	return func(o *options) { o.configure = f }
}

// Network is a running set of validators.
type Network struct {
	// Nodes are the validators, index i made by AppFactory(i, ...).
	Nodes []*consensus.Node
	// Apps are the applications, Apps[i] run by Nodes[i].
	Apps []abcitypes.Application
	// Keys are the validators' operator keys.
	Keys []ed25519.PrivateKey
	// Genesis is the shared genesis file bytes.
	Genesis []byte
	// Configs are the nodes' configs; Configs[i].Home is node i's home.
	Configs []consensus.Config
}

// StartNetwork starts n validators of equal power on loopback in homes under
// tb.TempDir(), each peered persistently with all others and using
// consensus.DevConfig timeouts; waits until every node has reached the
// minimum height; and registers cleanup that closes nodes (in reverse order)
// and then apps. It fails tb on any error.
func StartNetwork(tb testing.TB, n int, appFactory AppFactory, opts ...Option) *Network {
	tb.Helper()
	o := options{chainID: "consensustest", minHeight: 2, timeout: 60 * time.Second}
	for _, opt := range opts {
		opt(&o)
	}
	if n < 1 {
		tb.Fatalf("consensustest: n = %d, want at least 1", n)
	}
	root := tb.TempDir()
	nw := &Network{}
	vals := make([]consensus.Validator, n)
	nodeKeys := make([]ed25519.PrivateKey, n)
	for i := range n {
		_, key, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		_, nodeKey, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			tb.Fatal(err)
		}
		nw.Keys = append(nw.Keys, key)
		nodeKeys[i] = nodeKey
		vals[i] = consensus.Validator{Name: nodeName(i), PubKey: key.Public().(ed25519.PublicKey), Power: consensus.DefaultPower}
	}
	genesisTime := time.Now().UTC()
	homes := make([]string, n)
	for i := range n {
		homes[i] = filepath.Join(root, nodeName(i), "cometbft")
		err := consensus.Init(consensus.InitConfig{
			Home:        homes[i],
			ChainID:     o.chainID,
			Moniker:     nodeName(i),
			Key:         nw.Keys[i],
			NodeKey:     nodeKeys[i],
			Validators:  vals,
			AppState:    o.appState,
			GenesisTime: genesisTime,
		})
		if err != nil {
			tb.Fatalf("consensustest: init %s: %v", nodeName(i), err)
		}
	}
	raw, err := consensus.ReadGenesis(homes[0])
	if err != nil {
		tb.Fatal(err)
	}
	nw.Genesis = raw

	ports := freePorts(tb, n)
	addrs := make([]string, n)
	for i := range n {
		id, err := consensus.NodeID(homes[i])
		if err != nil {
			tb.Fatal(err)
		}
		addrs[i] = id + "@" + hostPort(ports[i])
	}
	for i := range n {
		cfg := consensus.DevConfig()
		cfg.Home = homes[i]
		cfg.Moniker = nodeName(i)
		cfg.P2PListen = hostPort(ports[i])
		cfg.RPCListen = ""
		for j := range n {
			if j != i {
				cfg.PersistentPeers = append(cfg.PersistentPeers, addrs[j])
			}
		}
		if o.configure != nil {
			o.configure(i, &cfg)
		}
		nw.Configs = append(nw.Configs, cfg)
		app := appFactory(i, homes[i])
		nw.Apps = append(nw.Apps, app)
		if c, ok := app.(io.Closer); ok {
			tb.Cleanup(func() {
				if err := c.Close(); err != nil {
					tb.Errorf("consensustest: close app %d: %v", i, err)
				}
			})
		}
		node, err := consensus.New(cfg, app, testutil.Logger(nodeName(i)))
		if err != nil {
			tb.Fatalf("consensustest: new %s: %v", nodeName(i), err)
		}
		ctx, cancel := context.WithTimeout(context.Background(), o.timeout)
		err = node.Start(ctx)
		cancel()
		if err != nil {
			tb.Fatalf("consensustest: start %s: %v", nodeName(i), err)
		}
		// Cleanups run last-registered first: nodes close in reverse order,
		// each before its app.
		tb.Cleanup(func() {
			if err := node.Close(); err != nil {
				tb.Errorf("consensustest: close %s: %v", nodeName(i), err)
			}
		})
		nw.Nodes = append(nw.Nodes, node)
	}
	WaitHeight(tb, nw.Nodes, o.minHeight, o.timeout)
	return nw
}

// Stop closes node i (Nodes[i] stays, closed, until Restart replaces it).
func (n *Network) Stop(tb testing.TB, i int) {
	tb.Helper()
	if err := n.Nodes[i].Close(); err != nil {
		tb.Fatalf("consensustest: close %s: %v", nodeName(i), err)
	}
}

// Restart closes node i if it runs and starts a new node on its home with
// the same config (ports, peers), running app; the new node replaces
// Nodes[i] and Apps[i] and is closed at cleanup, and app too if it is an
// io.Closer. It fails tb if the node does not start.
func (n *Network) Restart(tb testing.TB, i int, app abcitypes.Application) *consensus.Node {
	tb.Helper()
	node, err := n.StartNode(tb, i, app)
	if err != nil {
		tb.Fatalf("consensustest: restart %s: %v", nodeName(i), err)
	}
	return node
}

// StartNode is Restart that returns the error of New or Start instead of
// failing tb, for tests of a node that must refuse to start.
func (n *Network) StartNode(tb testing.TB, i int, app abcitypes.Application) (*consensus.Node, error) {
	tb.Helper()
	if err := n.Nodes[i].Close(); err != nil {
		return nil, fmt.Errorf("close %s: %w", nodeName(i), err)
	}
	if c, ok := app.(io.Closer); ok {
		tb.Cleanup(func() {
			if err := c.Close(); err != nil {
				tb.Errorf("consensustest: close app %d: %v", i, err)
			}
		})
	}
	node, err := consensus.New(n.Configs[i], app, testutil.Logger(nodeName(i)))
	if err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	if err := node.Start(ctx); err != nil {
		return nil, err
	}
	tb.Cleanup(func() {
		if err := node.Close(); err != nil {
			tb.Errorf("consensustest: close %s: %v", nodeName(i), err)
		}
	})
	n.Nodes[i], n.Apps[i] = node, app
	return node, nil
}

// WaitHeight waits until every node's latest height is at least h.
func WaitHeight(tb testing.TB, nodes []*consensus.Node, h int64, timeout time.Duration) {
	tb.Helper()
	testutil.Eventually(tb, timeout, func() bool {
		for _, nd := range nodes {
			st, err := nd.Status(context.Background())
			if err != nil || st.Height < h {
				return false
			}
		}
		return true
	}, "all %d nodes at height >= %d", len(nodes), h)
}

// GenesisDoc parses the network's genesis.
func (n *Network) GenesisDoc() (*types.GenesisDoc, error) {
	return types.GenesisDocFromJSON(n.Genesis)
}

func nodeName(i int) string { return fmt.Sprintf("node%d", i) }

func hostPort(port int) string { return net.JoinHostPort("127.0.0.1", strconv.Itoa(port)) }

// freePorts returns n distinct free loopback ports.
func freePorts(tb testing.TB, n int) []int {
	seen := make(map[int]bool)
	var ports []int
	for len(ports) < n {
		p := testutil.FreePort(tb)
		if !seen[p] {
			seen[p] = true
			ports = append(ports, p)
		}
	}
	return ports
}
