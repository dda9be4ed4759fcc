package nodelifecycle_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/controller/nodelifecycle"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestScenarioDeadAgentPodsReplaced runs the whole chain with the default
// timings: two agents on fake runtimes, a ReplicaSet on one of them; that
// agent is killed, and its pods must run on the other node. The time taken
// is logged; the default timings aim at 30 s (grace 15 s + toleration 10 s
// + rescheduling), and the test fails after 40 s, long before Kubernetes'
// defaults (about 6 minutes) would have replaced anything.
func TestScenarioDeadAgentPodsReplaced(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and waits for the default timings (~30 s)")
	}
	def := nodelifecycle.DefaultConfig()
	c := testcluster.Start(t)
	cs := c.Client
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	agents := map[string]*testcluster.Agent{}
	addAgent := func(name string) {
		agents[name] = c.AddAgent(t, name, nil)
		agents[name].Runtime.AddImage("app:1", fake.Image{Program: fake.Idle})
	}
	// node-b joins only once the pods run on node-a: cordoning it instead
	// raced with the scheduler's view of the cordon.
	addAgent("node-a")

	labels := map[string]string{"app": "web"}
	_, err := cs.AppsV1().ReplicaSets(ns).Create(ctx, &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: ptr.To[int32](3),
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app:1"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	readyOn := func(ctx context.Context) (map[string]int, error) {
		pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=web"})
		if err != nil {
			return nil, err
		}
		out := map[string]int{}
		for _, p := range pods.Items {
			if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning && podReady(&p) {
				out[p.Spec.NodeName]++
			}
		}
		return out, nil
	}
	eventually(t, "3 pods ready on node-a", func(ctx context.Context) (string, error) {
		on, err := readyOn(ctx)
		if err != nil || on["node-a"] == 3 {
			return "", err
		}
		return fmt.Sprintf("ready pods by node %v", on), nil
	})
	addAgent("node-b")
	err = wait.PollUntilContextTimeout(ctx, 50*time.Millisecond, 30*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "node-b", metav1.GetOptions{})
		if err != nil {
			return false, nil // not registered yet
		}
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady {
				return c.Status == corev1.ConditionTrue, nil
			}
		}
		return false, nil
	})
	if err != nil {
		t.Fatalf("node-b not Ready: %v", err)
	}

	agents["node-a"].Stop()
	killed := time.Now()
	err = wait.PollUntilContextTimeout(ctx, 100*time.Millisecond, 40*time.Second, true, func(ctx context.Context) (bool, error) {
		on, err := readyOn(ctx)
		return err == nil && on["node-b"] == 3, err
	})
	if err != nil {
		on, _ := readyOn(ctx)
		t.Fatalf("pods not replaced on node-b within 40 s of the agent's death (grace %v, default toleration %d s): ready by node %v: %v",
			def.NodeMonitorGracePeriod, def.DefaultTolerationSeconds, on, err)
	}
	t.Logf("pods of the dead node ready elsewhere after %v (grace %v + default toleration %d s)",
		time.Since(killed).Round(100*time.Millisecond), def.NodeMonitorGracePeriod, def.DefaultTolerationSeconds)
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}
