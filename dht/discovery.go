package dht

import (
	"context"
	"time"

	kaddht "github.com/libp2p/go-libp2p-kad-dht"
	"github.com/libp2p/go-libp2p/core/discovery"
	"github.com/libp2p/go-libp2p/core/network"
	"github.com/libp2p/go-libp2p/core/peer"
	drouting "github.com/libp2p/go-libp2p/p2p/discovery/routing"
)

// discoveryLoop advertises the node under the network's namespace and, while
// the host has fewer than MinPeers connections, dials other advertisers. It
// runs once at start, then every DiscoveryInterval, until ctx ends.
//
// A node with no connection at all cannot search: it redials the peers it
// knows (bootstrap, remembered, lost, and those in its routing table) a second
// after it loses its last connection, then after 2 s, 4 s and so on up to
// DiscoveryInterval until one answers, so that a node whose peers all
// restarted is back with them seconds after they are up.
//
// It does its own re-advertising rather than use discovery/util.Advertise,
// whose goroutine cannot be waited for and waits two minutes after a failure
// (the first node of a network always fails its first advertisement: it has
// nobody to put the record on).
func (r *Router) discoveryLoop(ctx context.Context, kad *kaddht.IpfsDHT) {
	disc := drouting.NewRoutingDiscovery(kad)
	ns := Namespace(r.cfg.Network)
	tick := time.NewTicker(r.cfg.DiscoveryInterval)
	defer tick.Stop()
	retry := time.NewTimer(time.Hour) // armed while isolated
	retry.Stop()
	defer retry.Stop()

	var (
		advertisedAt time.Time
		advertisedRT int           // routing-table size at the last advertisement
		backoff      time.Duration // the last wait while isolated
	)
	for {
		rt := kad.RoutingTable().Size()
		if alone := r.connected() == 0; alone || (rt == 0 && r.cfg.RetryBootstrap) {
			known := append(r.lostPeers(), r.routingPeers(kad)...)
			known = known[:min(len(known), maxRedial)]
			if len(r.bootstrap)+len(r.remembered)+len(known) > 0 {
				if err := r.dialKnown(ctx, known); err == nil && alone && r.connected() > 0 {
					r.log.Info("connected to the network", "peers", r.connected())
				}
			}
		}
		if rt > 0 && (advertisedAt.IsZero() ||
			time.Since(advertisedAt) >= r.cfg.AdvertiseInterval ||
			rt >= 2*advertisedRT) {
			actx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
			_, err := disc.Advertise(actx, ns)
			cancel()
			if err != nil {
				r.log.Debug("dht advertise failed", "namespace", ns, "err", err)
			} else {
				advertisedAt, advertisedRT = time.Now(), rt
			}
		}
		if r.connected() < r.cfg.MinPeers {
			r.findPeers(ctx, disc, ns)
		}
		if r.connected() == 0 {
			backoff = min(max(2*backoff, time.Second), r.cfg.DiscoveryInterval)
			retry.Reset(backoff)
		} else {
			backoff = 0
			retry.Stop()
		}
	wait:
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				break wait
			case <-retry.C:
				break wait
			case <-r.isolated:
				// Redial after a second, not at once: the peers are likely
				// restarting, and GossipSub must first see the old
				// connections gone.
				if r.connected() == 0 {
					r.log.Info("lost every connection; redialling known peers")
					backoff = time.Second
					retry.Reset(backoff)
				}
			}
		}
	}
}

// maxRedial bounds how many lost and routing-table peers an isolated node
// dials at once, besides its bootstrap and remembered peers.
const maxRedial = 32

// routingPeers lists the peers in kad's routing table with the addresses
// the peerstore has for them.
func (r *Router) routingPeers(kad *kaddht.IpfsDHT) []peer.AddrInfo {
	ids := kad.RoutingTable().ListPeers()
	out := make([]peer.AddrInfo, 0, len(ids))
	for _, id := range ids {
		if addrs := r.host.Peerstore().Addrs(id); len(addrs) > 0 {
			out = append(out, peer.AddrInfo{ID: id, Addrs: addrs})
		}
	}
	return out
}

// findPeers dials advertisers of ns until the host has MinPeers connections
// or the search ends.
func (r *Router) findPeers(ctx context.Context, disc discovery.Discoverer, ns string) {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.QueryTimeout)
	defer cancel()
	found, err := disc.FindPeers(ctx, ns)
	if err != nil {
		r.log.Debug("dht find peers failed", "namespace", ns, "err", err)
		return
	}
	// Drain the channel after cancel so kad-dht's search goroutine ends.
	defer func() {
		cancel()
		for range found {
		}
	}()
	for ai := range found {
		if r.connected() >= r.cfg.MinPeers {
			return
		}
		if ai.ID == r.host.ID() || len(ai.Addrs) == 0 ||
			r.host.Network().Connectedness(ai.ID) == network.Connected {
			continue
		}
		if err := r.dial(ctx, ai); err != nil {
			r.log.Debug("dht discovered peer unreachable", "peer", ai.ID, "err", err)
			continue
		}
		r.log.Debug("dht discovered peer connected", "peer", ai.ID)
		if r.metrics != nil {
			r.metrics.discoveryConnects.Inc()
		}
	}
}

func (r *Router) dial(ctx context.Context, ai peer.AddrInfo) error {
	ctx, cancel := context.WithTimeout(ctx, r.cfg.BootstrapTimeout)
	defer cancel()
	return r.host.Connect(ctx, ai)
}

// connected counts the peers the host has a connection to.
func (r *Router) connected() int {
	return len(r.host.Network().Peers())
}
