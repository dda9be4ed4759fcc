package hpa_test

import (
	"context"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	metricsclient "k8s.io/metrics/pkg/client/clientset/versioned"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/controller/hpa"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const scenarioTimeout = 60 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

// fakeMetrics is a MetricsSource the test sets: CPU usage by pod name.
type fakeMetrics struct {
	mu    sync.Mutex
	usage map[string]int64 // millicores
}

func (f *fakeMetrics) set(usage map[string]int64) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.usage = usage
}

func (f *fakeMetrics) PodUsage(_ context.Context, res corev1.ResourceName, _ string, _ labels.Selector, _ string) (hpa.PodMetrics, time.Time, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if res != corev1.ResourceCPU || len(f.usage) == 0 {
		return nil, time.Time{}, hpa.ErrNoMetrics
	}
	now := time.Now()
	out := hpa.PodMetrics{}
	for name, v := range f.usage {
		out[name] = hpa.PodMetric{Timestamp: now, Window: 15 * time.Second, Value: v}
	}
	return out, now, nil
}

func deployment(name string, replicas int32) *appsv1.Deployment {
	lbl := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: lbl},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: lbl},
				Spec: corev1.PodSpec{Containers: []corev1.Container{{
					Name: "app", Image: "busy:1",
					Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m")}},
				}}},
			},
		},
	}
}

func cpuHPA(name string, minReplicas, maxReplicas, target int32, behavior *autoscalingv2.HorizontalPodAutoscalerBehavior) *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    &minReplicas,
			MaxReplicas:    maxReplicas,
			Metrics: []autoscalingv2.MetricSpec{{
				Type: autoscalingv2.ResourceMetricSourceType,
				Resource: &autoscalingv2.ResourceMetricSource{Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{
					Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &target,
				}},
			}},
			Behavior: behavior,
		},
	}
}

func condition(h *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType) *autoscalingv2.HorizontalPodAutoscalerCondition {
	for i := range h.Status.Conditions {
		if h.Status.Conditions[i].Type == t {
			return &h.Status.Conditions[i]
		}
	}
	return nil
}

// scaledTo waits for the Deployment's spec.replicas and the autoscaler's
// status to agree on replicas, with the given condition reasons.
func scaledTo(cs kubernetes.Interface, ns, name string, replicas int32, reasons map[autoscalingv2.HorizontalPodAutoscalerConditionType]string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		d, err := cs.AppsV1().Deployments(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if *d.Spec.Replicas != replicas {
			return fmt.Sprintf("deployment at %d replicas", *d.Spec.Replicas), nil
		}
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if h.Status.DesiredReplicas != replicas || h.Status.LastScaleTime == nil {
			return fmt.Sprintf("status %+v", h.Status), nil
		}
		for t, r := range reasons {
			if c := condition(h, t); c == nil || c.Reason != r {
				return fmt.Sprintf("condition %s = %+v, want reason %s", t, c, r), nil
			}
		}
		return "", nil
	}
}

