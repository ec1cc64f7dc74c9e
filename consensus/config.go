package consensus

import (
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"
	"time"

	cmtcfg "github.com/cometbft/cometbft/config"
	cmtstrings "github.com/cometbft/cometbft/libs/strings"
	"github.com/cometbft/cometbft/p2p"
)

// Config configures the embedded CometBFT node. It is the single source of
// truth: the CometBFT config.toml under Home is regenerated from it on every
// Start, so edits to that file do not survive (edit xnode's config instead).
// The zero value is not usable; start from DefaultConfig or DevConfig.
type Config struct {
	// Home is the CometBFT home directory (<xnode home>/cometbft), holding
	// config/ (genesis, keys, config.toml) and data/ (block store, state,
	// WAL, priv validator state). Required.
	Home string

	// Moniker is the human-readable node name shown to peers.
	// Default "xnode".
	Moniker string

	// P2PListen is the host:port of CometBFT's peer-to-peer listener.
	// The port must not be 0: the address is advertised to peers as is.
	// Default "127.0.0.1:26656".
	P2PListen string

	// ExternalAddress is the host:port advertised to peers and returned by
	// P2PAddress when the listener is not itself dialable (for example
	// 0.0.0.0:26656 behind a public address). Default "" (use P2PListen).
	ExternalAddress string

	// RPCListen is the host:port of CometBFT's own JSON-RPC server, for
	// operators and standard CometBFT tooling. Empty disables it; xnode itself
	// never uses it. Default "127.0.0.1:26657".
	RPCListen string

	// PersistentPeers are "nodeid@host:port" addresses dialled at start and
	// redialled whenever the connection drops. Default none.
	PersistentPeers []string

	// TimeoutPropose is how long a validator waits for the round's proposal
	// before prevoting nil. It only matters when the proposer is slow or
	// down. Default 3 s (CometBFT's default); DevConfig 1 s.
	TimeoutPropose time.Duration

	// TimeoutVote is the prevote and precommit timeout: how long to wait for
	// more votes once +2/3 of any votes arrived without +2/3 for one value.
	// Default 1 s (CometBFT's default); DevConfig 200 ms.
	TimeoutVote time.Duration

	// TimeoutCommit is the pause after a block commits before the next
	// height starts. It lets slower validators' precommits land in the block
	// and batches the transactions that arrive meanwhile, so it sets the
	// block time under load. Default 1 s (CometBFT's default); DevConfig 200 ms.
	TimeoutCommit time.Duration

	// CreateEmptyBlocks makes the chain advance without transactions so that
	// a growing height shows liveness. Default true.
	CreateEmptyBlocks bool

	// CreateEmptyBlocksInterval is the pause before an empty block when the
	// mempool is idle; a transaction starts a block at once regardless.
	// 0 means an empty block right after every TimeoutCommit.
	// Default 5 s; DevConfig 1 s.
	CreateEmptyBlocksInterval time.Duration

	// AddrBookStrict rejects peer addresses that are not routable on the
	// internet. It must be false for networks on one machine or a LAN.
	// Default false.
	AddrBookStrict bool

	// AllowDuplicateIP lets several peers share one IP address, as every
	// node of a localnet does. Default true.
	AllowDuplicateIP bool

	// PEX enables CometBFT's peer exchange so that a node learns peers
	// beyond the ones it was given. Default false: xnode learns CometBFT
	// peers from its own gossip (DialPeers). Note that with PEX on, CometBFT
	// saves config/addrbook.json from a goroutine Close cannot wait for.
	PEX bool

	// MempoolSize is the most transactions the mempool holds. Default 5000.
	MempoolSize int

	// MempoolMaxTxBytes is the largest transaction accepted, in bytes.
	// Default 1 MiB.
	MempoolMaxTxBytes int

	// MempoolMaxTxsBytes caps the total bytes of all transactions in the
	// mempool. Default 64 MiB.
	MempoolMaxTxsBytes int64

	// MempoolCacheSize is how many recent transaction hashes the mempool
	// remembers to drop duplicates. Default 10000.
	MempoolCacheSize int

	// IndexTxs turns on CometBFT's transaction and block indexers (kv, in
	// <Home>/data/tx_index.db): the RPC's /tx?hash=, /tx_search and
	// /block_search answer, and Node.Tx and Node.SubmitTx find transactions
	// committed before the node's recent memory (RememberedTxs) or before a
	// restart. It costs a database write per transaction and per block.
	// Default false for the library; xnode's own config turns it on
	// (consensus.index_txs in config.toml).
	IndexTxs bool

	// LogLevel chooses which CometBFT lines reach the logger: "error" (only
	// errors), "info" (errors; a few lifecycle lines at Info; the rest of
	// CometBFT's Info chatter at Debug) or "debug" (also CometBFT's own Debug
	// lines, which are very verbose). Default "info".
	LogLevel string
}

