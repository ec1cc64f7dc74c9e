package consensus

import (
	"crypto/ed25519"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmted25519 "github.com/cometbft/cometbft/crypto/ed25519"
	cmtjson "github.com/cometbft/cometbft/libs/json"
	"github.com/cometbft/cometbft/p2p"
	"github.com/cometbft/cometbft/privval"
	"github.com/cometbft/cometbft/types"
	"github.com/xnode/xnode"
)

// DefaultPower is the voting power of the single validator of a genesis made
// by Init without an explicit validator set.
const DefaultPower = 10

// Validator is one member of a genesis validator set.
type Validator struct {
	// Name is informational (CometBFT's genesis "name").
	Name string
	// PubKey is the validator's ed25519 key: the operator key of its node.
	PubKey ed25519.PublicKey
	// Power is the voting power, positive.
	Power int64
}

// InitConfig describes a new CometBFT home for the first node of a network.
type InitConfig struct {
	// Home is the CometBFT home, e.g. <xnode home>/cometbft. Required.
	Home string
	// ChainID names the network. Required.
	ChainID string
	// Moniker is the node's name in config.toml. Default "xnode".
	Moniker string
	// Key is the operator's ed25519 key. It becomes priv_validator_key.json,
	// so the operator key is the validator key. Required.
	Key ed25519.PrivateKey
	// NodeKey is the CometBFT p2p identity. A new one is generated when nil
	// (an existing node_key.json is then kept).
	NodeKey ed25519.PrivateKey
	// Validators is the genesis validator set. Empty means a single
	// validator: Key with DefaultPower.
	Validators []Validator
	// AppState is the application's genesis state (InitChain's app_state).
	AppState json.RawMessage
	// GenesisTime is the chain's start time. Zero means now. A time in the
	// future makes CometBFT wait for it at start.
	GenesisTime time.Time
}

// Init creates a CometBFT home: config/config.toml, config/node_key.json,
// config/priv_validator_key.json, data/priv_validator_state.json (kept if
// present, so a validator never forgets what it signed) and config/genesis.json.
// It refuses a home that already has a genesis (ErrGenesisExists).
func Init(cfg InitConfig) error {
	if cfg.Home == "" {
		return fmt.Errorf("consensus: init: Home is empty: %w", xnode.ErrInvalidArgument)
	}
	if len(cfg.Key) != ed25519.PrivateKeySize {
		return fmt.Errorf("consensus: init: Key has %d bytes, want %d: %w", len(cfg.Key), ed25519.PrivateKeySize, xnode.ErrInvalidArgument)
	}
	if cfg.NodeKey != nil && len(cfg.NodeKey) != ed25519.PrivateKeySize {
		return fmt.Errorf("consensus: init: NodeKey has %d bytes, want %d: %w", len(cfg.NodeKey), ed25519.PrivateKeySize, xnode.ErrInvalidArgument)
	}
	if cfg.Moniker == "" {
		cfg.Moniker = DefaultConfig().Moniker
	}
	vals := cfg.Validators
	if len(vals) == 0 {
		vals = []Validator{{Name: cfg.Moniker, PubKey: cfg.Key.Public().(ed25519.PublicKey), Power: DefaultPower}}
	}
	doc := &types.GenesisDoc{
		GenesisTime:     cfg.GenesisTime,
		ChainID:         cfg.ChainID,
		InitialHeight:   1,
		ConsensusParams: types.DefaultConsensusParams(),
		AppState:        cfg.AppState,
	}
	if doc.GenesisTime.IsZero() {
		doc.GenesisTime = time.Now().UTC()
	}
	for i, v := range vals {
		if len(v.PubKey) != ed25519.PublicKeySize {
			return fmt.Errorf("consensus: init: validator %d (%q) key has %d bytes, want %d: %w", i, v.Name, len(v.PubKey), ed25519.PublicKeySize, xnode.ErrInvalidArgument)
		}
		pk := cmted25519.PubKey(v.PubKey)
		doc.Validators = append(doc.Validators, types.GenesisValidator{
			Address: pk.Address(),
			PubKey:  pk,
			Power:   v.Power,
			Name:    v.Name,
		})
	}
	raw, err := MarshalGenesis(doc)
	if err != nil {
		return fmt.Errorf("consensus: init: %w", err)
	}
	if err := checkNoGenesis(cfg.Home); err != nil {
		return err
	}
	if err := writeHomeFiles(cfg.Home, cfg.Moniker, cfg.Key, cfg.NodeKey); err != nil {
		return fmt.Errorf("consensus: init: %w", err)
	}
	return writeGenesisBytes(cfg.Home, raw)
}

