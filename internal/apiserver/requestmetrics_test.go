package apiserver_test

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/apiserver"
)

// TestRequestMetrics checks kube-apiserver's request metrics: requests
// counted by verb, resource, scope and code, latencies of requests that
// end, and watches counted as long-running while they are open.
func TestRequestMetrics(t *testing.T) {
	reg := prometheus.NewRegistry()
	e := startEnv(t, func(c *apiserver.Config) { c.MetricsRegisterer = reg })
	cms := e.client.CoreV1().ConfigMaps(metav1.NamespaceDefault)
	ctx := t.Context()

	if _, err := cms.Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "a", metav1.GetOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cms.Get(ctx, "missing", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
		t.Fatalf("get missing: %v", err)
	}
	if _, err := e.client.CoreV1().ConfigMaps("").List(ctx, metav1.ListOptions{}); err != nil {
		t.Fatal(err)
	}
	w, err := cms.Watch(ctx, metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}

	want := map[string]float64{
		`apiserver_request_total{code="201",component="apiserver",group="",resource="configmaps",scope="namespace",subresource="",verb="POST",version="v1"}`:     1,
		`apiserver_request_total{code="200",component="apiserver",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"}`:       1,
		`apiserver_request_total{code="404",component="apiserver",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"}`:       1,
		`apiserver_request_total{code="200",component="apiserver",group="",resource="configmaps",scope="cluster",subresource="",verb="LIST",version="v1"}`:       1,
		`apiserver_longrunning_requests{component="apiserver",group="",resource="configmaps",scope="namespace",subresource="",verb="WATCH",version="v1"}`:        1,
		`apiserver_request_duration_seconds_count{component="apiserver",group="",resource="configmaps",scope="resource",subresource="",verb="GET",version="v1"}`: 2,
	}
	got := gather(t, reg)
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	for k := range got {
		if strings.HasPrefix(k, "apiserver_request_duration_seconds_count") && strings.Contains(k, `verb="WATCH"`) {
			t.Errorf("a watch has a latency: %s", k)
		}
	}

	// The watch ends: it is no longer open, and it is counted.
	w.Stop()
	gone := `apiserver_longrunning_requests{component="apiserver",group="",resource="configmaps",scope="namespace",subresource="",verb="WATCH",version="v1"}`
	counted := `apiserver_request_total{code="200",component="apiserver",group="",resource="configmaps",scope="namespace",subresource="",verb="WATCH",version="v1"}`
	deadline := time.Now().Add(10 * time.Second)
	for {
		got = gather(t, reg)
		if got[gone] == 0 && got[counted] == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("after the watch ended: open %v, counted %v", got[gone], got[counted])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// gather returns every sample of reg as "name{label="value",...}" (labels
// sorted, as the registry returns them) to its value; histograms give
// their _count.
func gather(t *testing.T, reg *prometheus.Registry) map[string]float64 {
	t.Helper()
	families, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	for _, f := range families {
		for _, m := range f.GetMetric() {
			var labels []string
			for _, l := range m.GetLabel() {
				labels = append(labels, fmt.Sprintf("%s=%q", l.GetName(), l.GetValue()))
			}
			key := "{" + strings.Join(labels, ",") + "}"
			switch f.GetType() {
			case dto.MetricType_COUNTER:
				out[f.GetName()+key] = m.GetCounter().GetValue()
			case dto.MetricType_GAUGE:
				out[f.GetName()+key] = m.GetGauge().GetValue()
			case dto.MetricType_HISTOGRAM:
				out[f.GetName()+"_count"+key] = float64(m.GetHistogram().GetSampleCount())
			}
		}
	}
	return out
}
