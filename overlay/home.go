package overlay

import (
	"crypto/ed25519"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
	"github.com/xnode/xnode/consensus"
	"github.com/xnode/xnode/internal/atomicfile"
)

// Home is a node's directory (DESIGN.md "Defaults"):
//
//	config.toml          node configuration
//	keys/identity.key    libp2p identity (ed25519), so the peer id survives restarts
//	keys/operator.key    operator key (ed25519): signs transactions; it is also the
//	                     CometBFT validator key, so a validator attests with it
//	cometbft/            CometBFT home: config, genesis, data, priv validator
//	data/blocks          block store (badger)
//	data/app             ABCI application state (badger)
//	data/peers.json      the members this node last knew, dialled at start
//	                     with the bootstrap peers (a hint, rewritten as
//	                     membership changes)
type Home string

// ErrHomeExists is returned when creating a home over an existing one.
var ErrHomeExists = fmt.Errorf("overlay: home %w: already initialised", xnode.ErrConflict)

// Path helpers.
func (h Home) ConfigPath() string   { return filepath.Join(string(h), "config.toml") }
func (h Home) IdentityPath() string { return filepath.Join(string(h), "keys", "identity.key") }
func (h Home) OperatorPath() string { return filepath.Join(string(h), "keys", "operator.key") }
func (h Home) CometHome() string    { return filepath.Join(string(h), "cometbft") }
func (h Home) BlocksDir() string    { return filepath.Join(string(h), "data", "blocks") }
func (h Home) AppDir() string       { return filepath.Join(string(h), "data", "app") }
func (h Home) PeersPath() string    { return filepath.Join(string(h), "data", "peers.json") }

// Exists reports whether the home has been initialised.
func (h Home) Exists() bool {
	_, err := os.Stat(h.ConfigPath())
	return err == nil
}

// InitOptions describes a new home.
type InitOptions struct {
	// ChainID names the network. Default "xnode-dev".
	ChainID string
	// Config is written to config.toml (DefaultConfig with flags applied).
	Config Config
	// Params are the network parameters put in the genesis; default
	// abci.DevParams() for a single-node network.
	Params *abci.Params
	// OperatorKey is the node's operator key; generated when nil.
	OperatorKey ed25519.PrivateKey
	// Nodes are the nodes the genesis funds and bonds (app_state accounts,
	// validators with their peer ids, nodes), the first of which is this
	// node; the CometBFT validators follow from them. With neither Nodes nor
	// Validators, this node alone is a funded validator: the dev network of
	// `xnode start`.
	Nodes []abci.StakedNode
	// Validators is a genesis validator set without stake: a genesis that
	// registers no node, on which placement is open to every announcing
	// member (as on networks made before the chain governed placement).
	// Not with Nodes.
	Validators []consensus.Validator
	// GenesisTime is the chain's start; default now.
	GenesisTime time.Time
}

// Init creates a home for a new network whose genesis this node writes.
func Init(h Home, opts InitOptions) error {
	if h.Exists() {
		return fmt.Errorf("%w: %s", ErrHomeExists, h)
	}
	if opts.ChainID == "" {
		opts.ChainID = "xnode-dev"
	}
	params := abci.DevParams()
	if opts.Params != nil {
		params = *opts.Params
	}
	if err := params.Validate(); err != nil {
		return err
	}
	if err := opts.Config.Validate(); err != nil {
		return err
	}
	if len(opts.Nodes) > 0 && len(opts.Validators) > 0 {
		return fmt.Errorf("%w: init: give genesis nodes or validators, not both", xnode.ErrInvalidArgument)
	}
	op, err := prepareKeys(h, opts.OperatorKey)
	if err != nil {
		return err
	}
	nodes := opts.Nodes
	if len(nodes) == 0 && len(opts.Validators) == 0 {
		key, err := LoadOrCreateIdentity(h.IdentityPath())
		if err != nil {
			return err
		}
		pid, err := peer.IDFromPrivateKey(key)
		if err != nil {
			return fmt.Errorf("overlay: identity: %w", err)
		}
		nodes = []abci.StakedNode{{Name: opts.Config.Moniker, Operator: op.Public().(ed25519.PublicKey), PeerID: pid, Validator: true}}
	}
	appState, err := json.Marshal(abci.GenesisState{Params: params})
	if err != nil {
		return fmt.Errorf("overlay: genesis app state: %w", err)
	}
	vals := opts.Validators
	if len(nodes) > 0 {
		if appState, vals, err = stakedGenesis(params, nodes); err != nil {
			return err
		}
	}
	if opts.GenesisTime.IsZero() {
		opts.GenesisTime = time.Now().UTC()
	}
	if err := consensus.Init(consensus.InitConfig{
		Home:        h.CometHome(),
		ChainID:     opts.ChainID,
		Moniker:     opts.Config.Moniker,
		Key:         op,
		Validators:  vals,
		AppState:    appState,
		GenesisTime: opts.GenesisTime,
	}); err != nil {
		return err
	}
	// config.toml last: its presence marks the home as complete.
	return WriteConfig(h.ConfigPath(), opts.Config)
}

