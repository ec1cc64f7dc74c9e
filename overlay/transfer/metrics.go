package transfer

import (
	"errors"
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

// Rejection reasons, the values of xnode_transfer_rejected_total{reason}.
const (
	reasonIntegrity  = "integrity"       // bytes that did not match their CID (either side)
	reasonBadRequest = "bad_request"     // a request that did not decode
	reasonBadResp    = "bad_response"    // an answer that did not decode
	reasonTooLarge   = "frame_too_large" // a frame header over MaxFrameBytes
	reasonTruncated  = "truncated"       // a frame that ended early or stalled
	reasonBusy       = "busy"            // over MaxInboundPerPeer or out of memory budget
)

type metrics struct {
	bytes    *prometheus.CounterVec
	blocks   *prometheus.CounterVec
	rejected *prometheus.CounterVec
	duration *prometheus.HistogramVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		bytes: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_transfer_bytes_total",
			Help: "Frame bytes moved by the block transfer protocol, by direction (in, out) and op.",
		}, []string{"direction", "op"}),
		blocks: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_transfer_blocks_total",
			Help: "Verified blocks moved by the block transfer protocol, by direction (in, out) and op.",
		}, []string{"direction", "op"}),
		rejected: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_transfer_rejected_total",
			Help: "Requests or answers the block transfer protocol refused, by reason.",
		}, []string{"reason"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xnode_transfer_request_duration_seconds",
			Help:    "Duration of block transfer requests, by op and role (client, server).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 4, 10), // 0.5 ms .. ~131 s
		}, []string{"op", "role"}),
	}
	// Touch the known series so dashboards see zeros rather than gaps.
	for _, op := range []string{"put", "get", "has", "confirm"} {
		for _, dir := range []string{"in", "out"} {
			m.bytes.WithLabelValues(dir, op)
			m.blocks.WithLabelValues(dir, op)
		}
	}
	for _, r := range []string{reasonIntegrity, reasonBadRequest, reasonBadResp, reasonTooLarge, reasonTruncated, reasonBusy} {
		m.rejected.WithLabelValues(r)
	}
	if err := promreg.Register(reg, m.bytes, m.blocks, m.rejected, m.duration); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			return nil, fmt.Errorf("transfer: metrics already registered (one Service per registry): %w", err)
		}
		return nil, fmt.Errorf("transfer: register metrics: %w", err)
	}
	return m, nil
}

func (m *metrics) reject(reason string) { m.rejected.WithLabelValues(reason).Inc() }
