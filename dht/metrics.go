package dht

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

type metrics struct {
	routingTable      prometheus.GaugeFunc
	discoveryConnects prometheus.Counter
}

func newMetrics(reg prometheus.Registerer, rtSize func() int) (*metrics, error) {
	m := &metrics{
		routingTable: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "xnode_dht_routing_table_peers",
			Help: "Peers in the DHT routing table.",
		}, func() float64 { return float64(rtSize()) }),
		discoveryConnects: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "xnode_dht_discovery_connects_total",
			Help: "Connections opened to peers found through namespace discovery.",
		}),
	}
	if err := promreg.Register(reg, m.routingTable, m.discoveryConnects); err != nil {
		return nil, err
	}
	return m, nil
}

func (m *metrics) unregister(reg prometheus.Registerer) {
	reg.Unregister(m.discoveryConnects)
	reg.Unregister(m.routingTable)
}
