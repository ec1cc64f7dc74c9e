package dht

import (
	"context"
	"fmt"

	"github.com/libp2p/go-libp2p/core/peer"
	"github.com/libp2p/go-libp2p/core/routing"

	"github.com/xnode/xnode"
)

// Lookup describes how a FindPeerWithHops lookup went.
type Lookup struct {
	// Hops is the length of the query path that led to the target's
	// addresses. 0: they were known without asking anyone (the host was
	// connected to the target or it was in the routing table). d > 0: the
	// first peer to name the target sat d steps from us, where the peers of
	// our own routing table are step 1 and a peer first named in a response
	// from step d is step d+1. It is -1 if the lookup failed, or if it
	// succeeded because the target connected to us before anyone named it.
	Hops int
	// Queried counts the distinct peers the lookup sent a query to.
	Queried int
}

// FindPeerWithHops is FindPeer that also measures the lookup (see Lookup).
// It watches kad-dht's query events, so it costs a goroutine and a little
// bookkeeping more than FindPeer; it is meant for diagnostics and benchmarks.
func (r *Router) FindPeerWithHops(ctx context.Context, id peer.ID) (peer.AddrInfo, Lookup, error) {
	failed := Lookup{Hops: -1}
	kad, err := r.running()
	if err != nil {
		return peer.AddrInfo{}, failed, err
	}
	if err := id.Validate(); err != nil {
		return peer.AddrInfo{}, failed, fmt.Errorf("dht: find peer: %w: %w", xnode.ErrInvalidArgument, err)
	}
	if ai := kad.FindLocal(ctx, id); ai.ID != "" {
		return ai, Lookup{}, nil
	}

	depth := make(map[peer.ID]int)
	for _, p := range kad.RoutingTable().ListPeers() {
		depth[p] = 1
	}
	known := depth[id] == 1

	evCtx, cancel := context.WithCancel(ctx)
	evCtx, events := routing.RegisterForQueryEvents(evCtx)
	result := make(chan Lookup, 1)
	go func() { result <- measure(id, depth, events) }()

	ai, err := kad.FindPeer(evCtx, id)
	cancel() // closes events, which ends measure
	l := <-result
	if err != nil {
		return peer.AddrInfo{}, failed, lookupErr("find peer "+id.String(), err)
	}
	if known {
		l.Hops = 0
	}
	return ai, l, nil
}

// measure reads query events until the channel closes. Events of one peer
// arrive in order (its response before any query it led to), so a peer's
// depth is fixed when it is first seen.
func measure(target peer.ID, depth map[peer.ID]int, events <-chan *routing.QueryEvent) Lookup {
	l := Lookup{Hops: -1}
	queried := make(map[peer.ID]bool)
	for ev := range events {
		switch ev.Type {
		case routing.SendingQuery:
			if _, ok := depth[ev.ID]; !ok {
				depth[ev.ID] = 1
			}
			queried[ev.ID] = true
		case routing.PeerResponse:
			d, ok := depth[ev.ID]
			if !ok {
				d = 1
				depth[ev.ID] = d
			}
			for _, ai := range ev.Responses {
				if ai == nil {
					continue
				}
				if _, ok := depth[ai.ID]; !ok {
					depth[ai.ID] = d + 1
				}
				if ai.ID == target && (l.Hops < 0 || d < l.Hops) {
					l.Hops = d
				}
			}
		}
	}
	l.Queried = len(queried)
	return l
}
