package statefulset_test

import (
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestScenarioStatefulSetOnAgent runs a StatefulSet through the whole
// in-process cluster: scheduler, one agent on the fake runtime, and the
// controller as `gantry server` wires it.
func TestScenarioStatefulSetOnAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	a := c.AddAgent(t, "node-a", nil)
	a.Runtime.AddImage("db:v1", fake.Image{Program: fake.Idle})
	ns := "agent"
	createNamespace(t, c.Client, ns)
	if _, err := c.Client.AppsV1().StatefulSets(ns).Create(t.Context(), newSet("db", 2), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	converged(t, c.Client, ns, "db", "db:v1", 2)
	if out, err := kubectl(t, c, "-n", ns, "rollout", "status", "sts/db", "--timeout=60s"); err != nil {
		t.Fatalf("rollout status: %v\n%s", err, out)
	}
}
