package overlay

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"text/template"
	"time"

	"github.com/multiformats/go-multiaddr"
	"github.com/pelletier/go-toml/v2"

	"github.com/xnode/xnode/internal/atomicfile"
)

// Duration is a time.Duration written in config.toml as a string ("30s").
type Duration time.Duration

// MarshalText implements encoding.TextMarshaler.
func (d Duration) MarshalText() ([]byte, error) { return []byte(time.Duration(d).String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler.
func (d *Duration) UnmarshalText(b []byte) error {
	v, err := time.ParseDuration(string(b))
	if err != nil {
		return fmt.Errorf("bad duration %q: %w", b, err)
	}
	*d = Duration(v)
	return nil
}

// D returns the value as a time.Duration.
func (d Duration) D() time.Duration { return time.Duration(d) }

// Config is the node's config.toml. Every field is documented in the file
// written by WriteConfig; defaults come from DefaultConfig. Network-wide
// parameters (replication factor, chunk size, minimum members) are not here:
// they live in the genesis and are read from the chain.
type Config struct {
	// Moniker is a human name for the node, shown in logs and to peers.
	Moniker string `toml:"moniker"`

	API       APIConfig       `toml:"api"`
	P2P       P2PConfig       `toml:"p2p"`
	Consensus ConsensusConfig `toml:"consensus"`
	Storage   StorageConfig   `toml:"storage"`
	Gossip    GossipConfig    `toml:"gossip"`
	Repair    RepairConfig    `toml:"repair"`
	State     StateConfig     `toml:"state"`
	Log       LogConfig       `toml:"log"`
	// Services are the instances this node exposes from start ([[service]]).
	Services []ServiceConfig `toml:"service"`
}

// APIConfig configures the HTTP API.
type APIConfig struct {
	// Listen is the HOST:PORT of the HTTP API. Default 127.0.0.1:8080.
	Listen string `toml:"listen"`
	// MaxBodyBytes bounds an uploaded blob. Default 64 GiB.
	MaxBodyBytes int64 `toml:"max_body_bytes"`
	// MaxInFlight bounds concurrent requests; more are answered OVERLOADED. Default 256.
	MaxInFlight int `toml:"max_in_flight"`
	// CommitWait bounds how long a submitting request waits for the commit
	// before it answers 202 pending with the transaction's hash. Default 10s.
	CommitWait Duration `toml:"commit_wait"`
}

// P2PConfig configures the libp2p host.
type P2PConfig struct {
	// Listen lists the libp2p listen multiaddrs (TCP and QUIC).
	// Default /ip4/127.0.0.1/tcp/4001 and /ip4/127.0.0.1/udp/4001/quic-v1.
	Listen []string `toml:"listen"`
	// Bootstrap lists peers to join through, each ending in /p2p/<peer id>.
	Bootstrap []string `toml:"bootstrap"`
	// Capacity is the bytes this node offers; it is its placement weight. Default 100 GiB.
	Capacity uint64 `toml:"capacity"`
	// ConnLow and ConnHigh are the connection manager's watermarks: above
	// ConnHigh connections it trims down to ConnLow. Defaults 64 and 192.
	ConnLow  int `toml:"conn_low"`
	ConnHigh int `toml:"conn_high"`
	// MaxMemoryMB caps what the libp2p resource manager lets connections and
	// streams reserve, in MiB. Default 512.
	MaxMemoryMB int64 `toml:"max_memory_mb"`
	// MaxFileDescriptors caps sockets the resource manager allows. Default 1024.
	MaxFileDescriptors int `toml:"max_file_descriptors"`
}

// ConsensusConfig configures the embedded CometBFT node.
type ConsensusConfig struct {
	// P2PListen is CometBFT's peer HOST:PORT. Default 127.0.0.1:26656.
	P2PListen string `toml:"p2p_listen"`
	// RPCListen is CometBFT's RPC HOST:PORT; empty turns the RPC server off. Default 127.0.0.1:26657.
	RPCListen string `toml:"rpc_listen"`
	// PersistentPeers lists CometBFT peers as id@host:port. Peers learnt from
	// gossip are added at run time.
	PersistentPeers []string `toml:"persistent_peers"`
	// TimeoutCommit is how long a validator waits after a commit before the
	// next height. Default 500ms (a dev network on one machine; see consensus/doc.go).
	TimeoutCommit Duration `toml:"timeout_commit"`
	// EmptyBlocksInterval makes an idle chain still produce a block this often. Default 2s.
	EmptyBlocksInterval Duration `toml:"empty_blocks_interval"`
	// IndexTxs turns on CometBFT's tx and block indexer, so that the RPC's
	// /tx?hash=, /tx_search and /block_search answer and `xnode tx` finds
	// old transactions. Default true.
	IndexTxs bool `toml:"index_txs"`
}

// StorageConfig configures the block store.
type StorageConfig struct {
	// SyncWrites fsyncs every acknowledged block. Default true; turning it
	// off risks acknowledged data on power loss.
	SyncWrites bool `toml:"sync_writes"`
	// TentativeGrace is how long blocks of an unfinished upload are kept. Default 1h.
	TentativeGrace Duration `toml:"tentative_grace"`
	// GCInterval is how often orphan blocks and the value log are collected. Default 10m.
	GCInterval Duration `toml:"gc_interval"`
	// ScrubInterval is how often every local block is re-hashed. Default 1h; 0 turns scrubbing off.
	ScrubInterval Duration `toml:"scrub_interval"`
}

// GossipConfig configures membership.
type GossipConfig struct {
	// HeartbeatInterval is how often the node announces itself. Default 1s.
	HeartbeatInterval Duration `toml:"heartbeat_interval"`
	// SuspectPhi and FailPhi are the phi-accrual thresholds. Defaults 5 and 10.
	SuspectPhi float64 `toml:"suspect_phi"`
	FailPhi    float64 `toml:"fail_phi"`
	// Tags are key=value metadata announced with the node.
	Tags map[string]string `toml:"tags"`
}

// RepairConfig configures replication repair.
type RepairConfig struct {
	// Grace is how long a member that failed or left keeps its place before
	// data is repaired around it, so that a pause or a restart causes no copy
	// storm. Default 30s.
	Grace Duration `toml:"grace"`
	// AntiEntropyInterval is how often a full repair pass runs regardless of
	// membership events. Default 1m.
	AntiEntropyInterval Duration `toml:"anti_entropy_interval"`
	// Settle is how long membership must stay unchanged after a join, a
	// leave or the end of a failure's grace before the repair pass they call
	// for runs, so that a wave of changes (a network starting, stopping or
	// restarting) makes one pass over the settled view instead of moving
	// data towards every view on the way. A pass waits at most 10 times
	// Settle for the changes to stop. Default 3s; 0 runs the pass at once.
	Settle Duration `toml:"settle"`
	// Concurrency bounds parallel block pushes during repair. Default 8.
	Concurrency int `toml:"concurrency"`
}

// StateConfig configures the chain's application state.
type StateConfig struct {
	// KeepRecent is how many recent heights of the state tree are kept, so
	// that queries and proofs can be served at them; older versions are
	// pruned after each block. 0 keeps every height. Default 1000.
	KeepRecent int64 `toml:"keep_recent"`
}

// LogConfig configures logging.
type LogConfig struct {
	// Level is debug, info, warn or error. Default info.
	Level string `toml:"level"`
	// Format is text, json or auto (text on a terminal, JSON otherwise). Default auto.
	Format string `toml:"format"`
}

// DefaultConfig returns the defaults of a single node on this machine.
func DefaultConfig() Config {
	return Config{
		Moniker: hostnameOr("xnode"),
		API:     APIConfig{Listen: "127.0.0.1:8080", MaxBodyBytes: 64 << 30, MaxInFlight: 256, CommitWait: Duration(10 * time.Second)},
		P2P: P2PConfig{
			Listen:             []string{"/ip4/127.0.0.1/tcp/4001", "/ip4/127.0.0.1/udp/4001/quic-v1"},
			Capacity:           100 << 30,
			ConnLow:            64,
			ConnHigh:           192,
			MaxMemoryMB:        512,
			MaxFileDescriptors: 1024,
		},
		Consensus: ConsensusConfig{
			P2PListen:           "127.0.0.1:26656",
			RPCListen:           "127.0.0.1:26657",
			TimeoutCommit:       Duration(500 * time.Millisecond),
			EmptyBlocksInterval: Duration(2 * time.Second),
			IndexTxs:            true,
		},
		Storage: StorageConfig{
			SyncWrites:     true,
			TentativeGrace: Duration(time.Hour),
			GCInterval:     Duration(10 * time.Minute),
			ScrubInterval:  Duration(time.Hour),
		},
		Gossip: GossipConfig{HeartbeatInterval: Duration(time.Second), SuspectPhi: 5, FailPhi: 10},
		Repair: RepairConfig{Grace: Duration(30 * time.Second), AntiEntropyInterval: Duration(time.Minute), Settle: Duration(3 * time.Second), Concurrency: 8},
		State:  StateConfig{KeepRecent: 1000},
		Log:    LogConfig{Level: "info", Format: "auto"},
	}
}

func hostnameOr(def string) string {
	if h, err := os.Hostname(); err == nil && h != "" {
		return h
	}
	return def
}

// Validate checks every field; an error names the field and its value.
func (c Config) Validate() error {
	var errs []error
	bad := func(field string, v any, why string) {
		errs = append(errs, fmt.Errorf("config: %s = %v: %s", field, v, why))
	}
	if strings.TrimSpace(c.Moniker) == "" {
		bad("moniker", `""`, "must not be empty")
	}
	if err := checkHostPort(c.API.Listen); err != nil {
		bad("api.listen", c.API.Listen, err.Error())
	}
	if c.API.MaxBodyBytes <= 0 {
		bad("api.max_body_bytes", c.API.MaxBodyBytes, "must be positive")
	}
	if c.API.MaxInFlight <= 0 {
		bad("api.max_in_flight", c.API.MaxInFlight, "must be positive")
	}
	if c.API.CommitWait.D() <= 0 {
		bad("api.commit_wait", c.API.CommitWait.D(), "must be positive")
	}
	if len(c.P2P.Listen) == 0 {
		bad("p2p.listen", "[]", "needs at least one multiaddr")
	}
	for i, s := range c.P2P.Listen {
		if _, err := multiaddr.NewMultiaddr(s); err != nil {
			bad(fmt.Sprintf("p2p.listen[%d]", i), s, err.Error())
		}
	}
	for i, s := range c.P2P.Bootstrap {
		if _, err := ParseBootstrap(s); err != nil {
			bad(fmt.Sprintf("p2p.bootstrap[%d]", i), s, err.Error())
		}
	}
	if c.P2P.Capacity == 0 {
		bad("p2p.capacity", 0, "must be positive (it is the placement weight)")
	}
	if c.P2P.ConnLow <= 0 || c.P2P.ConnHigh < c.P2P.ConnLow {
		bad("p2p.conn_low/conn_high", fmt.Sprintf("%d/%d", c.P2P.ConnLow, c.P2P.ConnHigh), "need 0 < conn_low <= conn_high")
	}
	if c.P2P.MaxMemoryMB < 64 {
		bad("p2p.max_memory_mb", c.P2P.MaxMemoryMB, "must be at least 64")
	}
	if c.P2P.MaxFileDescriptors < 64 {
		bad("p2p.max_file_descriptors", c.P2P.MaxFileDescriptors, "must be at least 64")
	}
	if err := checkHostPort(c.Consensus.P2PListen); err != nil {
		bad("consensus.p2p_listen", c.Consensus.P2PListen, err.Error())
	}
	if c.Consensus.RPCListen != "" {
		if err := checkHostPort(c.Consensus.RPCListen); err != nil {
			bad("consensus.rpc_listen", c.Consensus.RPCListen, err.Error())
		}
	}
	for i, p := range c.Consensus.PersistentPeers {
		if id, addr, ok := strings.Cut(p, "@"); !ok || len(id) != 40 || checkHostPort(addr) != nil {
			bad(fmt.Sprintf("consensus.persistent_peers[%d]", i), p, "want <40-hex node id>@host:port")
		}
	}
	if c.Consensus.TimeoutCommit.D() <= 0 {
		bad("consensus.timeout_commit", c.Consensus.TimeoutCommit.D(), "must be positive")
	}
	if c.Consensus.EmptyBlocksInterval.D() < 0 {
		bad("consensus.empty_blocks_interval", c.Consensus.EmptyBlocksInterval.D(), "must not be negative")
	}
	if c.Storage.TentativeGrace.D() < time.Minute {
		bad("storage.tentative_grace", c.Storage.TentativeGrace.D(), "must be at least 1m")
	}
	if c.Storage.GCInterval.D() <= 0 {
		bad("storage.gc_interval", c.Storage.GCInterval.D(), "must be positive")
	}
	if c.Storage.ScrubInterval.D() < 0 {
		bad("storage.scrub_interval", c.Storage.ScrubInterval.D(), "must not be negative")
	}
	if c.Gossip.HeartbeatInterval.D() <= 0 {
		bad("gossip.heartbeat_interval", c.Gossip.HeartbeatInterval.D(), "must be positive")
	}
	if c.Gossip.SuspectPhi <= 0 || c.Gossip.FailPhi <= c.Gossip.SuspectPhi {
		bad("gossip.suspect_phi/fail_phi", fmt.Sprintf("%g/%g", c.Gossip.SuspectPhi, c.Gossip.FailPhi), "need 0 < suspect_phi < fail_phi")
	}
	if c.Repair.Grace.D() < 0 {
		bad("repair.grace", c.Repair.Grace.D(), "must not be negative")
	}
	if c.Repair.AntiEntropyInterval.D() <= 0 {
		bad("repair.anti_entropy_interval", c.Repair.AntiEntropyInterval.D(), "must be positive")
	}
	if c.Repair.Settle.D() < 0 {
		bad("repair.settle", c.Repair.Settle.D(), "must not be negative")
	}
	if c.Repair.Concurrency <= 0 {
		bad("repair.concurrency", c.Repair.Concurrency, "must be positive")
	}
	if c.State.KeepRecent < 0 {
		bad("state.keep_recent", c.State.KeepRecent, "must not be negative (0 keeps every height)")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", c.Log.Level, "want debug, info, warn or error")
	}
	switch c.Log.Format {
	case "auto", "text", "json":
	default:
		bad("log.format", c.Log.Format, "want auto, text or json")
	}
	return errors.Join(errs...)
}

func checkHostPort(s string) error {
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return fmt.Errorf("want HOST:PORT")
	}
	if host != "" && net.ParseIP(host) == nil && host != "localhost" {
		return fmt.Errorf("host %q is not an IP address", host)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("bad port %q", port)
	}
	return nil
}

// LoadConfig reads path, starting from DefaultConfig so that a file naming
// only some fields keeps the defaults for the rest. Unknown fields are errors.
func LoadConfig(path string) (Config, error) {
	cfg := DefaultConfig()
	b, err := os.ReadFile(path)
	if err != nil {
		return cfg, fmt.Errorf("config: %w", err)
	}
	dec := toml.NewDecoder(bytes.NewReader(b)).DisallowUnknownFields()
	if err := dec.Decode(&cfg); err != nil {
		var sm *toml.StrictMissingError
		if errors.As(err, &sm) {
			return cfg, fmt.Errorf("config: %s: %s", path, sm.String())
		}
		return cfg, fmt.Errorf("config: %s: %w", path, err)
	}
	// An empty list in the file means the same as none.
	for _, l := range []*[]string{&cfg.P2P.Listen, &cfg.P2P.Bootstrap, &cfg.Consensus.PersistentPeers} {
		if len(*l) == 0 {
			*l = nil
		}
	}
	if len(cfg.Gossip.Tags) == 0 {
		cfg.Gossip.Tags = nil
	}
	return cfg, cfg.Validate()
}

// WriteConfig writes cfg to path as a commented config.toml, atomically.
func WriteConfig(path string, cfg Config) error {
	q := func(v any) string {
		b, err := toml.Marshal(map[string]any{"v": v})
		if err != nil {
			return `""`
		}
		return strings.TrimSpace(strings.TrimPrefix(string(b), "v = "))
	}
	var buf bytes.Buffer
	t := template.Must(template.New("config").Funcs(template.FuncMap{"q": q, "dur": func(d Duration) string { return q(d.D().String()) }}).Parse(configTemplate))
	if err := t.Execute(&buf, cfg); err != nil {
		return fmt.Errorf("config: render: %w", err)
	}
	// Check the rendering reads back to the same values before replacing anything.
	var back Config
	if err := toml.Unmarshal(buf.Bytes(), &back); err != nil {
		return fmt.Errorf("config: rendered file does not parse: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return atomicfile.WriteBytes(path, buf.Bytes(), 0o644)
}

const configTemplate = `# xnode node configuration.
#
# Network-wide parameters (replication factor, maximum chunk size, minimum
# members) are not set here: they are in the genesis (cometbft/config/genesis.json,
# app_state.params) and every node reads them from the chain.
# Command-line listen flags (--api-listen, --p2p-listen, --cmt-p2p-listen,
# --cmt-rpc-listen) override the values below for one run.

# A human name for this node, shown in logs and to peers.
moniker = {{q .Moniker}}

[api]
# HOST:PORT of the HTTP API. Keep it on 127.0.0.1 unless a proxy guards it.
listen = {{q .API.Listen}}
# Largest blob accepted by POST /v1/blobs, in bytes; larger bodies get 413 TOO_LARGE.
max_body_bytes = {{.API.MaxBodyBytes}}
# Concurrent requests served; more are answered 503 OVERLOADED with Retry-After.
max_in_flight = {{.API.MaxInFlight}}
# How long a request that submits a transaction waits for its commit; past it
# the answer is 202 with {"tx","status":"pending"} ('xnode tx HASH' follows it).
commit_wait = {{dur .API.CommitWait}}

[p2p]
# libp2p listen multiaddrs (TCP and QUIC).
listen = {{q .P2P.Listen}}
# Peers to join the network through; each ends in /p2p/<peer id>.
bootstrap = {{q .P2P.Bootstrap}}
# Bytes this node offers to the network; its weight in placement.
capacity = {{.P2P.Capacity}}
# Connection manager watermarks: above conn_high connections, trim to conn_low.
conn_low = {{.P2P.ConnLow}}
conn_high = {{.P2P.ConnHigh}}
# libp2p resource manager limits: memory (MiB) and sockets all peers together may use.
max_memory_mb = {{.P2P.MaxMemoryMB}}
max_file_descriptors = {{.P2P.MaxFileDescriptors}}

[consensus]
# CometBFT peer-to-peer HOST:PORT.
p2p_listen = {{q .Consensus.P2PListen}}
# CometBFT RPC HOST:PORT; empty turns the RPC server off.
rpc_listen = {{q .Consensus.RPCListen}}
# CometBFT peers as <node id>@host:port; more are learnt from gossip.
persistent_peers = {{q .Consensus.PersistentPeers}}
# Wait after a commit before the next height (real networks over a WAN use 1s or more).
timeout_commit = {{dur .Consensus.TimeoutCommit}}
# An idle chain still makes a block this often (0 = only when there are transactions).
empty_blocks_interval = {{dur .Consensus.EmptyBlocksInterval}}
# CometBFT's tx and block indexer: the RPC's /tx?hash=, /tx_search and
# /block_search, and 'xnode tx' for transactions older than the node's memory.
index_txs = {{.Consensus.IndexTxs}}

[storage]
# fsync every acknowledged block. Turning this off risks acknowledged data on power loss.
sync_writes = {{.Storage.SyncWrites}}
# Blocks of an upload that never finished are removed after this long.
tentative_grace = {{dur .Storage.TentativeGrace}}
# How often orphan blocks and badger's value log are collected.
gc_interval = {{dur .Storage.GCInterval}}
# How often every local block is re-hashed and a bad copy repaired (0 = never).
scrub_interval = {{dur .Storage.ScrubInterval}}

[gossip]
# How often this node announces itself to the membership topic.
heartbeat_interval = {{dur .Gossip.HeartbeatInterval}}
# Phi-accrual thresholds: a member is suspect at suspect_phi and failed at fail_phi.
suspect_phi = {{.Gossip.SuspectPhi}}
fail_phi = {{.Gossip.FailPhi}}

[gossip.tags]
# key = "value" metadata announced with this node.
{{range $k, $v := .Gossip.Tags}}{{q $k}} = {{q $v}}
{{end}}
[repair]
# A member that failed or left (a restart is a leave) keeps its place this long
# before data is re-replicated around it.
grace = {{dur .Repair.Grace}}
# A full repair pass runs this often even without membership changes.
anti_entropy_interval = {{dur .Repair.AntiEntropyInterval}}
# After membership changes, repair waits until membership has been quiet this long.
settle = {{dur .Repair.Settle}}
# Parallel block pushes during repair.
concurrency = {{.Repair.Concurrency}}

[state]
# Recent heights of the application state kept for queries and proofs
# (older ones are pruned after each block); 0 keeps every height.
keep_recent = {{.State.KeepRecent}}

[log]
# debug, info, warn or error.
level = {{q .Log.Level}}
# text, json, or auto (text on a terminal, JSON otherwise).
format = {{q .Log.Format}}

# Services this node exposes from start (xnode service expose does the same
# until the node stops), one [[service]] table each:
# [[service]]
# name = "NAMESPACE/SERVICE"
# target = "127.0.0.1:9000"
# proto = "http"        # or tcp
# check = "http:/health" # tcp (default), http:/path or none
# weight = 1
# [service.tags]
# zone = "eu-1"
{{range .Services}}
[[service]]
name = {{q .Name}}
target = {{q .Target}}
{{if .Proto}}proto = {{q .Proto}}
{{end}}{{if .Check}}check = {{q .Check}}
{{end}}{{if .Weight}}weight = {{.Weight}}
{{end}}{{if .Tags}}[service.tags]
{{range $k, $v := .Tags}}{{q $k}} = {{q $v}}
{{end}}{{end}}{{end}}`

// ListenAddrs expands one --p2p-listen multiaddr into the listen set: a TCP
// address also listens with QUIC on the same port number, so one flag gives a
// node both transports.
func ListenAddrs(s string) ([]string, error) {
	ma, err := multiaddr.NewMultiaddr(s)
	if err != nil {
		return nil, fmt.Errorf("--p2p-listen %q: %w", s, err)
	}
	ip, err := ma.ValueForProtocol(multiaddr.P_IP4)
	proto := "ip4"
	if err != nil {
		if ip, err = ma.ValueForProtocol(multiaddr.P_IP6); err != nil {
			return []string{s}, nil
		}
		proto = "ip6"
	}
	port, err := ma.ValueForProtocol(multiaddr.P_TCP)
	if err != nil {
		return []string{s}, nil
	}
	return []string{s, fmt.Sprintf("/%s/%s/udp/%s/quic-v1", proto, ip, port)}, nil
}
