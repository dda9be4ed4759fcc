package apiserver

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// requestMetrics are kube-apiserver's request metrics, with its names and
// labels, so that dashboards and alerts written for it work:
// apiserver_request_total, apiserver_request_duration_seconds (requests
// that are not long-running) and apiserver_longrunning_requests (watches
// and streams open now).
type requestMetrics struct {
	total       *prometheus.CounterVec
	duration    *prometheus.HistogramVec
	longRunning *prometheus.GaugeVec
}

func newRequestMetrics(r prometheus.Registerer) (*requestMetrics, error) {
	m := &requestMetrics{
		total: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "apiserver_request_total",
			Help: "Counter of apiserver requests broken out for each verb, group, version, resource, subresource, scope, component and HTTP response code.",
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component", "code"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "apiserver_request_duration_seconds",
			Help: "Response latency distribution in seconds for each verb, group, version, resource, subresource, scope and component (requests that are not long-running).",
			// kube-apiserver's buckets.
			Buckets: []float64{0.005, 0.025, 0.05, 0.1, 0.2, 0.4, 0.6, 0.8, 1.0, 1.25, 1.5, 2, 3, 4, 5, 6, 8, 10, 15, 20, 30, 45, 60},
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component"}),
		longRunning: prometheus.NewGaugeVec(prometheus.GaugeOpts{
			Name: "apiserver_longrunning_requests",
			Help: "Gauge of all active long-running apiserver requests broken out by verb, group, version, resource, scope and component.",
		}, []string{"verb", "group", "version", "resource", "subresource", "scope", "component"}),
	}
	for _, c := range []prometheus.Collector{m.total, m.duration, m.longRunning} {
		if err := r.Register(c); err != nil {
			return nil, err
		}
	}
	return m, nil
}

// longRunning reports whether a request stays open (watches and streams),
// as kube-apiserver's default long-running check decides.
func longRunning(info requestInfo) bool {
	switch info.subresource {
	case "attach", "exec", "proxy", "log", "portforward":
		return true
	}
	return info.verb == "watch"
}

// metricVerb is the verb as kube-apiserver's metrics spell it: streams
// that connect to a pod are CONNECT whatever the method (WebSocket clients
// use GET, SPDY ones POST); pod logs are a GET.
func metricVerb(info requestInfo, r *http.Request) string {
	switch info.subresource {
	case "attach", "exec", "portforward", "proxy":
		return "CONNECT"
	}
	switch info.verb {
	case "list":
		return "LIST"
	case "watch":
		return "WATCH"
	case "patch":
		if r.Header.Get("Content-Type") == "application/apply-patch+yaml" {
			return "APPLY"
		}
		return "PATCH"
	}
	return r.Method
}

func metricScope(info requestInfo) string {
	switch {
	case info.name != "":
		return "resource"
	case info.namespace != "":
		return "namespace"
	default:
		return "cluster"
	}
}

// start counts a resource request as it begins; the returned function
// records its end with the status code sent.
func (m *requestMetrics) start(info requestInfo, r *http.Request) (done func(code int)) {
	if m == nil {
		return func(int) {}
	}
	labels := []string{metricVerb(info, r), info.gv.Group, info.gv.Version, info.resource, info.subresource, metricScope(info), "apiserver"}
	begin := time.Now()
	long := longRunning(info)
	if long {
		m.longRunning.WithLabelValues(labels...).Inc()
	}
	return func(code int) {
		if long {
			m.longRunning.WithLabelValues(labels...).Dec()
		} else {
			m.duration.WithLabelValues(labels...).Observe(time.Since(begin).Seconds())
		}
		m.total.WithLabelValues(append(labels, strconv.Itoa(code))...).Inc()
	}
}
