package hpa

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"
)

// PodMetric is one pod's usage of a resource in milli-units (millicores,
// or thousandths of a byte), measured over Window ending at Timestamp.
type PodMetric struct {
	Timestamp time.Time
	Window    time.Duration
	Value     int64
}

// PodMetrics holds samples by pod name.
type PodMetrics map[string]PodMetric

// ErrNoMetrics: the metrics API returned no sample for the selected pods.
var ErrNoMetrics = errors.New("no metrics returned from resource metrics API")

// MetricsSource reports the resource usage of pods.
type MetricsSource interface {
	// PodUsage returns the usage of resource by the pods of namespace
	// matching selector — of the named container only when container is
	// not empty, else summed over the pod's containers — and the time of
	// the samples. Pods without a sample are left out; ErrNoMetrics when
	// there are none at all. Other errors: the source cannot be read.
	PodUsage(ctx context.Context, resource corev1.ResourceName, namespace string, selector labels.Selector, container string) (PodMetrics, time.Time, error)
}

// APIMetrics reads the resource metrics API (metrics.k8s.io/v1beta1), as
// Kubernetes' resourceMetricsClient does.
type APIMetrics struct {
	Client metricsclient.PodMetricsesGetter
}

var _ MetricsSource = APIMetrics{}

// PodUsage implements MetricsSource.
func (m APIMetrics) PodUsage(ctx context.Context, resource corev1.ResourceName, namespace string, selector labels.Selector, container string) (PodMetrics, time.Time, error) {
	list, err := m.Client.PodMetricses(namespace).List(ctx, metav1.ListOptions{LabelSelector: selector.String()})
	if err != nil {
		return nil, time.Time{}, fmt.Errorf("unable to fetch metrics from resource metrics API: %w", err)
	}
	if len(list.Items) == 0 {
		return nil, time.Time{}, ErrNoMetrics
	}
	out, err := podUsage(list.Items, resource, container)
	if err != nil {
		return nil, time.Time{}, err
	}
	return out, list.Items[0].Timestamp.Time, nil
}

// podUsage sums samples per pod. A pod with a container lacking the
// resource is left out; with container set, pods without that container
// are left out and a container lacking the resource is an error.
func podUsage(items []metricsv1beta1.PodMetrics, resource corev1.ResourceName, container string) (PodMetrics, error) {
	out := PodMetrics{}
	for _, pm := range items {
		var sum int64
		missing := len(pm.Containers) == 0
		found := false
		for _, c := range pm.Containers {
			if container != "" && c.Name != container {
				continue
			}
			found = true
			q, ok := c.Usage[resource]
			if !ok {
				if container != "" {
					return nil, fmt.Errorf("failed to get container metrics: missing %s usage for container %s in pod %s/%s", resource, container, pm.Namespace, pm.Name)
				}
				missing = true
				break
			}
			sum += q.MilliValue()
		}
		if missing || (container != "" && !found) {
			continue
		}
		out[pm.Name] = PodMetric{Timestamp: pm.Timestamp.Time, Window: pm.Window.Duration, Value: sum}
	}
	return out, nil
}
