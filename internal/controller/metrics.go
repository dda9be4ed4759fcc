package controller

import (
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/client-go/util/workqueue"
)

// metrics are one controller's Prometheus collectors, labelled with its name.
type metrics struct {
	reconciles *prometheus.CounterVec
	duration   prometheus.Histogram
	depth      prometheus.GaugeFunc
}

func newMetrics(name string, depth func() int) *metrics {
	labels := prometheus.Labels{"controller": name}
	return &metrics{
		reconciles: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name:        "gantry_controller_reconcile_total",
			Help:        "Reconciles by result (success or error).",
			ConstLabels: labels,
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:        "gantry_controller_reconcile_duration_seconds",
			Help:        "Time spent in one Reconcile call.",
			ConstLabels: labels,
			Buckets:     prometheus.ExponentialBuckets(0.001, 4, 8),
		}),
		depth: prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name:        "gantry_controller_queue_depth",
			Help:        "Keys waiting in the work queue.",
			ConstLabels: labels,
		}, func() float64 { return float64(depth()) }),
	}
}

func (m *metrics) observe(err error, d time.Duration) {
	result := "success"
	if err != nil {
		result = "error"
	}
	m.reconciles.WithLabelValues(result).Inc()
	m.duration.Observe(d.Seconds())
}

// Collectors returns the controller's Prometheus collectors for the caller to
// register. Collectors of different controllers can share one registry.
func (c *Controller) Collectors() []prometheus.Collector {
	return []prometheus.Collector{c.metrics.reconciles, c.metrics.duration, c.metrics.depth}
}

// noopProvider keeps client-go's workqueue from using its global metrics.
type noopProvider struct{}

type noopMetric struct{}

func (noopMetric) Inc()            {}
func (noopMetric) Dec()            {}
func (noopMetric) Set(float64)     {}
func (noopMetric) Observe(float64) {}

func (noopProvider) NewDepthMetric(string) workqueue.GaugeMetric       { return noopMetric{} }
func (noopProvider) NewAddsMetric(string) workqueue.CounterMetric      { return noopMetric{} }
func (noopProvider) NewLatencyMetric(string) workqueue.HistogramMetric { return noopMetric{} }
func (noopProvider) NewWorkDurationMetric(string) workqueue.HistogramMetric {
	return noopMetric{}
}
func (noopProvider) NewUnfinishedWorkSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noopMetric{}
}
func (noopProvider) NewLongestRunningProcessorSecondsMetric(string) workqueue.SettableGaugeMetric {
	return noopMetric{}
}
func (noopProvider) NewRetriesMetric(string) workqueue.CounterMetric { return noopMetric{} }
