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
// It does its own re-advertising rather than use discovery/util.Advertise,
// whose goroutine cannot be waited for and waits two minutes after a failure
// (the first node of a network always fails its first advertisement: it has
// nobody to put the record on).
func (r *Router) discoveryLoop(ctx context.Context, kad *kaddht.IpfsDHT) {
	disc := drouting.NewRoutingDiscovery(kad)
	ns := Namespace(r.cfg.Network)
	tick := time.NewTicker(r.cfg.DiscoveryInterval)
	defer tick.Stop()

	var (
		advertisedAt time.Time
		advertisedRT int // routing-table size at the last advertisement
	)
	for {
		rt := kad.RoutingTable().Size()
		if rt == 0 && r.cfg.RetryBootstrap && len(r.bootstrap) > 0 {
			if err := r.dialBootstrap(ctx); err == nil {
				r.log.Info("reached a bootstrap peer")
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
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
	}
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
