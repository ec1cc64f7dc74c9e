package overlay

import (
	"fmt"
	"time"

	"github.com/libp2p/go-libp2p"
	coreconnmgr "github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/crypto"
	"github.com/libp2p/go-libp2p/core/host"
	rcmgr "github.com/libp2p/go-libp2p/p2p/host/resource-manager"
	"github.com/libp2p/go-libp2p/p2p/net/connmgr"

	"github.com/xnode/xnode/overlay/transfer"
)

// HostLimits are the stated limits of the libp2p host.
type HostLimits struct {
	// MaxMemory is what all connections and streams may reserve together, in bytes.
	MaxMemory int64
	// MaxFDs is how many sockets the resource manager allows.
	MaxFDs int
	// ConnLow and ConnHigh are the connection manager's watermarks.
	ConnLow, ConnHigh int
	// ConnGrace protects a new connection from trimming for this long.
	ConnGrace time.Duration
}

// newHost builds the libp2p host: the persistent identity, TCP and QUIC
// listeners, a resource manager scaled to the stated limits (libp2p's default
// service limits, loopback unlimited per IP so a local network works) and a
// connection manager, and gater, which refuses banned peers (peerguard).
// Relay and the public-address services are off: the overlay is private
// and dials members directly.
func newHost(key crypto.PrivKey, listen []string, lim HostLimits, version string, gater coreconnmgr.ConnectionGater) (host.Host, error) {
	scaling := rcmgr.DefaultLimits
	libp2p.SetDefaultServiceLimits(&scaling)
	// Room for the block protocol's 4 MiB frames at its configured concurrency.
	transfer.DefaultConfig().AddLimits(&scaling)
	limits := scaling.Scale(lim.MaxMemory, lim.MaxFDs)
	rm, err := rcmgr.NewResourceManager(rcmgr.NewFixedLimiter(limits), rcmgr.WithMetricsDisabled())
	if err != nil {
		return nil, fmt.Errorf("overlay: resource manager: %w", err)
	}
	cm, err := connmgr.NewConnManager(lim.ConnLow, lim.ConnHigh, connmgr.WithGracePeriod(lim.ConnGrace))
	if err != nil {
		rm.Close()
		return nil, fmt.Errorf("overlay: connection manager: %w", err)
	}
	h, err := libp2p.New(
		libp2p.Identity(key),
		libp2p.ListenAddrStrings(listen...),
		libp2p.ResourceManager(rm),
		libp2p.ConnectionManager(cm),
		libp2p.ConnectionGater(gater),
		libp2p.DisableRelay(),
		libp2p.DisableMetrics(),
		libp2p.UserAgent("xnode/"+version),
	)
	if err != nil {
		cm.Close()
		rm.Close()
		return nil, fmt.Errorf("overlay: libp2p host: %w", err)
	}
	return h, nil
}
