package localnet

import (
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"

	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/overlay"
)

// Generate writes a new localnet into opts.Dir: N homes DIR/node0..,
// one genesis naming all N as validators of equal stake, each operator
// funded with abci.GenesisBalanceFactor times its stake and each peer id
// registered for placement, distinct ports on
// 127.0.0.1, CometBFT persistent peers between all nodes, libp2p bootstrap
// through node0, and DIR/localnet.json. It never overwrites: a directory
// holding a localnet is ErrExists, any other non-empty directory
// ErrForeignDir. It checks every port is free (a busy one is a *PortError)
// before writing anything, and on failure removes what it wrote.
func Generate(opts Options) (*Layout, error) {
	opts, err := opts.withDefaults(DefaultN)
	if err != nil {
		return nil, err
	}
	if err := opts.validate(); err != nil {
		return nil, err
	}
	if err := checkDirUsable(opts.Dir); err != nil {
		return nil, err
	}
	base := opts.BasePort
	if base == 0 {
		if base, err = pickBase(opts.N); err != nil {
			return nil, err
		}
	} else if err := checkFree(allUses(base, opts.N)); err != nil {
		return nil, err
	}

	created, err := mkdirFresh(opts.Dir)
	if err != nil {
		return nil, err
	}
	if opts.Dir, err = canonicalDir(opts.Dir); err != nil { // it exists now
		return nil, err
	}
	l, err := generate(opts, base)
	if err != nil {
		// Leave the directory as we found it.
		for i := range opts.N {
			os.RemoveAll(filepath.Join(opts.Dir, nodeName(i)))
		}
		os.Remove(filepath.Join(opts.Dir, LayoutFile))
		if created {
			os.Remove(opts.Dir)
		}
		return nil, err
	}
	return l, nil
}

// checkDirUsable accepts a missing or empty directory.
func checkDirUsable(dir string) error {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("localnet: %s: %w", dir, err)
	}
	if len(entries) == 0 {
		return nil
	}
	if _, err := os.Stat(filepath.Join(dir, LayoutFile)); err == nil {
		return fmt.Errorf("%w in %s: run 'xnode localnet up --dir %s' to start it, or 'xnode localnet down --dir %s' and remove the directory to make a new one",
			ErrExists, dir, dir, dir)
	}
	return fmt.Errorf("%w: %s is not empty and has no %s; pick another --dir or empty it", ErrForeignDir, dir, LayoutFile)
}

// mkdirFresh creates dir and reports whether it did.
func mkdirFresh(dir string) (bool, error) {
	if _, err := os.Stat(dir); err == nil {
		return false, nil
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return false, fmt.Errorf("localnet: %w", err)
	}
	return true, nil
}

// nodeConfig is the config.toml of a localnet node: ports from its block,
// shorter timings than production where a single machine allows it.
func nodeConfig(name string, p Ports) (overlay.Config, error) {
	cfg := overlay.DefaultConfig()
	cfg.Moniker = name
	cfg.API.Listen = hostPort(p.API)
	listen, err := overlay.ListenAddrs("/ip4/127.0.0.1/tcp/" + strconv.Itoa(p.P2P))
	if err != nil {
		return cfg, err
	}
	cfg.P2P.Listen = listen
	cfg.Consensus.P2PListen = hostPort(p.CometP2P)
	cfg.Consensus.RPCListen = hostPort(p.CometRPC)
	cfg.Consensus.TimeoutCommit = overlay.Duration(500 * time.Millisecond)
	cfg.Consensus.EmptyBlocksInterval = overlay.Duration(time.Second)
	cfg.Repair.AntiEntropyInterval = overlay.Duration(30 * time.Second)
	// Several nodes share the machine: keep each one's libp2p budget modest.
	cfg.P2P.MaxMemoryMB = 256
	cfg.Log.Format = "json"
	return cfg, nil
}

func hostPort(port int) string { return "127.0.0.1:" + strconv.Itoa(port) }

