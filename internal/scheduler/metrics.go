package scheduler

import (
	"errors"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Results of a scheduling attempt (label "result").
const (
	resultScheduled     = "scheduled"
	resultUnschedulable = "unschedulable"
	resultError         = "error"
)

func resultFor(err error) string {
	var fe *fitError
	if errors.As(err, &fe) || errors.Is(err, ErrNoNodes) {
		return resultUnschedulable
	}
	return resultError
}

type metrics struct {
	attempts       *prometheus.CounterVec
	duration       prometheus.Histogram
	bindErrors     prometheus.Counter
	preemptions    prometheus.Counter
	eventsDropped  prometheus.Counter
	pending        *prometheus.GaugeVec
	pendingSampler func() (int, int, int)
}

func newMetrics(q *queue) *metrics {
	return &metrics{
		attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gantry_scheduler_schedule_attempts_total",
			Help: "Scheduling cycles by result (scheduled, unschedulable, error).",
		}, []string{"result"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gantry_scheduler_scheduling_duration_seconds",
			Help:    "Time of one scheduling cycle (filter and score, binding excluded).",
			Buckets: prometheus.ExponentialBuckets(0.00001, 4, 10),
		}),
		bindErrors: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_binding_errors_total",
			Help: "Bindings the API server refused.",
		}),
		preemptions: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_preemption_victims_total",
			Help: "Pods evicted to make room for pods of higher priority.",
		}),
		eventsDropped: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gantry_scheduler_events_dropped_total",
			Help: "Events not written because the event queue was full.",
		}),
		pending: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "gantry_scheduler_pending_pods",
			Help: "Pods waiting in the scheduling queue, by queue (active, backoff, unschedulable).",
		}, []string{"queue"}),
		pendingSampler: q.lengths,
	}
}

func (m *metrics) observe(result string, d time.Duration) {
	m.attempts.WithLabelValues(result).Inc()
	m.duration.Observe(d.Seconds())
}

// Collectors returns the scheduler's Prometheus metrics, for the
// composition root to register.
func (s *Scheduler) Collectors() []prometheus.Collector {
	return []prometheus.Collector{s.metrics.attempts, s.metrics.duration, s.metrics.bindErrors, s.metrics.preemptions, s.metrics.eventsDropped, pendingCollector{s.metrics}}
}

// pendingCollector samples the queue lengths when scraped.
type pendingCollector struct{ m *metrics }

func (c pendingCollector) Describe(ch chan<- *prometheus.Desc) { c.m.pending.Describe(ch) }
func (c pendingCollector) Collect(ch chan<- prometheus.Metric) {
	a, b, u := c.m.pendingSampler()
	c.m.pending.WithLabelValues("active").Set(float64(a))
	c.m.pending.WithLabelValues("backoff").Set(float64(b))
	c.m.pending.WithLabelValues("unschedulable").Set(float64(u))
	c.m.pending.Collect(ch)
}
