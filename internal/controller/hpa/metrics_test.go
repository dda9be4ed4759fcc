package hpa

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsv1beta1 "k8s.io/metrics/pkg/apis/metrics/v1beta1"
)

func TestPodUsage(t *testing.T) {
	usage := func(cpu string) corev1.ResourceList {
		return corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}
	}
	items := []metricsv1beta1.PodMetrics{
		{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Containers: []metricsv1beta1.ContainerMetrics{{Name: "app", Usage: usage("100m")}, {Name: "side", Usage: usage("20m")}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "b"}, Containers: []metricsv1beta1.ContainerMetrics{{Name: "app", Usage: usage("1")}}},
		// A container without a cpu sample: the pod is left out.
		{ObjectMeta: metav1.ObjectMeta{Name: "c"}, Containers: []metricsv1beta1.ContainerMetrics{{Name: "app", Usage: usage("5m")}, {Name: "side", Usage: corev1.ResourceList{}}}},
		{ObjectMeta: metav1.ObjectMeta{Name: "empty"}},
	}
	got, err := podUsage(items, corev1.ResourceCPU, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || got["a"].Value != 120 || got["b"].Value != 1000 {
		t.Errorf("pod sums %+v, want a=120 b=1000", got)
	}
	got, err = podUsage(items[:2], corev1.ResourceCPU, "side")
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 1 || got["a"].Value != 20 {
		t.Errorf("container side %+v, want a=20 only", got)
	}
	if _, err := podUsage(items[2:3], corev1.ResourceCPU, "side"); err == nil {
		t.Error("a named container without the resource: no error")
	}
}
