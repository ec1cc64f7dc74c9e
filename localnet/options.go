package localnet

import (
	"fmt"
	"os"
	"time"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/abci"
)

// Defaults of Options.
const (
	DefaultN            = 4
	DefaultDir          = ".localnet"
	DefaultChainID      = "xnode-localnet"
	DefaultReadyTimeout = 90 * time.Second
	DefaultDownTimeout  = 15 * time.Second
	// MaxNodes bounds N: ports are spaced 10 apart per node and candidate
	// base ports 1000 apart, so 100 nodes would reach the next candidate.
	MaxNodes = 64
)

// Port offsets within a node's block of 10 ports.
const (
	offsetAPI      = 0
	offsetP2P      = 1 // libp2p TCP, and QUIC on the same UDP port
	offsetCometP2P = 2
	offsetCometRPC = 3
	portsPerNode   = 10
)

// Options describe a process-mode network.
type Options struct {
	// N is the number of nodes, every one a validator of equal power.
	// Default 4; at most MaxNodes. On a restart (DIR already holds a
	// localnet) zero means "as recorded", anything else must match.
	N int
	// Dir holds the network: localnet.json and one home per node. Default ".localnet".
	Dir string
	// ChainID names the network. Default "xnode-localnet".
	ChainID string
	// BasePort is the first port of node0; node i uses BasePort+10*i .. +3.
	// Zero picks the first of 27000, 28000, ... 31000 whose ports are all free.
	BasePort int
	// Params are the genesis network parameters. Zero value means
	// abci.DefaultParams() (R=3, min_members 1) with R lowered to N when N < 3,
	// and a minute to unbond (LocalParams).
	Params abci.Params
	// Bin is the xnode binary each node runs. Default os.Executable().
	Bin string
	// ReadyTimeout bounds how long Up waits for every node to be ready
	// (/health/ready answers 200 and the chain is at height 2 or more).
	// Default 90s.
	ReadyTimeout time.Duration
}

// LocalParams are the parameters of a local network of n nodes:
// abci.DefaultParams() with R lowered to n when n < 3, a minute to unbond
// (instead of 21 days) and min_write_balance 1; jail time keeps its
// Cosmos-style 10 minutes.
func LocalParams(n int) abci.Params {
	p := abci.DefaultParams()
	if n > 0 && int(p.ReplicationFactor) > n {
		p.ReplicationFactor = uint32(n)
	}
	p.UnbondingTime = int64(time.Minute)
	p.MinWriteBalance = 1
	return p
}

// DefaultOptions returns the options of `xnode localnet up` with no flags:
// 4 nodes in .localnet, the first free base port, this executable.
func DefaultOptions() Options {
	return Options{N: DefaultN, Dir: DefaultDir, ChainID: DefaultChainID, ReadyTimeout: DefaultReadyTimeout}
}

// Validate checks the options of a network to be generated; an error names
// the field and its value. Zero fields are valid: they take defaults.
func (o Options) Validate() error {
	d, err := o.withDefaults(DefaultN)
	if err != nil {
		return err
	}
	return d.validate()
}

// withDefaults fills zero fields; n is the default node count (0 keeps N zero,
// which the restart path reads as "as recorded").
func (o Options) withDefaults(n int) (Options, error) {
	if o.N == 0 {
		o.N = n
	}
	if o.Dir == "" {
		o.Dir = DefaultDir
	}
	dir, err := canonicalDir(o.Dir)
	if err != nil {
		return o, err
	}
	o.Dir = dir
	if o.ChainID == "" {
		o.ChainID = DefaultChainID
	}
	if o.Params == (abci.Params{}) {
		o.Params = LocalParams(o.N)
	}
	if o.Bin == "" {
		if o.Bin, err = os.Executable(); err != nil {
			return o, fmt.Errorf("localnet: cannot find the xnode binary to run: %w", err)
		}
	}
	if o.ReadyTimeout <= 0 {
		o.ReadyTimeout = DefaultReadyTimeout
	}
	return o, nil
}

// validate checks the options of a network about to be generated.
func (o Options) validate() error {
	if o.N < 1 || o.N > MaxNodes {
		return fmt.Errorf("localnet: %w: N = %d: want 1..%d nodes", xnode.ErrInvalidArgument, o.N, MaxNodes)
	}
	if o.BasePort != 0 && (o.BasePort < 1024 || o.BasePort+o.N*portsPerNode > 65535) {
		return fmt.Errorf("localnet: %w: BasePort = %d: want 1024..%d for %d nodes", xnode.ErrInvalidArgument,
			o.BasePort, 65535-o.N*portsPerNode, o.N)
	}
	if err := o.Params.Validate(); err != nil {
		return fmt.Errorf("localnet: %w: %v", xnode.ErrInvalidArgument, err)
	}
	return nil
}