// DefaultConfig returns the settings for a real network: CometBFT's default
// timeouts, empty blocks every 5 s, listeners on loopback.
func DefaultConfig() Config {
	return Config{
		Moniker:                   "xnode",
		P2PListen:                 "127.0.0.1:26656",
		RPCListen:                 "127.0.0.1:26657",
		TimeoutPropose:            3 * time.Second,
		TimeoutVote:               time.Second,
		TimeoutCommit:             time.Second,
		CreateEmptyBlocks:         true,
		CreateEmptyBlocksInterval: 5 * time.Second,
		AddrBookStrict:            false,
		AllowDuplicateIP:          true,
		PEX:                       false,
		MempoolSize:               5000,
		MempoolMaxTxBytes:         1 << 20,
		MempoolMaxTxsBytes:        64 << 20,
		MempoolCacheSize:          10000,
		LogLevel:                  "info",
	}
}

// DevConfig returns DefaultConfig with timeouts for validators that share one
// machine (localnet, tests, benchmarks): see doc.go for how they were chosen.
func DevConfig() Config {
	c := DefaultConfig()
	c.TimeoutPropose = time.Second
	c.TimeoutVote = 200 * time.Millisecond
	c.TimeoutCommit = 200 * time.Millisecond
	c.CreateEmptyBlocksInterval = time.Second
	return c
}

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	if c.Home == "" {
		return errors.New("consensus: config Home is empty")
	}
	if c.Moniker != "" && (!cmtstrings.IsASCIIText(c.Moniker) || cmtstrings.ASCIITrim(c.Moniker) == "") {
		return fmt.Errorf("consensus: config Moniker %q must be printable ASCII without tabs", c.Moniker)
	}
	if err := validateHostPort(c.P2PListen, false); err != nil {
		return fmt.Errorf("consensus: config P2PListen %q: %w", c.P2PListen, err)
	}
	if c.ExternalAddress != "" {
		if err := validateHostPort(c.ExternalAddress, false); err != nil {
			return fmt.Errorf("consensus: config ExternalAddress %q: %w", c.ExternalAddress, err)
		}
	}
	if c.RPCListen != "" {
		if err := validateHostPort(c.RPCListen, true); err != nil {
			return fmt.Errorf("consensus: config RPCListen %q: %w", c.RPCListen, err)
		}
	}
	for _, p := range c.PersistentPeers {
		if err := validatePeerAddress(p); err != nil {
			return fmt.Errorf("consensus: config PersistentPeers entry %q: %w", p, err)
		}
	}
	durations := []struct {
		name string
		d    time.Duration
	}{
		{"TimeoutPropose", c.TimeoutPropose},
		{"TimeoutVote", c.TimeoutVote},
		{"TimeoutCommit", c.TimeoutCommit},
	}
	for _, f := range durations {
		if f.d <= 0 {
			return fmt.Errorf("consensus: config %s %s must be positive", f.name, f.d)
		}
	}
	if c.CreateEmptyBlocksInterval < 0 {
		return fmt.Errorf("consensus: config CreateEmptyBlocksInterval %s must not be negative", c.CreateEmptyBlocksInterval)
	}
	if c.MempoolSize <= 0 {
		return fmt.Errorf("consensus: config MempoolSize %d must be positive", c.MempoolSize)
	}
	if c.MempoolMaxTxBytes <= 0 {
		return fmt.Errorf("consensus: config MempoolMaxTxBytes %d must be positive", c.MempoolMaxTxBytes)
	}
	if c.MempoolMaxTxsBytes < int64(c.MempoolMaxTxBytes) {
		return fmt.Errorf("consensus: config MempoolMaxTxsBytes %d must be at least MempoolMaxTxBytes %d", c.MempoolMaxTxsBytes, c.MempoolMaxTxBytes)
	}
	if c.MempoolCacheSize < 0 {
		return fmt.Errorf("consensus: config MempoolCacheSize %d must not be negative", c.MempoolCacheSize)
	}
	switch c.LogLevel {
	case "error", "info", "debug":
	default:
		return fmt.Errorf("consensus: config LogLevel %q must be error, info or debug", c.LogLevel)
	}
	return nil
}

