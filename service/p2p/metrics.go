package p2p

import (
	"github.com/prometheus/client_golang/prometheus"

	"github.com/xnode/xnode/internal/promreg"
)

type metrics struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	retries   *prometheus.CounterVec
	ejections *prometheus.CounterVec
}

func newMetrics(reg prometheus.Registerer) (*metrics, error) {
	m := &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_service_requests_total",
			Help: "Service calls through this node, by service, instance and outcome code (HTTP status, or error/timeout/reset).",
		}, []string{"service", "instance", "code"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "xnode_service_request_duration_seconds",
			Help:    "Service call latency to the response headers, by service and instance.",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"service", "instance"}),
		retries: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_service_retries_total",
			Help: "Service call attempts retried on another instance, by service.",
		}, []string{"service"}),
		ejections: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "xnode_service_ejections_total",
			Help: "Outlier ejections, by service and instance.",
		}, []string{"service", "instance"}),
	}
	if err := promreg.Register(reg, m.requests, m.latency, m.retries, m.ejections); err != nil {
		return nil, err
	}
	return m, nil
}
