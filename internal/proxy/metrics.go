package proxy

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the proxy's Prometheus metrics. They are written only by
// the Run goroutine.
type metrics struct {
	duration     prometheus.Histogram
	lastSync     prometheus.Gauge
	rules        prometheus.Gauge
	servicePorts prometheus.Gauge
	errors       prometheus.Counter

	lastApply time.Time // of the last successful apply
}

func newMetrics() *metrics {
	return &metrics{
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_proxy_sync_duration_seconds",
			Help:    "Time to compute and apply the service rules, successful or not.",
			Buckets: prometheus.ExponentialBuckets(0.001, 2, 15),
		}),
		lastSync: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_proxy_last_sync_timestamp_seconds",
			Help: "Unix time of the last successful apply of the service rules.",
		}),
		rules: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_proxy_rules",
			Help: "nftables rules in the proxy's table after the last successful apply.",
		}),
		servicePorts: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gantry_proxy_service_ports",
			Help: "Service ports programmed by the last successful apply.",
		}),
		errors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_proxy_sync_errors_total",
			Help: "Applies of the service rules the kernel refused (each is retried).",
		}),
	}
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.duration, m.lastSync, m.rules, m.servicePorts, m.errors}
}

// observe records one apply that started at start.
func (m *metrics) observe(start time.Time, servicePorts, rules int, err error) {
	m.duration.Observe(time.Since(start).Seconds())
	if err != nil {
		m.errors.Inc()
		return
	}
	now := time.Now()
	m.lastApply = now
	m.lastSync.Set(float64(now.UnixNano()) / 1e9)
	m.rules.Set(float64(rules))
	m.servicePorts.Set(float64(servicePorts))
}
