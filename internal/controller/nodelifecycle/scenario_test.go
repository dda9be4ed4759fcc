package nodelifecycle_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/controller/nodelifecycle"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const (
	grace      = 2 * time.Second
	defaultTol = 2 // seconds
	ns         = "apps"
)

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, 30*time.Second, what, cond)
}

// fakeAgent plays a node agent: it registers the node Ready and renews its
// lease every 200 ms while alive.
type fakeAgent struct {
	cs    kubernetes.Interface
	name  string
	alive atomic.Bool
}

func startAgent(t *testing.T, cs kubernetes.Interface, name string) *fakeAgent {
	t.Helper()
	a := &fakeAgent{cs: cs, name: name}
	a.alive.Store(true)
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a.postReady(t, corev1.ConditionTrue)
	lease := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: corev1.NamespaceNodeLease},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: ptr.To(name), LeaseDurationSeconds: ptr.To[int32](1), RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}
	if _, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(t.Context(), lease, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			if !a.alive.Load() {
				continue
			}
			l, err := cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				continue
			}
			l.Spec.RenewTime = &metav1.MicroTime{Time: time.Now()}
			_, _ = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Update(ctx, l, metav1.UpdateOptions{})
		}
	}()
	t.Cleanup(func() { cancel(); <-done })
	return a
}

// postReady reports the node's Ready condition, as an agent does.
func (a *fakeAgent) postReady(t *testing.T, status corev1.ConditionStatus) {
	t.Helper()
	err := wait.PollUntilContextTimeout(t.Context(), 20*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := a.cs.CoreV1().Nodes().Get(ctx, a.name, metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: status, Reason: "KubeletReady",
			LastHeartbeatTime: now, LastTransitionTime: now,
		}}
		_, err = a.cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return false, nil
		}
		return err == nil, err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func createPod(t *testing.T, cs kubernetes.Interface, name, node string, tolerations ...corev1.Toleration) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.PodSpec{
			NodeName: node, Tolerations: tolerations,
			Containers: []corev1.Container{{Name: "c", Image: "nginx"}},
		},
	}
	p, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func taintsOf(n *corev1.Node) map[string]corev1.Taint {
	out := map[string]corev1.Taint{}
	for _, t := range n.Spec.Taints {
		out[t.Key+":"+string(t.Effect)] = t
	}
	return out
}

func expectTaints(t *testing.T, cs kubernetes.Interface, node string, want ...string) *corev1.Node {
	t.Helper()
	var got *corev1.Node
	eventually(t, fmt.Sprintf("node %s taints %v", node, want), func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, node, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		have := taintsOf(n)
		if len(have) != len(want) {
			return fmt.Sprintf("taints %v", n.Spec.Taints), nil
		}
		for _, w := range want {
			if _, ok := have[w]; !ok {
				return fmt.Sprintf("taints %v", n.Spec.Taints), nil
			}
		}
		got = n
		return "", nil
	})
	return got
}

