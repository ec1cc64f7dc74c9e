package dht

import (
	"fmt"
	"strings"
	"time"

	"github.com/multiformats/go-multiaddr"

	"github.com/xnode/xnode"
)

var (
	// ErrNotRunning is returned by lookups on a Router that has not been
	// started or has been closed.
	ErrNotRunning = fmt.Errorf("dht: router not running: %w", xnode.ErrUnavailable)
	// ErrAlreadyStarted is returned by a second Start.
	ErrAlreadyStarted = fmt.Errorf("dht: router already started: %w", xnode.ErrConflict)
	// ErrPeerNotFound means a lookup finished without learning the peer's
	// addresses.
	ErrPeerNotFound = fmt.Errorf("dht: peer %w", xnode.ErrNotFound)
	// ErrNoPeers means the routing table is empty, so there is nobody to ask.
	ErrNoPeers = fmt.Errorf("dht: routing table empty: %w", xnode.ErrUnavailable)
)

// BootstrapError reports that none of the configured bootstrap peers could
// be reached within Config.BootstrapTimeout. It wraps xnode.ErrUnavailable.
type BootstrapError struct {
	// Addrs are the bootstrap multiaddrs that were tried, in config order.
	Addrs []multiaddr.Multiaddr
	// Errs holds the dial error for each entry of Addrs.
	Errs []error
	// Timeout is the bound that applied to each dial.
	Timeout time.Duration
}

func (e *BootstrapError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "dht: no bootstrap peer reachable within %s", e.Timeout)
	for i, a := range e.Addrs {
		b.WriteString("; ")
		b.WriteString(a.String())
		if i < len(e.Errs) && e.Errs[i] != nil {
			b.WriteString(": ")
			b.WriteString(e.Errs[i].Error())
		}
	}
	return b.String()
}

// Unwrap lets errors.Is(err, xnode.ErrUnavailable) hold.
func (e *BootstrapError) Unwrap() error { return xnode.ErrUnavailable }
