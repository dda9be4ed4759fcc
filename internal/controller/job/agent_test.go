package job_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestScenarioJobOnAgent runs a Job through the whole in-process cluster:
// scheduler, a node agent on the fake runtime whose containers exit, and
// the Job controller as `gantry server` wires it.
func TestScenarioJobOnAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	a := c.AddAgent(t, "node-a", nil)
	a.Runtime.AddImage("work:1", fake.Image{Program: fake.ExitAfter(100*time.Millisecond, 0)})
	ns := "agent"
	createNamespace(t, c.Client, ns)
	j := newJob("work", 3, 2)
	j.Spec.Template.Spec.Containers[0].Image = "work:1"
	createJob(t, c.Client, ns, j)
	if out, err := kubectl(t, c, "-n", ns, "wait", "--for=condition=complete", "job/work", "--timeout=60s"); err != nil {
		t.Fatalf("%v\n%s", err, out)
	}
	j = finishedWith(t, c.Client, ns, "work", batchv1.JobComplete, "CompletionsReached")
	if j.Status.Succeeded != 3 || j.Status.Failed != 0 {
		t.Errorf("status %+v", j.Status)
	}
	noFinalizers(t, c.Client, ns, "work")
	eventually(t, "pods succeeded on node-a", func(ctx context.Context) (string, error) {
		pods, err := jobPods(ctx, c.Client, ns, "work")
		if err != nil {
			return "", err
		}
		for _, p := range pods {
			if p.Status.Phase != corev1.PodSucceeded || p.Spec.NodeName != "node-a" {
				return fmt.Sprintf("pod %s %s on %q", p.Name, p.Status.Phase, p.Spec.NodeName), nil
			}
		}
		return "", nil
	})
}
