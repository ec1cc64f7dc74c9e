package dht

import (
	"fmt"
	"strings"
	"time"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode"
)

// Config configures a Router. Start from DefaultConfig (a real network) or
// DefaultLocalConfig (every node on one machine) and set Network.
type Config struct {
	// Network is the chain id. It names the discovery namespace
	// /xnode/<network>/members, so two networks sharing peers do not mix.
	// Required; no default.
	Network string

	// Bootstrap are the peers dialled at Start to join the network. Each must
	// be a transport address ending in /p2p/<peer id>. Empty means this is
	// the first node of a network. Entries naming this node are skipped, so
	// all nodes may share one list.
	Bootstrap []multiaddr.Multiaddr

	// BootstrapTimeout bounds how long Start waits to reach the bootstrap
	// peers. Start fails with *BootstrapError if none answered in time.
	// Default 10 s.
	BootstrapTimeout time.Duration

	// RefreshInterval is the routing-table refresh period: buckets not
	// touched for this long are refreshed with a random lookup. Default 1 min.
	RefreshInterval time.Duration

	// DiscoveryInterval is how often the discovery loop runs: it looks for
	// more peers while below MinPeers and re-advertises when due.
	// Default 30 s.
	DiscoveryInterval time.Duration

	// AdvertiseInterval is how often the namespace advertisement is renewed
	// once it has succeeded. It is also renewed early whenever the routing
	// table has doubled since, so that the record reaches the peers that are
	// closest to the namespace as the network grows. Default 10 min.
	AdvertiseInterval time.Duration

	// QueryTimeout bounds each advertisement and each peer search of the
	// discovery loop. Default 30 s.
	QueryTimeout time.Duration

	// MinPeers is how many connected peers discovery aims for; it keeps
	// searching while the host has fewer. 0 disables searching (the node
	// still advertises). Default 8.
	MinPeers int

	// AllowLoopback must be true when nodes share one machine (local and dev
	// networks): it drops the routing table's IP diversity filter, which would
	// reject most peers that share 127.0.0.1, and keeps loopback and private
	// addresses in what the DHT stores and hands out. Default false.
	AllowLoopback bool

	// RetryBootstrap makes Start succeed when no bootstrap peer answers: it
	// logs the addresses that failed, and the discovery loop dials them
	// again every DiscoveryInterval while the routing table is empty. A
	// restarted network's first node needs this, since its bootstrap peers
	// may not be up yet. Default false: Start fails with a *BootstrapError.
	RetryBootstrap bool

	// Remembered are peers this node knew when it last ran. Start dials them
	// with the bootstrap peers, so that a restarted node finds its network
	// even when every bootstrap peer is gone; one that does not answer is
	// logged at debug level only. Entries without an id or an address are
	// ignored. Default none.
	Remembered []peer.AddrInfo
}

// DefaultConfig returns the settings for a network of separate machines.
// Network must still be set.
func DefaultConfig() Config {
	return Config{
		BootstrapTimeout:  10 * time.Second,
		RefreshInterval:   time.Minute,
		DiscoveryInterval: 30 * time.Second,
		AdvertiseInterval: 10 * time.Minute,
		QueryTimeout:      30 * time.Second,
		MinPeers:          8,
	}
}

// DefaultLocalConfig returns DefaultConfig adjusted for nodes that share one
// machine: loopback allowed and faster discovery.
func DefaultLocalConfig() Config {
	c := DefaultConfig()
	c.AllowLoopback = true
	c.DiscoveryInterval = 5 * time.Second
	c.BootstrapTimeout = 5 * time.Second
	return c
}

// Namespace returns the discovery namespace of network.
func Namespace(network string) string {
	return "/xnode/" + network + "/members"
}

// Validate reports the first invalid field, naming it and its value.
func (c Config) Validate() error {
	if c.Network == "" {
		return invalid("Network", `""`, "must be set to the chain id")
	}
	if strings.ContainsAny(c.Network, "/ \t\r\n") {
		return invalid("Network", fmt.Sprintf("%q", c.Network), "must not contain '/' or spaces")
	}
	for i, a := range c.Bootstrap {
		if _, err := bootstrapInfo(a); err != nil {
			return invalid(fmt.Sprintf("Bootstrap[%d]", i), fmt.Sprintf("%q", fmt.Sprint(a)), err.Error())
		}
	}
	for _, d := range []struct {
		name string
		v    time.Duration
	}{
		{"BootstrapTimeout", c.BootstrapTimeout},
		{"RefreshInterval", c.RefreshInterval},
		{"DiscoveryInterval", c.DiscoveryInterval},
		{"AdvertiseInterval", c.AdvertiseInterval},
		{"QueryTimeout", c.QueryTimeout},
	} {
		if d.v <= 0 {
			return invalid(d.name, d.v.String(), "must be positive")
		}
	}
	if c.MinPeers < 0 {
		return invalid("MinPeers", fmt.Sprint(c.MinPeers), "must not be negative")
	}
	return nil
}

func invalid(field, value, why string) error {
	return fmt.Errorf("dht: config %s = %s: %s: %w", field, value, why, xnode.ErrInvalidArgument)
}

// bootstrapInfo parses one bootstrap entry, which must carry both a
// transport address and a /p2p/ peer id.
func bootstrapInfo(a multiaddr.Multiaddr) (*peer.AddrInfo, error) {
	if len(a) == 0 {
		return nil, fmt.Errorf("empty multiaddr")
	}
	ai, err := peer.AddrInfoFromP2pAddr(a)
	if err != nil {
		return nil, fmt.Errorf("must end in /p2p/<peer id>")
	}
	if len(ai.Addrs) == 0 {
		return nil, fmt.Errorf("has a peer id but no transport address")
	}
	return ai, nil
}