// InitFromGenesis creates a home for a node joining an existing network:
// node key (generated), priv validator from key (a node whose key is not in
// the validator set is simply a full node), config.toml and genesisJSON
// written verbatim, so its hash matches the one the joiner was given.
func InitFromGenesis(home string, genesisJSON []byte, key ed25519.PrivateKey, moniker string) error {
	if home == "" {
		return fmt.Errorf("consensus: init: home is empty: %w", xnode.ErrInvalidArgument)
	}
	if len(key) != ed25519.PrivateKeySize {
		return fmt.Errorf("consensus: init: key has %d bytes, want %d: %w", len(key), ed25519.PrivateKeySize, xnode.ErrInvalidArgument)
	}
	if _, err := types.GenesisDocFromJSON(genesisJSON); err != nil {
		return fmt.Errorf("consensus: init: bad genesis: %v: %w", err, xnode.ErrInvalidArgument)
	}
	if moniker == "" {
		moniker = DefaultConfig().Moniker
	}
	if err := checkNoGenesis(home); err != nil {
		return err
	}
	if err := writeHomeFiles(home, moniker, key, nil); err != nil {
		return fmt.Errorf("consensus: init: %w", err)
	}
	return writeGenesisBytes(home, genesisJSON)
}

// WriteGenesis validates doc (filling CometBFT's defaults) and writes it as
// home's config/genesis.json in its canonical form (MarshalGenesis). It
// refuses to replace an existing genesis (ErrGenesisExists).
func WriteGenesis(home string, doc *types.GenesisDoc) error {
	raw, err := MarshalGenesis(doc)
	if err != nil {
		return fmt.Errorf("consensus: write genesis: %w", err)
	}
	return writeGenesisBytes(home, raw)
}

// MarshalGenesis validates doc, filling CometBFT's defaults, and returns the
// canonical genesis file bytes: what WriteGenesis writes and GenesisHash
// hashes.
func MarshalGenesis(doc *types.GenesisDoc) ([]byte, error) {
	if doc == nil {
		return nil, fmt.Errorf("genesis is nil: %w", xnode.ErrInvalidArgument)
	}
	if err := doc.ValidateAndComplete(); err != nil {
		return nil, fmt.Errorf("invalid genesis: %v: %w", err, xnode.ErrInvalidArgument)
	}
	raw, err := cmtjson.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, fmt.Errorf("encode genesis: %w", err)
	}
	return raw, nil
}

// LoadGenesis reads and validates home's genesis.
func LoadGenesis(home string) (*types.GenesisDoc, error) {
	raw, err := ReadGenesis(home)
	if err != nil {
		return nil, err
	}
	doc, err := types.GenesisDocFromJSON(raw)
	if err != nil {
		return nil, fmt.Errorf("consensus: load genesis: %w", err)
	}
	return doc, nil
}

// ReadGenesis returns home's genesis file bytes exactly as stored: what a
// node serves to joiners and what GenesisHash is computed over.
func ReadGenesis(home string) ([]byte, error) {
	raw, err := os.ReadFile(genesisPath(home))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("consensus: genesis in %s: %w", home, xnode.ErrNotFound)
	}
	if err != nil {
		return nil, fmt.Errorf("consensus: read genesis: %w", err)
	}
	return raw, nil
}

// GenesisHash is the hex SHA-256 of genesis file bytes (as ReadGenesis or
// MarshalGenesis return them). `xnode join --genesis-hash` compares it.
func GenesisHash(genesisJSON []byte) string {
	sum := sha256.Sum256(genesisJSON)
	return hex.EncodeToString(sum[:])
}

// GenesisDocHash is GenesisHash of doc's canonical bytes.
func GenesisDocHash(doc *types.GenesisDoc) (string, error) {
	raw, err := MarshalGenesis(doc)
	if err != nil {
		return "", fmt.Errorf("consensus: genesis hash: %w", err)
	}
	return GenesisHash(raw), nil
}

