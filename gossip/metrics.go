package gossip

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

// Rejection and ignore reasons, the values of the reason label.
const (
	reasonDecode       = "decode"        // payload does not decode or breaks a field limit
	reasonTooLarge     = "too_large"     // payload over MaxMessageSize
	reasonPeerMismatch = "peer_mismatch" // announcement names a peer other than its signer
	reasonStaleSeq     = "stale_seq"     // replay: repeated or much older seq
	reasonReordered    = "reordered"     // slightly older seq: late, not hostile
)

type metrics struct {
	rejected *prometheus.CounterVec
	ignored  *prometheus.CounterVec
	members  *prometheus.GaugeVec
	dropped  prometheus.Counter
	sent     prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_gossip_rejected_total",
			Help: "Gossip messages rejected by the membership validator, by reason.",
		}, []string{"reason"}),
		ignored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_gossip_ignored_total",
			Help: "Gossip messages ignored (dropped without penalty) by the membership validator, by reason.",
		}, []string{"reason"}),
		members: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "xnode_gossip_members",
			Help: "Members in the local membership table, by state.",
		}, []string{"state"}),
		dropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_gossip_events_dropped_total",
			Help: "Membership events dropped because a subscriber's buffer was full.",
		}),
		sent: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_gossip_announcements_sent_total",
			Help: "Announcements this node published (heartbeats, metadata, leave).",
		}),
	}
	// Pre-create the label values so dashboards see zeros, not gaps.
	for _, r := range []string{reasonDecode, reasonTooLarge, reasonPeerMismatch, reasonStaleSeq} {
		m.rejected.WithLabelValues(r)
	}
	m.ignored.WithLabelValues(reasonReordered)
	for s := Alive; s <= Left; s++ {
		m.members.WithLabelValues(s.String())
	}
	if err := promreg.Register(reg, m.rejected, m.ignored, m.members, m.dropped, m.sent); err != nil {
		return nil, err
	}
	return m, nil
}