func validateHostPort(s string, allowZeroPort bool) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return errors.New("want host:port")
	}
	if host == "" {
		return errors.New("host is empty")
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 0 || n > 65535 {
		return errors.New("bad port")
	}
	if n == 0 && !allowZeroPort {
		return errors.New("port 0 cannot be advertised; pick a port")
	}
	return nil
}

// validatePeerAddress checks "nodeid@host:port" without resolving the host.
func validatePeerAddress(s string) error {
	i := strings.LastIndex(s, "@")
	if i < 0 {
		return errors.New("want nodeid@host:port")
	}
	id, hostPort := s[:i], s[i+1:]
	if b, err := hex.DecodeString(id); err != nil || len(b) != p2p.IDByteLength {
		return fmt.Errorf("node id must be %d hex characters", 2*p2p.IDByteLength)
	}
	return validateHostPort(hostPort, false)
}

// cometConfig builds the CometBFT configuration for c. Everything CometBFT
// reads comes from here, so a node never depends on a hand-edited file.
func (c Config) cometConfig() *cmtcfg.Config {
	cc := cmtcfg.DefaultConfig()
	cc.SetRoot(c.Home)
	cc.Moniker = c.Moniker
	if cc.Moniker == "" {
		cc.Moniker = DefaultConfig().Moniker // peers reject an empty moniker
	}
	cc.LogLevel = c.LogLevel

	cc.P2P.ListenAddress = "tcp://" + c.P2PListen
	cc.P2P.ExternalAddress = c.ExternalAddress
	cc.P2P.PersistentPeers = strings.Join(c.PersistentPeers, ",")
	cc.P2P.AddrBookStrict = c.AddrBookStrict
	cc.P2P.AllowDuplicateIP = c.AllowDuplicateIP
	cc.P2P.PexReactor = c.PEX

	if c.RPCListen == "" {
		cc.RPC.ListenAddress = ""
	} else {
		cc.RPC.ListenAddress = "tcp://" + c.RPCListen
	}

	cc.Consensus.TimeoutPropose = c.TimeoutPropose
	cc.Consensus.TimeoutProposeDelta = c.TimeoutPropose / 6
	cc.Consensus.TimeoutPrevote = c.TimeoutVote
	cc.Consensus.TimeoutPrevoteDelta = c.TimeoutVote / 2
	cc.Consensus.TimeoutPrecommit = c.TimeoutVote
	cc.Consensus.TimeoutPrecommitDelta = c.TimeoutVote / 2
	cc.Consensus.TimeoutCommit = c.TimeoutCommit
	cc.Consensus.CreateEmptyBlocks = c.CreateEmptyBlocks
	cc.Consensus.CreateEmptyBlocksInterval = c.CreateEmptyBlocksInterval

	cc.Mempool.Size = c.MempoolSize
	cc.Mempool.MaxTxBytes = c.MempoolMaxTxBytes
	cc.Mempool.MaxTxsBytes = c.MempoolMaxTxsBytes
	cc.Mempool.CacheSize = c.MempoolCacheSize

	// "kv" indexes transactions by hash and height (and the events the app
	// marks for indexing), and blocks by height: CometBFT ties the block
	// indexer to the same setting.
	cc.TxIndex.Indexer = "null"
	if c.IndexTxs {
		cc.TxIndex.Indexer = "kv"
	}
	// CometBFT's Prometheus metrics register on the global default registry,
	// which would make two nodes in one process collide; keep them off.
	cc.Instrumentation.Prometheus = false
	return cc
}