// NodeID returns the CometBFT node id (hex of the node key's address) of home.
func NodeID(home string) (string, error) {
	nk, err := p2p.LoadNodeKey(cometPaths(home).NodeKeyFile())
	if err != nil {
		return "", fmt.Errorf("consensus: node key: %w", err)
	}
	return string(nk.ID()), nil
}

// cometPaths is a CometBFT config rooted at home, used only for its file paths.
func cometPaths(home string) *cmtcfg.Config {
	return cmtcfg.DefaultConfig().SetRoot(home)
}

func genesisPath(home string) string { return cometPaths(home).GenesisFile() }

func checkNoGenesis(home string) error {
	_, err := os.Stat(genesisPath(home))
	if err == nil {
		return fmt.Errorf("%w in %s", ErrGenesisExists, home)
	}
	if !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("consensus: check genesis: %w", err)
	}
	return nil
}

// writeGenesisBytes writes raw as the genesis without ever replacing one: the
// bytes go to a temporary file that is then hard-linked into place, which
// fails if a genesis appeared meanwhile.
func writeGenesisBytes(home string, raw []byte) error {
	path := genesisPath(home)
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return fmt.Errorf("consensus: write genesis: %w", err)
	}
	tmp, err := os.CreateTemp(filepath.Dir(path), ".genesis-*.json")
	if err != nil {
		return fmt.Errorf("consensus: write genesis: %w", err)
	}
	defer os.Remove(tmp.Name())
	_, err = tmp.Write(raw)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("consensus: write genesis: %w", err)
	}
	if err := os.Chmod(tmp.Name(), 0o644); err != nil {
		return fmt.Errorf("consensus: write genesis: %w", err)
	}
	if err := os.Link(tmp.Name(), path); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("%w in %s", ErrGenesisExists, home)
		}
		return fmt.Errorf("consensus: write genesis: %w", err)
	}
	return nil
}

// writeHomeFiles creates the directories, config.toml, the node key (nodeKey,
// or the existing one, or a new one) and the priv validator for key. The
// priv validator state is written only when missing: resetting it would let
// the validator sign a second, conflicting vote at a height it already voted.
func writeHomeFiles(home, moniker string, key, nodeKey ed25519.PrivateKey) error {
	cc := DefaultConfig()
	cc.Home = home
	cc.Moniker = moniker
	ccfg := cc.cometConfig()
	for _, dir := range []string{filepath.Join(home, "config"), filepath.Join(home, "data")} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
	}
	if err := writeConfigFile(ccfg); err != nil {
		return err
	}
	if nodeKey != nil {
		nk := &p2p.NodeKey{PrivKey: cmted25519.PrivKey(nodeKey)}
		if err := nk.SaveAs(ccfg.NodeKeyFile()); err != nil {
			return fmt.Errorf("write node key: %w", err)
		}
	} else if _, err := p2p.LoadOrGenNodeKey(ccfg.NodeKeyFile()); err != nil {
		return fmt.Errorf("node key: %w", err)
	}
	pv := privval.NewFilePV(cmted25519.PrivKey(key), ccfg.PrivValidatorKeyFile(), ccfg.PrivValidatorStateFile())
	if err := catchPanic(pv.Key.Save); err != nil {
		return fmt.Errorf("write priv validator key: %w", err)
	}
	if _, err := os.Stat(ccfg.PrivValidatorStateFile()); errors.Is(err, fs.ErrNotExist) {
		if err := catchPanic(pv.LastSignState.Save); err != nil {
			return fmt.Errorf("write priv validator state: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("priv validator state: %w", err)
	}
	return nil
}

// writeConfigFile renders CometBFT's config.toml. CometBFT panics on a write
// error; turn that into an error.
func writeConfigFile(c *cmtcfg.Config) error {
	path := filepath.Join(c.RootDir, "config", "config.toml")
	if err := catchPanic(func() { cmtcfg.WriteConfigFile(path, c) }); err != nil {
		return fmt.Errorf("write config.toml: %w", err)
	}
	return nil
}

// catchPanic runs f and turns a panic into an error. CometBFT's file helpers
// panic on I/O errors; a node must report those, not crash.
func catchPanic(f func()) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	f()
	return nil
}