// hasEvent waits for an event of the autoscaler with reason and message.
func hasEvent(cs kubernetes.Interface, ns, name, reason, message string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		list, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=" + name})
		if err != nil {
			return "", err
		}
		var seen []string
		for _, e := range list.Items {
			if e.Reason == reason && e.Message == message {
				return "", nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return fmt.Sprintf("events %q", seen), nil
	}
}

// readyPod creates a Running, Ready pod of the deployment, started an hour
// ago so its CPU samples are trusted.
func readyPod(t *testing.T, cs kubernetes.Interface, ns, name string, d *appsv1.Deployment) {
	t.Helper()
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: d.Spec.Template.Labels}, Spec: d.Spec.Template.Spec}
	p, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	started := metav1.NewTime(time.Now().Add(-time.Hour))
	p.Status.Phase = corev1.PodRunning
	p.Status.StartTime = &started
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: started}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// TestScenarioAutoscaler runs the controller alone against an API server
// (no other controller changes the Deployment) with metrics the test sets.
func TestScenarioAutoscaler(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	cs := c.Client
	metrics := &fakeMetrics{}
	factory := informers.NewSharedInformerFactory(cs, 0)
	cfg := hpa.DefaultConfig()
	cfg.SyncPeriod = 100 * time.Millisecond
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelWarn}))
	ctrl, err := hpa.New(cfg, cs, metrics, factory, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		<-done
		factory.Shutdown()
	})

	ns := "hpa"
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	d, err := cs.AppsV1().Deployments(ns).Create(t.Context(), deployment("web", 2), metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readyPod(t, cs, ns, "web-a", d)
	readyPod(t, cs, ns, "web-b", d)
	metrics.set(map[string]int64{"web-a": 90, "web-b": 90})
	// Scale-down without a stabilization window, so the test need not
	// wait five minutes.
	zero := int32(0)
	behavior := &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &zero}}
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), cpuHPA("web", 1, 5, 50, behavior), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("scales up on high utilization", func(t *testing.T) {
		// 90% of the request against 50%: ceil(2 × 1.8) = 4.
		eventually(t, "scaled to 4", scaledTo(cs, ns, "web", 4, map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
			autoscalingv2.ScalingActive: "ValidMetricFound", autoscalingv2.ScalingLimited: "DesiredWithinRange",
		}))
		eventually(t, "event", hasEvent(cs, ns, "web", "SuccessfulRescale", "New size: 4; reason: cpu resource utilization (percentage of request) above target"))
		h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		m := h.Status.CurrentMetrics
		if len(m) != 1 || m[0].Resource == nil || m[0].Resource.Current.AverageUtilization == nil || *m[0].Resource.Current.AverageUtilization != 90 ||
			m[0].Resource.Current.AverageValue.MilliValue() != 90 {
			t.Errorf("currentMetrics %+v", m)
		}
		out, err := kubectl(t, c, "-n", ns, "get", "hpa", "web")
		if err != nil {
			t.Fatal(err)
		}
		if !regexp.MustCompile(`web\s+Deployment/web\s+cpu: 90%/50%\s+1\s+5\s+\d`).MatchString(out) {
			t.Errorf("kubectl get hpa:\n%s", out)
		}
	})

	t.Run("scales down when usage drops", func(t *testing.T) {
		// 10% against 50%: ceil(2 × 0.2) = 1, the minimum.
		metrics.set(map[string]int64{"web-a": 10, "web-b": 10})
		eventually(t, "scaled to 1", scaledTo(cs, ns, "web", 1, map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
			autoscalingv2.ScalingActive: "ValidMetricFound",
		}))
		eventually(t, "event", hasEvent(cs, ns, "web", "SuccessfulRescale", "New size: 1; reason: All metrics below target"))
	})

	t.Run("maxReplicas limits", func(t *testing.T) {
		// 500% against 50%: 20 wanted, 5 allowed.
		metrics.set(map[string]int64{"web-a": 500, "web-b": 500})
		eventually(t, "scaled to 5", scaledTo(cs, ns, "web", 5, map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
			autoscalingv2.ScalingLimited: "TooManyReplicas",
		}))
	})

	t.Run("missing metrics deactivate scaling", func(t *testing.T) {
		metrics.set(nil)
		eventually(t, "ScalingActive False", func(ctx context.Context) (string, error) {
			h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			c := condition(h, autoscalingv2.ScalingActive)
			if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "FailedGetResourceMetric" ||
				!strings.Contains(c.Message, "no metrics returned from resource metrics API") {
				return fmt.Sprintf("ScalingActive %+v", c), nil
			}
			return "", nil
		})
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *d.Spec.Replicas != 5 {
			t.Errorf("replicas %d without metrics, want 5 kept", *d.Spec.Replicas)
		}
		out, err := kubectl(t, c, "-n", ns, "get", "hpa", "web")
		if err != nil || !strings.Contains(out, "cpu: <unknown>/50%") {
			t.Errorf("kubectl get hpa without metrics (%v):\n%s", err, out)
		}
	})

	t.Run("two autoscalers selecting the same pods", func(t *testing.T) {
		metrics.set(map[string]int64{"web-a": 50, "web-b": 50})
		second := cpuHPA("web", 1, 5, 50, behavior)
		second.Name = "web-2"
		if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), second, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		activeReason := func(name, reason, message string) func(ctx context.Context) (string, error) {
			return func(ctx context.Context) (string, error) {
				h, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Get(ctx, name, metav1.GetOptions{})
				if err != nil {
					return "", err
				}
				c := condition(h, autoscalingv2.ScalingActive)
				if c == nil || c.Reason != reason || !strings.Contains(c.Message, message) {
					return fmt.Sprintf("%s: ScalingActive %+v", name, c), nil
				}
				return "", nil
			}
		}
		const ambiguous = "pods by selector app=web are controlled by multiple HPAs: [hpa/web hpa/web-2]"
		eventually(t, "second ambiguous", activeReason("web-2", "AmbiguousSelector", ambiguous))
		eventually(t, "first ambiguous", activeReason("web", "AmbiguousSelector", ambiguous))
		if err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Delete(t.Context(), "web-2", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first active again", activeReason("web", "ValidMetricFound", "cpu resource utilization"))
	})
}

