package daemonset_test

import (
	"context"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestScenarioDaemonSetOnAgents runs a DaemonSet through the whole
// in-process cluster: the real scheduler places each pod by its
// metadata.name node affinity and two agents on the fake runtime run them.
func TestScenarioDaemonSetOnAgents(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client
	for _, n := range []string{"node-a", "node-b"} {
		a := c.AddAgent(t, n, nil)
		a.Runtime.AddImage("agent:v1", fake.Image{Program: fake.Idle})
		a.Runtime.AddImage("agent:v2", fake.Image{Program: fake.Idle})
	}
	eventually(t, "nodes registered", func(ctx context.Context) (string, error) {
		nodes, err := cs.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
		if err != nil || len(nodes.Items) < 2 {
			return fmt.Sprintf("nodes %v", err), nil
		}
		return "", nil
	})
	ns := "agents"
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.AppsV1().DaemonSets(ns).Create(t.Context(), newDS("logs", nil), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	onNodes(t, cs, ns, "logs", "agent:v1", "node-a", "node-b")
	setImage(t, cs, ns, "logs", "agent:v2")
	if out, err := kubectl(t, c, "-n", ns, "rollout", "status", "ds/logs", "--timeout=60s"); err != nil {
		t.Fatalf("rollout status: %v\n%s", err, out)
	}
	onNodes(t, cs, ns, "logs", "agent:v2", "node-a", "node-b")
}
