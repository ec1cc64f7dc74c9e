package overlay

import "github.com/prometheus/client_golang/prometheus"

// metrics are the overlay's own Prometheus series.
type metrics struct {
	putBlobs        prometheus.Counter
	putBytes        prometheus.Counter
	repairBlocks    prometheus.Counter
	repairBytes     prometheus.Counter
	repairDropped   prometheus.Counter
	repairPasses    prometheus.Counter
	repairedCorrupt prometheus.Counter
	putReplaced     prometheus.Counter
	putAbandoned    prometheus.Counter
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		putBlobs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_blobs_put_total", Help: "Blobs acknowledged by this node's put path.",
		}),
		putBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_blobs_put_bytes_total", Help: "Bytes of blobs acknowledged by this node's put path.",
		}),
		repairBlocks: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_repair_blocks_moved_total", Help: "Blocks pushed to owners by repair and rebalancing.",
		}),
		repairBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_repair_bytes_moved_total", Help: "Bytes pushed to owners by repair and rebalancing.",
		}),
		repairDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_repair_blocks_dropped_total", Help: "Local copies dropped after every current owner confirmed holding the block.",
		}),
		repairPasses: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_repair_passes_total", Help: "Repair passes over the local index.",
		}),
		repairedCorrupt: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_repair_corrupt_replaced_total", Help: "Corrupt local copies replaced by an intact copy from another member.",
		}),
		putReplaced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_blobs_put_replaced_blocks_total", Help: "Block copies a put placed again on another member because their holder failed before it could confirm them.",
		}),
		putAbandoned: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_blobs_put_abandoned_blocks_total", Help: "Tentative local copies deleted at once because the put they were written for failed.",
		}),
	}
	if reg != nil {
		reg.MustRegister(m.putBlobs, m.putBytes, m.repairBlocks, m.repairBytes, m.repairDropped, m.repairPasses, m.repairedCorrupt, m.putReplaced, m.putAbandoned)
	}
	return m
}
