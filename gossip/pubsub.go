package gossip

import (
	"context"
	"fmt"
	"net"
	"time"

	pubsub "github.com/libp2p/go-libp2p-pubsub"
	"github.com/libp2p/go-libp2p/core/host"
	"github.com/libp2p/go-libp2p/core/peer"
)

// NewPubSub builds the GossipSub router membership runs on: StrictSign
// messages, cfg.MaxRPCSize frames, a GossipSub heartbeat of 1 s (500 ms for
// heartbeats of 100 ms, so test meshes settle within a few rounds), and
// peer scoring that punishes invalid messages while whitelisting loopback
// from the IP-colocation penalty (every node of a local network shares
// 127.0.0.1 or ::1).
//
// ctx bounds the lifetime of the returned PubSub: the caller owns it and
// cancels it to stop the router, after closing every Service built on it.
func NewPubSub(ctx context.Context, h host.Host, cfg Config) (*pubsub.PubSub, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	params := pubsub.DefaultGossipSubParams()
	// The router's heartbeat maintains meshes and emits IHAVE gossip; it
	// need not match ours. One second is GossipSub's standard; fast test
	// configs get a faster one so meshes settle within a few rounds.
	params.HeartbeatInterval = min(max(5*cfg.HeartbeatInterval, 500*time.Millisecond), time.Second)
	params.HeartbeatInitialDelay = min(params.HeartbeatInitialDelay, params.HeartbeatInterval)

	ps, err := pubsub.NewGossipSub(ctx, h,
		pubsub.WithMessageSignaturePolicy(pubsub.StrictSign),
		pubsub.WithGossipSubParams(params),
		pubsub.WithPeerScore(scoreParams(cfg), scoreThresholds()),
		pubsub.WithMaxMessageSize(cfg.MaxRPCSize),
		pubsub.WithAppSpecificRpcInspector(dropOwnEchoes(h.ID())),
	)
	if err != nil {
		return nil, fmt.Errorf("gossip: new gossipsub: %w", err)
	}
	return ps, nil
}

// dropOwnEchoes returns an RPC inspector that removes, from what a peer
// sends, messages this node wrote itself. They are never needed, and the
// only honest source of them is an earlier run of this node: after a quick
// restart the peers still hold its last announcements and hand them over in
// answer to IWANT. GossipSub counts each one as an invalid message from the
// peer that forwarded it ("self originated message"), and a dozen of them
// took an honest peer below the publish threshold, so that a restarted node
// and its peers stopped exchanging anything. Dropped here, before GossipSub
// sees them, they cost no one any score.
func dropOwnEchoes(self peer.ID) func(peer.ID, *pubsub.RPC) error {
	return func(_ peer.ID, rpc *pubsub.RPC) error {
		msgs := rpc.GetPublish()
		keep := msgs[:0]
		for _, m := range msgs {
			if peer.ID(m.GetFrom()) != self {
				keep = append(keep, m)
			}
		}
		clear(msgs[len(keep):])
		rpc.Publish = keep
		return nil
	}
}

// loopbackNets are exempt from the IP-colocation penalty.
var loopbackNets = func() []*net.IPNet {
	var nets []*net.IPNet
	for _, cidr := range []string{"127.0.0.0/8", "::1/128"} {
		_, n, err := net.ParseCIDR(cidr)
		if err != nil {
			panic(err)
		}
		nets = append(nets, n)
	}
	return nets
}()

// scoreParams: positive score for time in mesh and first deliveries (small,
// capped), a quadratic penalty for invalid messages (a peer sending about 16
// of them within the decay period is graylisted), a mild IP-colocation
// penalty beyond 10 peers per non-loopback address, and the usual
// behavioural penalty.
func scoreParams(cfg Config) *pubsub.PeerScoreParams {
	topic := func() *pubsub.TopicScoreParams {
		return &pubsub.TopicScoreParams{
			TopicWeight:                    1,
			TimeInMeshWeight:               0.01,
			TimeInMeshQuantum:              time.Second,
			TimeInMeshCap:                  100,
			FirstMessageDeliveriesWeight:   1,
			FirstMessageDeliveriesDecay:    pubsub.ScoreParameterDecay(10 * time.Minute),
			FirstMessageDeliveriesCap:      10,
			InvalidMessageDeliveriesWeight: -10,
			InvalidMessageDeliveriesDecay:  pubsub.ScoreParameterDecay(time.Hour),
		}
	}
	return &pubsub.PeerScoreParams{
		Topics: map[string]*pubsub.TopicScoreParams{
			cfg.topicMembers(): topic(),
			cfg.topicMeta():    topic(),
		},
		TopicScoreCap:               20,
		AppSpecificScore:            func(peer.ID) float64 { return 0 },
		AppSpecificWeight:           1,
		IPColocationFactorWeight:    -5,
		IPColocationFactorThreshold: 10,
		IPColocationFactorWhitelist: loopbackNets,
		BehaviourPenaltyWeight:      -1,
		BehaviourPenaltyThreshold:   6,
		BehaviourPenaltyDecay:       pubsub.ScoreParameterDecay(10 * time.Minute),
		DecayInterval:               pubsub.DefaultDecayInterval,
		DecayToZero:                 pubsub.DefaultDecayToZero,
		RetainScore:                 10 * time.Minute,
	}
}

func scoreThresholds() *pubsub.PeerScoreThresholds {
	return &pubsub.PeerScoreThresholds{
		GossipThreshold:             -500,
		PublishThreshold:            -1000,
		GraylistThreshold:           -2500,
		AcceptPXThreshold:           100, // above anything honest scores: PX stays off
		OpportunisticGraftThreshold: 3,
	}
}
