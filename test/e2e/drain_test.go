package e2e

import (
	"strings"
	"testing"
)

// TestDrainHonoursDisruptionBudget drains the only node with kubectl: the
// eviction subresource lets one pod go, then refuses with 429 while the
// budget (kept by the disruption controller) allows nothing — the
// replacement cannot be scheduled on the cordoned node — and kubectl
// retries until its timeout; once the budget is relaxed the drain finishes.
func TestDrainHonoursDisruptionBudget(t *testing.T) {
	c := startNodeCluster(t)
	img := testImage(t)
	ns := "drain-e2e"
	c.ns = ns
	c.kubectl("", "create", "namespace", ns)
	c.waitFor("node/"+c.nodeName, `{.status.conditions[?(@.type=="Ready")].status}`, "node Ready", equals("True"))
	c.kubectl(strings.NewReplacer("NS", ns, "IMG", img).Replace(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: drain}}
  template:
    metadata: {labels: {app: drain}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: IMG
        args: [serve, "8080"]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata: {name: web, namespace: NS}
spec:
  minAvailable: 1
  selector: {matchLabels: {app: drain}}
`), "apply", "-f", "-")
	c.waitFor("deployment/web", "{.status.readyReplicas}", "2 ready replicas", equals("2"))
	c.waitFor("pdb/web", "{.status.disruptionsAllowed}", "one disruption allowed", equals("1"))

	r := kubectlWith(t, c.proc.kubeconfig, "", "drain", c.nodeName, "--pod-selector", "app=drain", "--timeout=15s")
	if r.err == nil {
		t.Fatalf("drain succeeded although the budget allows one disruption of two pods: %s", r)
	}
	if !strings.Contains(r.stdout+r.stderr, "Cannot evict pod as it would violate the pod's disruption budget") {
		t.Fatalf("drain failed without a budget refusal: %s", r)
	}
	if got := c.jsonpath("pdb/web", "{.status.disruptionsAllowed}"); got != "0" {
		t.Errorf("disruptionsAllowed %q during the drain, want 0", got)
	}

	c.kubectl("", "-n", ns, "patch", "pdb", "web", "--type=merge", "-p", `{"spec":{"minAvailable":0}}`)
	out := c.kubectl("", "drain", c.nodeName, "--pod-selector", "app=drain", "--timeout=40s")
	if !strings.Contains(out, "drained") {
		t.Errorf("drain output: %s", out)
	}
	c.kubectl("", "uncordon", c.nodeName)
}
