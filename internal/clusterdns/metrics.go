package clusterdns

import (
	"time"

	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
)

// Where an answer came from (label "source").
const (
	sourceCluster = "cluster" // the cluster zone or a reverse record, from the caches
	sourceForward = "forward" // an upstream resolver
	sourceServer  = "server"  // refused or malformed before any lookup
)

type metrics struct {
	requests *prometheus.CounterVec
	duration *prometheus.HistogramVec
	upstream prometheus.Counter
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_dns_requests_total",
			Help: "DNS queries answered, by source (cluster, forward, server) and response code.",
		}, []string{"source", "rcode"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gantry_dns_request_duration_seconds",
			Help:    "Time to answer a DNS query, by source (cluster, forward, server).",
			Buckets: prometheus.ExponentialBuckets(0.00002, 4, 10),
		}, []string{"source"}),
		upstream: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_dns_forward_failures_total",
			Help: "Forwarded queries no upstream resolver answered (each got SERVFAIL).",
		}),
	}
}

func (m *metrics) observe(source string, rcode int, start time.Time) {
	m.requests.WithLabelValues(source, dns.RcodeToString[rcode]).Inc()
	m.duration.WithLabelValues(source).Observe(time.Since(start).Seconds())
}

// Collectors returns the server's Prometheus metrics, for the composition
// root to register.
func (s *Server) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.requests, s.metrics.duration, s.metrics.upstream}
}
