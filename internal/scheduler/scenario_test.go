package scheduler_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: the in-process control plane (API server on embedded
// etcd, controllers and scheduler) with hollow nodes, nodes that exist only
// as API objects with a Ready status and a fresh lease.

const scenarioTimeout = 30 * time.Second

// startCluster starts the control plane; hollow nodes renew no lease, so
// the node lifecycle controller is told to wait an hour before it marks
// them unreachable.
func startCluster(t testing.TB) *testcluster.Cluster {
	t.Helper()
	return testcluster.Start(t, testcluster.Options{Configure: func(c *server.Config) {
		c.NodeMonitorGracePeriod = time.Hour
	}})
}

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

type hollowNode struct {
	name   string
	cpu    string
	memory string
	labels map[string]string
	taints []corev1.Taint
}

// createHollowNode creates a Ready node with capacity and a lease.
func createHollowNode(t testing.TB, cs kubernetes.Interface, h hollowNode) {
	t.Helper()
	ctx := t.Context()
	if h.memory == "" {
		h.memory = "8Gi"
	}
	labels := map[string]string{corev1.LabelHostname: h.name}
	for k, v := range h.labels {
		labels[k] = v
	}
	node, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: h.name, Labels: labels},
		Spec:       corev1.NodeSpec{Taints: h.taints},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse(h.cpu),
		corev1.ResourceMemory: resource.MustParse(h.memory),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	now := metav1.Now()
	// Node IPAM may write the node (podCIDR) between create and this
	// status update: retry on conflict with the current object.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node.Status = corev1.NodeStatus{
			Capacity: rl, Allocatable: rl,
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady",
				LastHeartbeatTime: now, LastTransitionTime: now}},
		}
		_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			if cur, gerr := cs.CoreV1().Nodes().Get(ctx, h.name, metav1.GetOptions{}); gerr == nil {
				node = cur
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	holder, secs := h.name, int32(40)
	_, err = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: h.name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &holder, LeaseDurationSeconds: &secs, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

func podRequesting(name, cpu string) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "app", Image: "app",
			Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse(cpu)}},
		}}},
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, ns string, pod *corev1.Pod) {
	t.Helper()
	if _, err := cs.CoreV1().Pods(ns).Create(t.Context(), pod, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// boundTo waits until pod ns/name is bound and returns its node.
func boundTo(t *testing.T, cs kubernetes.Interface, ns, name string) string {
	t.Helper()
	var node string
	eventually(t, "pod "+name+" bound", func(ctx context.Context) (string, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if p.Spec.NodeName == "" {
			return fmt.Sprintf("pending, conditions %v", p.Status.Conditions), nil
		}
		node = p.Spec.NodeName
		return "", nil
	})
	return node
}

// unschedulable waits until the pod says PodScheduled=False/Unschedulable
// with exactly msg, and a FailedScheduling event from default-scheduler
// says the same.
func unschedulable(t *testing.T, cs kubernetes.Interface, ns, name, msg string) {
	t.Helper()
	eventually(t, "pod "+name+" explained", func(ctx context.Context) (string, error) {
		p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if p.Spec.NodeName != "" {
			return "", fmt.Errorf("pod %s was bound to %s", name, p.Spec.NodeName)
		}
		for _, c := range p.Status.Conditions {
			if c.Type == corev1.PodScheduled {
				if c.Status != corev1.ConditionFalse || c.Reason != corev1.PodReasonUnschedulable || c.Message != msg {
					return fmt.Sprintf("condition %s/%s %q", c.Status, c.Reason, c.Message), nil
				}
				return "", nil
			}
		}
		return "no PodScheduled condition", nil
	})
	eventually(t, "FailedScheduling event for "+name, func(ctx context.Context) (string, error) {
		evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{
			FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String(),
		})
		if err != nil {
			return "", err
		}
		var seen []string
		for _, e := range evs.Items {
			if e.Reason == "FailedScheduling" && e.Type == corev1.EventTypeWarning && e.Source.Component == "default-scheduler" && e.Message == msg {
				return "", nil
			}
			seen = append(seen, e.Reason+": "+e.Message)
		}
		return fmt.Sprintf("events %q", seen), nil
	})
}

func TestScenarioScheduling(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := startCluster(t)
	cs := c.Client
	const ns = metav1.NamespaceDefault

	createHollowNode(t, cs, hollowNode{name: "small-1", cpu: "2"})
	createHollowNode(t, cs, hollowNode{name: "small-2", cpu: "2", labels: map[string]string{"disk": "ssd"}})
	createHollowNode(t, cs, hollowNode{name: "db", cpu: "16", taints: []corev1.Taint{{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}}})

	t.Run("pods land on the nodes that fit", func(t *testing.T) {
		ssd := podRequesting("ssd", "100m")
		ssd.Spec.NodeSelector = map[string]string{"disk": "ssd"}
		createPod(t, cs, ns, ssd)
		tolerant := podRequesting("tolerant", "10")
		tolerant.Spec.Tolerations = []corev1.Toleration{{Key: "dedicated", Operator: corev1.TolerationOpEqual, Value: "db", Effect: corev1.TaintEffectNoSchedule}}
		createPod(t, cs, ns, tolerant)
		createPod(t, cs, ns, podRequesting("plain", "1500m"))

		if n := boundTo(t, cs, ns, "ssd"); n != "small-2" {
			t.Errorf("ssd pod on %s, want small-2 (nodeSelector)", n)
		}
		if n := boundTo(t, cs, ns, "tolerant"); n != "db" {
			t.Errorf("tolerant pod on %s, want db (only node with 10 cpu)", n)
		}
		if n := boundTo(t, cs, ns, "plain"); n != "small-1" && n != "small-2" {
			t.Errorf("plain pod on %s, want a small node (db is tainted)", n)
		}
		p, err := cs.CoreV1().Pods(ns).Get(t.Context(), "plain", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Status.Conditions) == 0 || p.Status.Conditions[0].Type != corev1.PodScheduled || p.Status.Conditions[0].Status != corev1.ConditionTrue {
			t.Errorf("bound pod conditions %v, want PodScheduled=True", p.Status.Conditions)
		}
	})

	t.Run("a pod that fits nowhere is explained, then scheduled on a new node", func(t *testing.T) {
		// small-1 or small-2 has 1.5 cpu taken, the other 0.1: 3 cpu fits
		// neither; db has 6 cpu left but a taint.
		createPod(t, cs, ns, podRequesting("big", "3"))
		never := corev1.PreemptNever
		pn := podRequesting("big-never", "3")
		pn.Spec.PreemptionPolicy = &never
		createPod(t, cs, ns, pn)

		unschedulable(t, cs, ns, "big", "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. "+
			"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.")
		unschedulable(t, cs, ns, "big-never", "0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. "+
			"preemption: not eligible due to preemptionPolicy=Never.")

		createHollowNode(t, cs, hollowNode{name: "large", cpu: "8"})
		if n := boundTo(t, cs, ns, "big"); n != "large" {
			t.Errorf("big pod on %s, want large", n)
		}
		if n := boundTo(t, cs, ns, "big-never"); n != "large" {
			t.Errorf("big-never pod on %s, want large", n)
		}
	})
}
