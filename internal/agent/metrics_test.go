package agent_test

import (
	"testing"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestMetricsAPI reads pod and node usage through metrics.k8s.io, which
// the API server answers from the agents' samples.
func TestMetricsAPI(t *testing.T) {
	c := testcluster.Start(t)
	a := c.AddAgent(t, "node-m", func(cfg *agent.Config) { cfg.StatsInterval = 200 * time.Millisecond })
	e := &env{c: c, agent: a, cs: c.Client, ns: "default"}
	e.waitNode(t)
	a.Runtime.AddImage("busy:1", fake.Image{})
	e.createPod(t, pod("busy", ctr("app", "busy:1")))
	e.waitPod(t, "busy", "Ready", isReady)
	mc, err := metricsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	ctx := t.Context()

	// The fake runtime's containers use a steady 1% of a CPU and 1 MiB.
	poll(t, 20*time.Second, "pod metrics", func() bool {
		pm, err := mc.MetricsV1beta1().PodMetricses("default").Get(ctx, "busy", metav1.GetOptions{})
		if err != nil || len(pm.Containers) != 1 {
			return false
		}
		cpu, mem := pm.Containers[0].Usage.Cpu().MilliValue(), pm.Containers[0].Usage.Memory().Value()
		if cpu < 5 || cpu > 20 || mem < 1<<20 || pm.Window.Duration <= 0 {
			t.Fatalf("pod usage cpu %dm memory %d window %v, want about 10m and at least 1Mi", cpu, mem, pm.Window)
		}
		return true
	})
	list, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{LabelSelector: "app=busy"})
	if err != nil || len(list.Items) != 1 {
		t.Fatalf("pod metrics by label: %v %v", list, err)
	}
	if list, err := mc.MetricsV1beta1().PodMetricses("").List(ctx, metav1.ListOptions{LabelSelector: "app=other"}); err != nil || len(list.Items) != 0 {
		t.Fatalf("pod metrics for a selector matching nothing: %v %v", list, err)
	}
	poll(t, 20*time.Second, "node metrics", func() bool {
		nm, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "node-m", metav1.GetOptions{})
		return err == nil && nm.Usage.Memory().Value() > 0
	})
	if _, err := mc.MetricsV1beta1().NodeMetricses().Get(ctx, "nope", metav1.GetOptions{}); err == nil {
		t.Error("metrics of a missing node: no error")
	}
	groups, err := c.Client.Discovery().ServerGroups()
	if err != nil {
		t.Fatal(err)
	}
	found := false
	for _, g := range groups.Groups {
		found = found || g.Name == "metrics.k8s.io"
	}
	if !found {
		t.Error("metrics.k8s.io is not in discovery")
	}
}
