package peerguard

import (
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	"github.com/libp2p/go-libp2p/core/connmgr"
	"github.com/libp2p/go-libp2p/core/control"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	ma "github.com/multiformats/go-multiaddr"
	manet "github.com/multiformats/go-multiaddr/net"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode"
	"github.com/xnode/xnode/internal/promreg"
)

// Stages at which the gater refuses, the values of
// xnode_peerguard_refused_total{stage}.
const (
	StageAccept  = "accept"  // an inbound connection from a banned address, before the handshake
	StageSecured = "secured" // a connection of a banned peer id, right after the handshake
	StageDial    = "dial"    // this node dialling a banned peer
)

// Gater is the libp2p adapter over a Guard: a connmgr.ConnectionGater that
// refuses banned peers and addresses, and a network.Notifiee that tells the
// guard which peers are connected from which addresses. Strike is how the
// protocols report violations. It reads the wall clock; everything it
// decides, the Guard decides. Safe for concurrent use.
type Gater struct {
	log *slog.Logger
	now func() time.Time

	strikes *prometheus.CounterVec
	bans    prometheus.Counter
	refused *prometheus.CounterVec

	mu    sync.Mutex
	guard *Guard
}

var (
	_ connmgr.ConnectionGater = (*Gater)(nil)
	_ network.Notifiee        = (*Gater)(nil)
)

// NewGater builds a gater over a new Guard with cfg. reg may be nil
// (metrics kept, not exported); log must not be.
func NewGater(cfg Config, reg prometheus.Registerer, log *slog.Logger) (*Gater, error) {
	if log == nil {
		return nil, fmt.Errorf("peerguard: %w: nil logger", xnode.ErrInvalidArgument)
	}
	g, err := New(cfg)
	if err != nil {
		return nil, err
	}
	x := &Gater{
		log:   log,
		now:   time.Now,
		guard: g,
		strikes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_peerguard_strikes_total",
			Help: "Protocol violations reported against peers, by reason.",
		}, []string{"reason"}),
		bans: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_peerguard_bans_total",
			Help: "Peers banned for repeated protocol violations.",
		}),
		refused: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_peerguard_refused_total",
			Help: "Connections refused to banned peers or addresses, by stage (accept, secured, dial).",
		}, []string{"stage"}),
	}
	for _, s := range []string{StageAccept, StageSecured, StageDial} {
		x.refused.WithLabelValues(s)
	}
	if err := promreg.Register(reg, x.strikes, x.bans, x.refused); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return nil, fmt.Errorf("peerguard: metrics already registered (one Gater per registry): %w", err)
		}
		return nil, fmt.Errorf("peerguard: register metrics: %w", err)
	}
	return x, nil
}

// Strike records a violation by p. When it bans p, it logs one Warn (peer,
// reason, until) and the caller should close p's connections; libp2p then
// refuses p until the ban ends.
func (x *Gater) Strike(p peer.ID, reason string) Verdict {
	x.strikes.WithLabelValues(reason).Inc()
	x.mu.Lock()
	v := x.guard.Strike(p, reason, x.now())
	x.mu.Unlock()
	if v.NewBan {
		x.bans.Inc()
		x.log.Warn("peerguard: banned peer for protocol violations",
			"peer", p, "reason", reason, "strikes", v.Strikes, "until", v.Until, "ips", v.IPs)
	}
	return v
}

// Banned reports whether p is banned now.
func (x *Gater) Banned(p peer.ID) bool {
	x.mu.Lock()
	defer x.mu.Unlock()
	return x.guard.Banned(p, x.now())
}

// InterceptPeerDial refuses to dial a banned peer.
func (x *Gater) InterceptPeerDial(p peer.ID) bool {
	if x.Banned(p) {
		x.refused.WithLabelValues(StageDial).Inc()
		return false
	}
	return true
}

// InterceptAddrDial allows every address; InterceptPeerDial judges the peer.
func (x *Gater) InterceptAddrDial(peer.ID, ma.Multiaddr) bool { return true }

// InterceptAccept refuses an inbound connection from a banned address
// before the security handshake (Guard.IPRefused says which).
func (x *Gater) InterceptAccept(addrs network.ConnMultiaddrs) bool {
	ip, ok := remoteIP(addrs.RemoteMultiaddr())
	if !ok {
		return true
	}
	x.mu.Lock()
	refuse := x.guard.IPRefused(ip, x.now())
	x.mu.Unlock()
	if refuse {
		x.refused.WithLabelValues(StageAccept).Inc()
		return false
	}
	return true
}

// InterceptSecured refuses a connection, either direction, whose
// authenticated peer id is banned.
func (x *Gater) InterceptSecured(_ network.Direction, p peer.ID, _ network.ConnMultiaddrs) bool {
	if x.Banned(p) {
		x.refused.WithLabelValues(StageSecured).Inc()
		return false
	}
	return true
}

// InterceptUpgraded allows: a banned peer was refused at InterceptSecured.
func (x *Gater) InterceptUpgraded(network.Conn) (bool, control.DisconnectReason) { return true, 0 }

// Connected tells the guard that c's peer is connected from c's address.
func (x *Gater) Connected(_ network.Network, c network.Conn) {
	if ip, ok := remoteIP(c.RemoteMultiaddr()); ok {
		x.mu.Lock()
		x.guard.Connected(c.RemotePeer(), ip)
		x.mu.Unlock()
	}
}

// Disconnected undoes Connected.
func (x *Gater) Disconnected(_ network.Network, c network.Conn) {
	if ip, ok := remoteIP(c.RemoteMultiaddr()); ok {
		x.mu.Lock()
		x.guard.Disconnected(c.RemotePeer(), ip)
		x.mu.Unlock()
	}
}

// Listen and ListenClose complete network.Notifiee.
func (x *Gater) Listen(network.Network, ma.Multiaddr)      {}
func (x *Gater) ListenClose(network.Network, ma.Multiaddr) {}

// remoteIP is the IP address of a connection's remote multiaddr, if it has
// one.
func remoteIP(a ma.Multiaddr) (netip.Addr, bool) {
	if a == nil {
		return netip.Addr{}, false
	}
	ip, err := manet.ToIP(a)
	if err != nil {
		return netip.Addr{}, false
	}
	addr, ok := netip.AddrFromSlice(ip)
	return addr.Unmap(), ok
}