func generate(opts Options, base int) (*Layout, error) {
	l := &Layout{Kind: Kind, Dir: opts.Dir, ChainID: opts.ChainID, BasePort: base, Created: time.Now().UTC().Truncate(time.Second)}
	keys, nodes, err := genesisNodes(opts.Dir, opts.N, opts.N)
	if err != nil {
		return nil, err
	}
	cfgs := make([]overlay.Config, opts.N)
	var genesis []byte
	for i := range opts.N {
		name := nodeName(i)
		home := overlay.Home(filepath.Join(opts.Dir, name))
		ports := portsFor(base, i)
		cfg, err := nodeConfig(name, ports)
		if err != nil {
			return nil, err
		}
		cfgs[i] = cfg
		if i == 0 {
			params := opts.Params
			err = overlay.Init(home, overlay.InitOptions{
				ChainID: opts.ChainID, Config: cfg, Params: &params, OperatorKey: keys[0], Nodes: nodes,
			})
			if err == nil {
				genesis, err = consensus.ReadGenesis(home.CometHome())
			}
		} else {
			err = overlay.InitFromGenesis(home, cfg, genesis, keys[i])
		}
		if err != nil {
			return nil, fmt.Errorf("localnet: %s: %w", name, err)
		}
		info, err := describeNode(name, string(home), ports)
		if err != nil {
			return nil, err
		}
		info.Validator = true
		l.Nodes = append(l.Nodes, info)
	}
	l.GenesisHash = consensus.GenesisHash(genesis)

	// Now that every node has its ids, wire them to each other.
	for i := range l.Nodes {
		cfg := cfgs[i]
		cfg.Consensus.PersistentPeers = nil
		for j, o := range l.Nodes {
			if j != i {
				cfg.Consensus.PersistentPeers = append(cfg.Consensus.PersistentPeers, o.CometPeer)
			}
		}
		if i > 0 {
			cfg.P2P.Bootstrap = []string{l.Nodes[0].P2P}
		}
		if err := cfg.Validate(); err != nil {
			return nil, fmt.Errorf("localnet: %s: %w", l.Nodes[i].Name, err)
		}
		if err := overlay.WriteConfig(overlay.Home(l.Nodes[i].Home).ConfigPath(), cfg); err != nil {
			return nil, fmt.Errorf("localnet: %s: %w", l.Nodes[i].Name, err)
		}
	}
	// The layout last: its presence marks the localnet complete.
	if err := l.save(); err != nil {
		return nil, err
	}
	return l, nil
}

// genesisNodes makes the operator keys and libp2p identities of n homes
// DIR/node0.. (the identities written where Init will find them) and the
// genesis entries that fund and bond them: the first validators are
// validators, the others registered nodes.
func genesisNodes(dir string, n, validators int) ([]ed25519.PrivateKey, []abci.StakedNode, error) {
	keys := make([]ed25519.PrivateKey, n)
	nodes := make([]abci.StakedNode, n)
	for i := range n {
		pub, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, nil, err
		}
		h := overlay.Home(filepath.Join(dir, nodeName(i)))
		if err := os.MkdirAll(filepath.Dir(h.IdentityPath()), 0o700); err != nil {
			return nil, nil, fmt.Errorf("localnet: %s: %w", nodeName(i), err)
		}
		id, err := overlay.LoadOrCreateIdentity(h.IdentityPath())
		if err != nil {
			return nil, nil, fmt.Errorf("localnet: %s: %w", nodeName(i), err)
		}
		pid, err := peer.IDFromPrivateKey(id)
		if err != nil {
			return nil, nil, fmt.Errorf("localnet: %s: peer id: %w", nodeName(i), err)
		}
		keys[i] = priv
		nodes[i] = abci.StakedNode{Name: nodeName(i), Operator: pub, PeerID: pid, Validator: i < validators}
	}
	return keys, nodes, nil
}

// describeNode reads the ids an initialised home holds.
func describeNode(name, home string, p Ports) (NodeInfo, error) {
	h := overlay.Home(home)
	key, err := overlay.LoadOrCreateIdentity(h.IdentityPath())
	if err != nil {
		return NodeInfo{}, err
	}
	pid, err := peer.IDFromPrivateKey(key)
	if err != nil {
		return NodeInfo{}, fmt.Errorf("localnet: %s: peer id: %w", name, err)
	}
	cometID, err := consensus.NodeID(h.CometHome())
	if err != nil {
		return NodeInfo{}, fmt.Errorf("localnet: %s: %w", name, err)
	}
	return NodeInfo{
		Name:        name,
		Home:        home,
		PeerID:      pid.String(),
		CometNodeID: cometID,
		API:         "http://" + hostPort(p.API),
		P2P:         fmt.Sprintf("/ip4/127.0.0.1/tcp/%d/p2p/%s", p.P2P, pid),
		CometPeer:   cometID + "@" + hostPort(p.CometP2P),
		Ports:       p,
	}, nil
}
