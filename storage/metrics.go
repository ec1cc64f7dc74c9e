package storage

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

type metrics struct {
	integrityFailures prometheus.Counter
	gcRemoved         prometheus.Counter
	backgroundSyncs   prometheus.Counter
	droppedBytes      prometheus.Counter
	damaged           prometheus.Counter
	compacted         prometheus.Counter
}

// newMetrics makes the store's metrics and registers them on reg (nil: the
// metrics still count, nobody can scrape them).
func newMetrics(reg prometheus.Registerer, s *Store) (*metrics, error) {
	m := &metrics{
		integrityFailures: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_storage_integrity_failures_total",
			Help: "Blocks whose bytes did not match their CID: copies found corrupt on disk (and dropped) plus blocks refused by Put.",
		}),
		gcRemoved: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_storage_gc_removed_total",
			Help: "Tentative blocks removed by GC because their upload was never confirmed.",
		}),
		backgroundSyncs: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_storage_background_syncs_total",
			Help: "Syncs started in the background: once unsynced writes pass the write-behind threshold, and before written pages are dropped from the page cache.",
		}),
		droppedBytes: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_storage_dropped_page_bytes_total",
			Help: "Bytes of written segment pages that left the page cache once synced.",
		}),
		damaged: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_storage_damaged_blocks_total",
			Help: "Stored copies found damaged (bytes that no longer match their CID, or unreadable) and dropped, by reads, the verification pass after start, or compaction.",
		}),
		compacted: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_storage_compacted_segments_total",
			Help: "Segment files removed by compaction once their live blocks were rewritten elsewhere.",
		}),
	}
	err := promreg.Register(reg,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "xnode_storage_blocks",
			Help: "Blocks in the local store.",
		}, func() float64 { return float64(s.Usage().Blocks) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "xnode_storage_bytes",
			Help: "Bytes of block data in the local store (block sizes, not disk use).",
		}, func() float64 { return float64(s.Usage().Bytes) }),
		m.integrityFailures,
		m.gcRemoved,
		m.backgroundSyncs,
		m.droppedBytes,
		m.damaged,
		m.compacted,
	)
	if err != nil {
		return nil, fmt.Errorf("storage: register metrics: %w", err)
	}
	return m, nil
}