func readyCondition(n *corev1.Node) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == corev1.NodeReady {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

func TestScenarioDeadNode(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{Configure: func(cfg *server.Config) {
		cfg.NodeMonitorGracePeriod, cfg.DefaultTolerationSeconds = grace, defaultTol
	}})
	cs := c.Client
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	a := startAgent(t, cs, "node-a")
	b := startAgent(t, cs, "node-b") // stays healthy throughout
	_ = b

	unreachable := func(seconds *int64) corev1.Toleration {
		return corev1.Toleration{Key: corev1.TaintNodeUnreachable, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
	}
	createPod(t, cs, "plain", "node-a")                                     // default toleration
	createPod(t, cs, "patient", "node-a", unreachable(ptr.To[int64](3600))) // its own, long
	createPod(t, cs, "forever", "node-a", corev1.Toleration{Operator: corev1.TolerationOpExists})
	createPod(t, cs, "elsewhere", "node-b")

	// Alive for longer than the grace period: no taint, still Ready.
	start := time.Now()
	eventually(t, "node-a alive past the grace period", func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-a", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if len(n.Spec.Taints) > 0 || readyCondition(n).Status != corev1.ConditionTrue {
			return "", fmt.Errorf("live node tainted %v, ready %v", n.Spec.Taints, readyCondition(n))
		}
		if time.Since(start) < 2*grace {
			return "waiting", nil
		}
		return "", nil
	})

	// The agent dies: the lease is no longer renewed.
	a.alive.Store(false)
	died := time.Now()
	n := expectTaints(t, cs, "node-a", corev1.TaintNodeUnreachable+":NoSchedule", corev1.TaintNodeUnreachable+":NoExecute")
	ready := readyCondition(n)
	if ready == nil || ready.Status != corev1.ConditionUnknown || ready.Reason != nodelifecycle.ReasonNodeStatusUnknown || ready.Message != "Kubelet stopped posting node status." {
		t.Fatalf("Ready condition %+v, want Unknown/NodeStatusUnknown", ready)
	}
	if time.Since(died) < grace-time.Second {
		t.Fatalf("node tainted %v after its last heartbeat, before the %v grace period", time.Since(died), grace)
	}
	tainted := taintsOf(n)[corev1.TaintNodeUnreachable+":NoExecute"].TimeAdded

	// Its pods are marked not ready, and the one without a toleration is
	// deleted after the default toleration; the others stay.
	eventually(t, "pods marked not ready, plain evicted", func(ctx context.Context) (string, error) {
		for _, name := range []string{"patient", "forever"} {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, name, metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if p.DeletionTimestamp != nil {
				return "", fmt.Errorf("pod %s, which tolerates the taint, was deleted", name)
			}
			if p.Status.Conditions[0].Status != corev1.ConditionFalse {
				return "pod " + name + " still ready", nil
			}
		}
		p, err := cs.CoreV1().Pods(ns).Get(ctx, "plain", metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		if p.DeletionTimestamp == nil {
			return "plain not deleted yet", nil
		}
		if p.DeletionTimestamp.Sub(tainted.Time) < (defaultTol-1)*time.Second {
			return "", fmt.Errorf("plain deleted at %v, taint added at %v: before its %d s default toleration", p.DeletionTimestamp, tainted, defaultTol)
		}
		return "", nil
	})
	other, err := cs.CoreV1().Pods(ns).Get(ctx, "elsewhere", metav1.GetOptions{})
	if err != nil || other.DeletionTimestamp != nil || other.Status.Conditions[0].Status != corev1.ConditionTrue {
		t.Fatalf("pod on the healthy node touched: %+v %v", other.Status.Conditions, err)
	}
	if nb, err := cs.CoreV1().Nodes().Get(ctx, "node-b", metav1.GetOptions{}); err != nil || len(nb.Spec.Taints) > 0 {
		t.Fatalf("healthy node tainted: %v %v", nb.Spec.Taints, err)
	}

	// The agent comes back and reports Ready: the taints go.
	a.alive.Store(true)
	a.postReady(t, corev1.ConditionTrue)
	expectTaints(t, cs, "node-a")

	// The node reports NotReady itself: not-ready taints.
	a.postReady(t, corev1.ConditionFalse)
	expectTaints(t, cs, "node-a", corev1.TaintNodeNotReady+":NoSchedule", corev1.TaintNodeNotReady+":NoExecute")
	a.postReady(t, corev1.ConditionTrue)
	expectTaints(t, cs, "node-a")
}

func TestScenarioNodeThatNeverReported(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{Configure: func(cfg *server.Config) {
		// Three heartbeat intervals, so that a loaded machine does not
		// make the heartbeat node look dead.
		cfg.NodeMonitorGracePeriod = 3 * testcluster.HeartbeatInterval
	}})
	cs := c.Client
	// "kept" has only a lease heartbeat (testcluster's, as stub agents use).
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "kept"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	stopHeartbeat := c.Heartbeat(t, "kept")
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "silent"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	n := expectTaints(t, cs, "silent", corev1.TaintNodeUnreachable+":NoSchedule", corev1.TaintNodeUnreachable+":NoExecute")
	if r := readyCondition(n); r == nil || r.Status != corev1.ConditionUnknown || r.Reason != nodelifecycle.ReasonNodeStatusNeverUpdated {
		t.Fatalf("Ready condition %+v, want Unknown/NodeStatusNeverUpdated", r)
	}
	// "silent" went stale after the grace period; "kept", created before
	// it, did not.
	kept, err := cs.CoreV1().Nodes().Get(t.Context(), "kept", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(kept.Spec.Taints) > 0 || readyCondition(kept) != nil {
		t.Fatalf("node with a lease heartbeat: taints %v, conditions %v", kept.Spec.Taints, kept.Status.Conditions)
	}
	stopHeartbeat()
	expectTaints(t, cs, "kept", corev1.TaintNodeUnreachable+":NoSchedule", corev1.TaintNodeUnreachable+":NoExecute")
}