// InitFromGenesis creates a home for a node of an existing network from its
// genesis file. op is the operator key (a validator's key when the genesis
// names it); nil generates one, which makes a full node.
func InitFromGenesis(h Home, cfg Config, genesis []byte, op ed25519.PrivateKey) error {
	if h.Exists() {
		return fmt.Errorf("%w: %s", ErrHomeExists, h)
	}
	if err := cfg.Validate(); err != nil {
		return err
	}
	op, err := prepareKeys(h, op)
	if err != nil {
		return err
	}
	if err := consensus.InitFromGenesis(h.CometHome(), genesis, op, cfg.Moniker); err != nil {
		return err
	}
	return WriteConfig(h.ConfigPath(), cfg)
}

func prepareKeys(h Home, op ed25519.PrivateKey) (ed25519.PrivateKey, error) {
	if err := os.MkdirAll(filepath.Dir(h.IdentityPath()), 0o700); err != nil {
		return nil, fmt.Errorf("overlay: keys: %w", err)
	}
	if _, err := LoadOrCreateIdentity(h.IdentityPath()); err != nil {
		return nil, err
	}
	if op == nil {
		var err error
		if _, op, err = ed25519.GenerateKey(rand.Reader); err != nil {
			return nil, err
		}
	}
	if err := writeOperatorKey(h.OperatorPath(), op); err != nil {
		return nil, err
	}
	return op, nil
}

// LoadOrCreateIdentity returns the libp2p identity stored at path, creating
// an ed25519 one on first use.
func LoadOrCreateIdentity(path string) (crypto.PrivKey, error) {
	b, err := os.ReadFile(path)
	if err == nil {
		k, err := crypto.UnmarshalPrivateKey(b)
		if err != nil {
			return nil, fmt.Errorf("overlay: identity %s: %w", path, err)
		}
		return k, nil
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("overlay: identity: %w", err)
	}
	k, _, err := crypto.GenerateEd25519Key(rand.Reader)
	if err != nil {
		return nil, err
	}
	b, err = crypto.MarshalPrivateKey(k)
	if err != nil {
		return nil, err
	}
	if err := atomicfile.WriteBytes(path, b, 0o600); err != nil {
		return nil, fmt.Errorf("overlay: identity: %w", err)
	}
	return k, nil
}

type operatorKeyFile struct {
	Type    string `json:"type"`
	PrivKey []byte `json:"priv_key"`
}

func writeOperatorKey(path string, k ed25519.PrivateKey) error {
	b, err := json.MarshalIndent(operatorKeyFile{Type: "ed25519", PrivKey: k}, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteBytes(path, b, 0o600)
}

// LoadOperatorKey reads the operator key.
func LoadOperatorKey(path string) (ed25519.PrivateKey, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("overlay: operator key: %w", err)
	}
	var f operatorKeyFile
	if err := json.Unmarshal(b, &f); err != nil || f.Type != "ed25519" || len(f.PrivKey) != ed25519.PrivateKeySize {
		return nil, fmt.Errorf("overlay: operator key %s: not an ed25519 key file", path)
	}
	return ed25519.PrivateKey(f.PrivKey), nil
}

// ParseBootstrap parses a bootstrap multiaddr, which must name its peer.
func ParseBootstrap(s string) (peer.AddrInfo, error) {
	s = strings.TrimSpace(s)
	ma, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%w: bootstrap %q: %v", xnode.ErrInvalidArgument, s, err)
	}
	ai, err := peer.AddrInfoFromP2pAddr(ma)
	if err != nil {
		return peer.AddrInfo{}, fmt.Errorf("%w: bootstrap %q must end in /p2p/<peer id>", xnode.ErrInvalidArgument, s)
	}
	return *ai, nil
}

// stakedGenesis is the app_state that funds and bonds nodes, and the
// CometBFT genesis validators matching it (power = stake).
func stakedGenesis(params abci.Params, nodes []abci.StakedNode) (json.RawMessage, []consensus.Validator, error) {
	g, err := abci.StakedGenesis(params, nodes)
	if err != nil {
		return nil, nil, err
	}
	out, err := json.Marshal(g)
	if err != nil {
		return nil, nil, fmt.Errorf("overlay: genesis app state: %w", err)
	}
	names := map[string]string{}
	for _, n := range nodes {
		names[string(n.Operator)] = n.Name
	}
	vals := make([]consensus.Validator, len(g.Validators))
	for i, v := range g.Validators {
		vals[i] = consensus.Validator{Name: names[string(v.PubKey)], PubKey: ed25519.PublicKey(v.PubKey), Power: int64(v.Stake)}
	}
	return out, vals, nil
}