// TestScenarioAutoscalerMetricsAPI runs the whole server: the autoscaler
// wired into it reads real samples through metrics.k8s.io, which the API
// server gets from a node agent whose fake runtime reports a steady 80
// millicores per container.
func TestScenarioAutoscalerMetricsAPI(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client
	a := c.AddAgent(t, "node-hpa", func(cfg *agent.Config) { cfg.StatsInterval = 200 * time.Millisecond })
	a.Runtime.AddImage("busy:1", fake.Image{})
	began := time.Now()
	a.Runtime.Script(func() {
		a.Runtime.ContainerStatsFunc = func(context.Context, string) (container.Stats, error) {
			// 80 millicores: 0.08 ns of CPU per ns.
			return container.Stats{Timestamp: time.Now(), CPUUsageNanoseconds: uint64(time.Since(began).Nanoseconds() * 8 / 100), MemoryWorkingSetBytes: 1 << 20}, nil
		}
	})
	ns := "hpa-api"
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), deployment("api", 1), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	mc, err := metricsclient.NewForConfig(c.Config)
	if err != nil {
		t.Fatal(err)
	}
	// Wait for a sample taken a full window after the pod turned ready:
	// younger samples are ignored during the CPU initialization period.
	eventually(t, "pod metrics", func(ctx context.Context) (string, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=api"})
		if err != nil || len(pods.Items) != 1 {
			return fmt.Sprintf("pods %v", err), nil
		}
		var readyAt time.Time
		for _, cond := range pods.Items[0].Status.Conditions {
			if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
				readyAt = cond.LastTransitionTime.Time
			}
		}
		if readyAt.IsZero() {
			return "pod not ready", nil
		}
		pm, err := mc.MetricsV1beta1().PodMetricses(ns).Get(ctx, pods.Items[0].Name, metav1.GetOptions{})
		if err != nil {
			return err.Error(), nil
		}
		if !pm.Timestamp.After(readyAt.Add(pm.Window.Duration)) {
			return fmt.Sprintf("sample at %v, ready at %v", pm.Timestamp, readyAt), nil
		}
		return "", nil
	})
	if _, err := cs.AutoscalingV2().HorizontalPodAutoscalers(ns).Create(t.Context(), cpuHPA("api", 1, 4, 50, nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	// 80% of 100m against 50%: ceil(1 × 1.6) = 2 (within a margin of the
	// sampled rate; anything from 56% to 100% gives 2).
	eventually(t, "scaled to 2", scaledTo(cs, ns, "api", 2, map[autoscalingv2.HorizontalPodAutoscalerConditionType]string{
		autoscalingv2.ScalingActive: "ValidMetricFound",
	}))
	eventually(t, "event", hasEvent(cs, ns, "api", "SuccessfulRescale", "New size: 2; reason: cpu resource utilization (percentage of request) above target"))
	out, err := kubectl(t, c, "-n", ns, "get", "hpa", "api")
	if err != nil {
		t.Fatal(err)
	}
	m := regexp.MustCompile(`cpu: (\d+)%/50%`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("kubectl get hpa shows no cpu target:\n%s", out)
	}
	if pct, _ := strconv.Atoi(m[1]); pct < 56 || pct > 100 {
		t.Errorf("kubectl get hpa shows %d%% utilization, want about 80%%:\n%s", pct, out)
	}
}

type testWriter struct{ t testing.TB }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// kubectl runs the real kubectl in-process against c.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) (string, error) {
	t.Helper()
	return c.Kubectl(t, args...)
}
