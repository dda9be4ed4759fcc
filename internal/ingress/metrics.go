package ingress

import (
	"fmt"

	"github.com/prometheus/client_golang/prometheus"
)

type metrics struct {
	requests *prometheus.CounterVec
	upstream prometheus.Histogram
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_ingress_requests_total",
			Help: "HTTP requests the Ingress controller answered, by status code (404: no rule matched, 503: backend without endpoints, 502/504: backend failed or timed out).",
		}, []string{"code"}),
		upstream: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_ingress_upstream_duration_seconds",
			Help:    "Time from sending a request to a backend to receiving its response headers (or failing).",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2.5, 12),
		}),
	}
}

func (m *metrics) register(reg prometheus.Registerer) error {
	if reg == nil {
		return nil
	}
	for _, c := range []prometheus.Collector{m.requests, m.upstream} {
		if err := reg.Register(c); err != nil {
			return fmt.Errorf("ingress: metrics: %w", err)
		}
	}
	return nil
}
