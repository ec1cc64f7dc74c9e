package localnet

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/overlay"
)

// Kind marks a localnet.json as ours.
const Kind = "xnode-localnet"

// LayoutFile is the name of the layout record inside a localnet directory.
const LayoutFile = "localnet.json"

// Errors callers branch on.
var (
	// ErrNoLocalnet means a directory holds no localnet.json.
	ErrNoLocalnet = fmt.Errorf("localnet: %w: no localnet", xnode.ErrNotFound)
	// ErrForeignDir means a directory is in use by something that is not a localnet.
	ErrForeignDir = fmt.Errorf("localnet: %w: directory is not a localnet", xnode.ErrConflict)
	// ErrExists means Generate was asked to overwrite an existing localnet.
	ErrExists = fmt.Errorf("localnet: %w: localnet already exists", xnode.ErrConflict)
	// ErrUnknownNode names a node the layout does not have.
	ErrUnknownNode = fmt.Errorf("localnet: %w: no such node", xnode.ErrNotFound)
)

// Ports are the TCP ports of one node, all on 127.0.0.1. QUIC listens on the
// UDP port numbered like P2P.
type Ports struct {
	API      int `json:"api"`
	P2P      int `json:"p2p"`
	CometP2P int `json:"cmt_p2p"`
	CometRPC int `json:"cmt_rpc"`
}

// NodeInfo describes one node of a localnet.
type NodeInfo struct {
	// Name is node0, node1, ...
	Name string `json:"name"`
	// Home is the node's home directory (absolute).
	Home string `json:"home"`
	// PeerID is the libp2p peer id.
	PeerID string `json:"peer_id"`
	// CometNodeID is the CometBFT node id.
	CometNodeID string `json:"comet_node_id"`
	// Validator reports whether the genesis gives the node voting power.
	Validator bool `json:"validator"`
	// API is the base URL of the node's HTTP API.
	API string `json:"api"`
	// P2P is the node's libp2p TCP multiaddr, ending in /p2p/<peer id>.
	P2P string `json:"p2p"`
	// CometPeer is the node's CometBFT peer address, <id>@host:port.
	CometPeer string `json:"comet_peer"`
	Ports     Ports  `json:"ports"`
}

// PIDPath is the file holding the node's process id while it runs.
func (n NodeInfo) PIDPath() string { return filepath.Join(n.Home, "xnode.pid") }

// LogPath is the file the node's output is appended to.
func (n NodeInfo) LogPath() string { return filepath.Join(n.Home, "xnode.log") }

// Layout is the record of a localnet, stored as DIR/localnet.json.
type Layout struct {
	// Kind is always "xnode-localnet".
	Kind string `json:"kind"`
	// Dir is the localnet directory (absolute); not stored, set on load.
	Dir         string    `json:"-"`
	ChainID     string    `json:"chain_id"`
	GenesisHash string    `json:"genesis_hash"`
	BasePort    int       `json:"base_port"`
	Created     time.Time `json:"created"`
	// Bin is the xnode binary the last Up ran; StartNode runs it too.
	Bin   string     `json:"bin,omitempty"`
	Nodes []NodeInfo `json:"nodes"`
}

// Node returns the node called name.
func (l *Layout) Node(name string) (NodeInfo, error) {
	for _, n := range l.Nodes {
		if n.Name == name {
			return n, nil
		}
	}
	return NodeInfo{}, fmt.Errorf("%w: %q in %s (have node0..node%d)", ErrUnknownNode, name, l.Dir, len(l.Nodes)-1)
}

// APIs lists the API base URLs of every node, in node order.
func (l *Layout) APIs() []string {
	out := make([]string, len(l.Nodes))
	for i, n := range l.Nodes {
		out[i] = n.API
	}
	return out
}

// LoadLayout reads DIR/localnet.json. A directory without one is
// ErrNoLocalnet; a file that is not ours is ErrForeignDir.
func LoadLayout(dir string) (*Layout, error) {
	abs, err := canonicalDir(dir)
	if err != nil {
		return nil, err
	}
	b, err := os.ReadFile(filepath.Join(abs, LayoutFile))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("%w in %s", ErrNoLocalnet, abs)
	}
	if err != nil {
		return nil, fmt.Errorf("localnet: %w", err)
	}
	var l Layout
	if err := json.Unmarshal(b, &l); err != nil || l.Kind != Kind {
		return nil, fmt.Errorf("%w: %s has a %s that xnode did not write", ErrForeignDir, abs, LayoutFile)
	}
	if len(l.Nodes) == 0 {
		return nil, fmt.Errorf("%w: %s lists no nodes", ErrForeignDir, filepath.Join(abs, LayoutFile))
	}
	l.Dir = abs
	// Homes follow the directory, so a moved localnet still works.
	for i := range l.Nodes {
		l.Nodes[i].Home = filepath.Join(abs, l.Nodes[i].Name)
		if !overlay.Home(l.Nodes[i].Home).Exists() {
			return nil, fmt.Errorf("localnet: %w: node home %s is missing; remove %s and run up again", xnode.ErrNotFound, l.Nodes[i].Home, abs)
		}
	}
	return &l, nil
}

func (l *Layout) save() error {
	b, err := json.MarshalIndent(l, "", "  ")
	if err != nil {
		return err
	}
	path := filepath.Join(l.Dir, LayoutFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o644); err != nil {
		return fmt.Errorf("localnet: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("localnet: %w", err)
	}
	return nil
}

// canonicalDir is dir made absolute with symlinks resolved where it exists,
// so that every command names a node's home the same way (a node process is
// recognised by the --home it was started with).
func canonicalDir(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("localnet: dir %q: %w", dir, err)
	}
	if real, err := filepath.EvalSymlinks(abs); err == nil {
		return real, nil
	}
	return abs, nil
}
