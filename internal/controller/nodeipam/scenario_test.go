package nodeipam_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/controller/nodeipam"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const scenarioTimeout = 30 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

func createNode(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// podCIDR waits for node name to get a range and returns it.
func podCIDR(t *testing.T, cs kubernetes.Interface, name string) string {
	t.Helper()
	var cidr string
	eventually(t, "node "+name+" gets a pod CIDR", func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if n.Spec.PodCIDR == "" || len(n.Spec.PodCIDRs) != 1 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR {
			return fmt.Sprintf("podCIDR %q, podCIDRs %v", n.Spec.PodCIDR, n.Spec.PodCIDRs), nil
		}
		cidr = n.Spec.PodCIDR
		return "", nil
	})
	return cidr
}

func TestScenarioRangesStableAcrossRestart(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	dir := t.TempDir()
	c, stop := testcluster.StartUntil(t, testcluster.Options{DataDir: dir})
	cs := c.Client
	got := map[string]string{}
	for _, n := range []string{"a", "b", "c"} {
		createNode(t, cs, n)
		got[n] = podCIDR(t, cs, n)
	}
	seen := map[string]string{}
	for n, cidr := range got {
		if other, dup := seen[cidr]; dup {
			t.Fatalf("nodes %s and %s share %s", n, other, cidr)
		}
		seen[cidr] = n
	}
	if err := cs.CoreV1().Nodes().Delete(t.Context(), "b", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	stop()

	c, stop = testcluster.StartUntil(t, testcluster.Options{DataDir: dir})
	defer stop()
	cs = c.Client
	for _, n := range []string{"d", "e"} {
		createNode(t, cs, n)
		cidr := podCIDR(t, cs, n)
		if cidr == got["a"] || cidr == got["c"] {
			t.Fatalf("node %s got %s, already held by a node that survived the restart (%v)", n, cidr, got)
		}
		got[n] = cidr
	}
	if got["d"] == got["e"] {
		t.Fatalf("nodes d and e share %s", got["d"])
	}
	// Existing ranges are kept.
	for _, n := range []string{"a", "c"} {
		node, err := cs.CoreV1().Nodes().Get(t.Context(), n, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if node.Spec.PodCIDR != got[n] {
			t.Fatalf("node %s podCIDR changed from %s to %s", n, got[n], node.Spec.PodCIDR)
		}
	}
}

func TestScenarioFullRangeExplainedAndReleased(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{Configure: func(cfg *server.Config) {
		cfg.ClusterCIDR, cfg.NodeCIDRMaskSize = "10.99.0.0/23", 24 // two ranges
	}})
	cs := c.Client
	createNode(t, cs, "n1")
	first := podCIDR(t, cs, "n1")
	createNode(t, cs, "n2")
	podCIDR(t, cs, "n2")
	createNode(t, cs, "n3")
	eventually(t, "n3 explains why it has no range", func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "n3", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if n.Spec.PodCIDR != "" {
			return "n3 got " + n.Spec.PodCIDR + " from a full cluster CIDR", nil
		}
		cond := condition(n, corev1.NodeNetworkUnavailable)
		if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != nodeipam.ReasonNoCIDRAvailable {
			return fmt.Sprintf("conditions %v", n.Status.Conditions), nil
		}
		events, err := cs.CoreV1().Events("").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", "n3").String()})
		if err != nil {
			return "", err
		}
		for _, e := range events.Items {
			if e.Reason == nodeipam.ReasonCIDRNotAvailable {
				return "", nil
			}
		}
		return fmt.Sprintf("no %s event among %d", nodeipam.ReasonCIDRNotAvailable, len(events.Items)), nil
	})

	if err := cs.CoreV1().Nodes().Delete(t.Context(), "n1", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := podCIDR(t, cs, "n3"); got != first {
		t.Fatalf("n3 got %s, want the released %s", got, first)
	}
	eventually(t, "n3's condition cleared", func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, "n3", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if cond := condition(n, corev1.NodeNetworkUnavailable); cond == nil || cond.Status != corev1.ConditionFalse {
			return fmt.Sprintf("conditions %v", n.Status.Conditions), nil
		}
		return "", nil
	})
}

func condition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}
