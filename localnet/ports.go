package localnet

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"time"

	"github.com/xnode/xnode"
)

// ErrPortInUse is a port a node needs that something else holds.
var ErrPortInUse = fmt.Errorf("localnet: %w: port in use", xnode.ErrConflict)

// PortError names the busy port, its node and its purpose.
type PortError struct {
	Port    int
	Node    string
	Purpose string
	Err     error
}

func (e *PortError) Error() string {
	return fmt.Sprintf("localnet: port %d (%s %s) is in use: %v", e.Port, e.Node, e.Purpose, e.Err)
}

// Unwrap makes errors.Is(err, ErrPortInUse) hold.
func (e *PortError) Unwrap() error { return ErrPortInUse }

// candidateBases are the base ports tried when Options.BasePort is zero:
// below the kernel's usual ephemeral range (32768+), so outgoing connections
// of running nodes do not land on them, and 1000 apart so two localnets of up
// to MaxNodes nodes never overlap.
var candidateBases = func() []int {
	var out []int
	for b := 27000; b <= 31000; b += 1000 {
		out = append(out, b)
	}
	return out
}()

// portsFor is node i's ports for base.
func portsFor(base, i int) Ports {
	p := base + i*portsPerNode
	return Ports{API: p + offsetAPI, P2P: p + offsetP2P, CometP2P: p + offsetCometP2P, CometRPC: p + offsetCometRPC}
}

// portUse is one socket a node will bind.
type portUse struct {
	port    int
	udp     bool
	node    string
	purpose string
}

func (p Ports) uses(node string) []portUse {
	return []portUse{
		{p.API, false, node, "HTTP API"},
		{p.P2P, false, node, "libp2p tcp"},
		{p.P2P, true, node, "libp2p quic (udp)"},
		{p.CometP2P, false, node, "CometBFT p2p"},
		{p.CometRPC, false, node, "CometBFT RPC"},
	}
}

// checkFree binds and releases every port; the first busy one is a *PortError.
func checkFree(uses []portUse) error {
	for _, u := range uses {
		addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(u.port))
		var err error
		if u.udp {
			var c net.PacketConn
			if c, err = net.ListenPacket("udp", addr); err == nil {
				c.Close()
			}
		} else {
			var l net.Listener
			if l, err = net.Listen("tcp", addr); err == nil {
				l.Close()
			}
		}
		if err != nil {
			return &PortError{Port: u.port, Node: u.node, Purpose: u.purpose, Err: err}
		}
	}
	return nil
}

func allUses(base, n int) []portUse {
	var uses []portUse
	for i := range n {
		uses = append(uses, portsFor(base, i).uses(nodeName(i))...)
	}
	return uses
}

// pickBase returns the first candidate base whose ports are all free.
func pickBase(n int) (int, error) {
	var errs []error
	for _, b := range candidateBases {
		err := checkFree(allUses(b, n))
		if err == nil {
			return b, nil
		}
		errs = append(errs, err)
	}
	return 0, fmt.Errorf("localnet: no free base port among %v; pass a base port (--base-port) whose %d ports are free: %w",
		candidateBases, n*portsPerNode, errors.Join(errs...))
}

// listening reports whether something accepts TCP connections on port.
func listening(port int) bool {
	c, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)), 300*time.Millisecond)
	if err != nil {
		return false
	}
	c.Close()
	return true
}

func nodeName(i int) string { return "node" + strconv.Itoa(i) }
