package e2e

import (
	"os/exec"
	"strings"
	"testing"
	"time"
)

// TestWorkloads runs issue #4's workloads on real Docker: a 10-replica
// Deployment rolled to a new image and back with `rollout undo`, scaling,
// a pod that cannot fit explained in `kubectl describe`, a tainted node,
// and a Job run to completion.
func TestWorkloads(t *testing.T) {
	c := startNodeCluster(t)
	img := testImage(t)
	img2 := img + "-v2"
	docker(t, "tag", img, img2)
	t.Cleanup(func() { _ = dockerRmi(img2) })
	ns := "workloads-e2e"
	c.ns = ns
	c.kubectl("", "create", "namespace", ns)
	c.waitFor("node/"+c.nodeName, `{.status.conditions[?(@.type=="Ready")].status}`, "node Ready", equals("True"))

	images := func() string {
		return c.jsonpath("pods", `{range .items[?(@.metadata.labels.app=="web")]}{.spec.containers[0].image}{"\n"}{end}`)
	}
	allImage := func(want string) func(string) bool {
		return func(s string) bool {
			lines := strings.Fields(s)
			if len(lines) == 0 {
				return false
			}
			for _, l := range lines {
				if l != want {
					return false
				}
			}
			return true
		}
	}

	t.Run("a 10-replica Deployment rolls to a new image and back with rollout undo", func(t *testing.T) {
		c.kubectl(strings.ReplaceAll(strings.ReplaceAll(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NS}
spec:
  replicas: 10
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 2
      containers:
      - name: web
        image: IMG
        args: [serve, "8080"]
        readinessProbe: {httpGet: {path: /, port: 8080}, periodSeconds: 1}
        resources: {requests: {cpu: 10m, memory: 8Mi}}
`, "NS", ns), "IMG", img), "apply", "-f", "-")
		c.kubectl("", "rollout", "status", "deployment/web", "-n", ns, "--timeout=180s")
		c.kubectl("", "set", "image", "deployment/web", "web="+img2, "-n", ns)
		c.kubectl("", "rollout", "status", "deployment/web", "-n", ns, "--timeout=180s")
		c.waitForValue(images, "every pod on the new image", allImage(img2))
		if got := c.jsonpath("deployment/web", "{.status.availableReplicas}"); got != "10" {
			t.Errorf("available replicas after the rollout: %q", got)
		}
		c.kubectl("", "rollout", "undo", "deployment/web", "-n", ns)
		c.kubectl("", "rollout", "status", "deployment/web", "-n", ns, "--timeout=180s")
		c.waitForValue(images, "every pod back on the first image", allImage(img))
		if out := c.kubectl("", "rollout", "history", "deployment/web", "-n", ns); !strings.Contains(out, "3 ") {
			t.Errorf("rollout history after undo lacks revision 3:\n%s", out)
		}
	})

	t.Run("scaling", func(t *testing.T) {
		c.kubectl("", "scale", "deployment/web", "--replicas=3", "-n", ns)
		c.waitFor("deployment/web", "{.status.replicas} {.status.readyReplicas}", "3 replicas, 3 ready", equals("3 3"))
		c.waitForValue(images, "3 pods left", func(s string) bool { return len(strings.Fields(s)) == 3 })
	})

	t.Run("a pod that cannot fit is explained in kubectl describe", func(t *testing.T) {
		c.kubectl(strings.ReplaceAll(strings.ReplaceAll(`
apiVersion: v1
kind: Pod
metadata: {name: huge, namespace: NS}
spec:
  containers:
  - {name: app, image: IMG, args: [sleep], resources: {requests: {cpu: "1000"}}}
`, "NS", ns), "IMG", img), "apply", "-f", "-")
		want := "0/1 nodes are available: 1 Insufficient cpu."
		c.waitFor("pod/huge", `{.status.conditions[?(@.type=="PodScheduled")].message}`, "Unschedulable message", func(s string) bool { return strings.HasPrefix(s, want) })
		if out := c.kubectl("", "describe", "pod", "huge", "-n", ns); !strings.Contains(out, "FailedScheduling") || !strings.Contains(out, want) {
			t.Errorf("kubectl describe lacks the FailedScheduling event %q:\n%s", want, out)
		}
		c.kubectl("", "delete", "pod", "huge", "-n", ns, "--wait=false")
	})

	t.Run("a tainted node takes only pods that tolerate the taint", func(t *testing.T) {
		c.kubectl("", "taint", "node", c.nodeName, "dedicated=db:NoSchedule")
		defer c.kubectl("", "taint", "node", c.nodeName, "dedicated=db:NoSchedule-")
		c.kubectl(strings.ReplaceAll(strings.ReplaceAll(`
apiVersion: v1
kind: Pod
metadata: {name: plain, namespace: NS}
spec:
  terminationGracePeriodSeconds: 1
  containers: [{name: app, image: IMG, args: [sleep]}]
---
apiVersion: v1
kind: Pod
metadata: {name: tolerant, namespace: NS}
spec:
  terminationGracePeriodSeconds: 1
  tolerations: [{key: dedicated, operator: Equal, value: db, effect: NoSchedule}]
  containers: [{name: app, image: IMG, args: [sleep]}]
`, "NS", ns), "IMG", img), "apply", "-f", "-")
		c.waitFor("pod/tolerant", "{.status.phase}", "Running", equals("Running"))
		c.waitFor("pod/plain", `{.status.conditions[?(@.type=="PodScheduled")].message}`, "untolerated taint",
			func(s string) bool { return strings.Contains(s, "untolerated taint {dedicated: db}") })
		c.kubectl("", "delete", "pod", "plain", "tolerant", "-n", ns, "--wait=false")
	})

	t.Run("an HPA scales a Deployment up under CPU load and back down after it", func(t *testing.T) {
		c.kubectl(strings.ReplaceAll(strings.ReplaceAll(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: burner, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: burner}}
  template:
    metadata: {labels: {app: burner}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: burn, image: IMG, args: [burn, /load/on], resources: {requests: {cpu: 100m}}, volumeMounts: [{name: load, mountPath: /load}]}
      volumes: [{name: load, emptyDir: {}}]
---
apiVersion: autoscaling/v2
kind: HorizontalPodAutoscaler
metadata: {name: burner, namespace: NS}
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: burner}
  minReplicas: 1
  maxReplicas: 3
  metrics:
  - type: Resource
    resource: {name: cpu, target: {type: Utilization, averageUtilization: 50}}
  behavior:
    scaleDown: {stabilizationWindowSeconds: 0}
`, "NS", ns), "IMG", img), "apply", "-f", "-")
		c.kubectl("", "rollout", "status", "deployment/burner", "-n", ns, "--timeout=120s")
		pod := c.jsonpath("pods", `{.items[?(@.metadata.labels.app=="burner")].metadata.name}`)
		c.kubectl("", "exec", pod, "-n", ns, "--", "/testimage", "write", "/load/on", "on")
		// Usage is sampled every 10 s and the autoscaler syncs every 15 s.
		c.waitForLong("deployment/burner", "{.spec.replicas}", "scaled up to 3", equals("3"))
		if out := c.kubectl("", "get", "hpa", "burner", "-n", ns); strings.Contains(out, "<unknown>") {
			t.Errorf("kubectl get hpa shows <unknown> targets while pods run:\n%s", out)
		}
		c.kubectl("", "exec", pod, "-n", ns, "--", "/testimage", "rm", "/load/on")
		c.waitForLong("deployment/burner", "{.spec.replicas}", "scaled back down to 1", equals("1"))
		if out := c.kubectl("", "describe", "hpa", "burner", "-n", ns); !strings.Contains(out, "SuccessfulRescale") {
			t.Errorf("kubectl describe hpa lacks SuccessfulRescale events:\n%s", out)
		}
	})

	t.Run("a Job runs to completion", func(t *testing.T) {
		c.kubectl(strings.ReplaceAll(strings.ReplaceAll(`
apiVersion: batch/v1
kind: Job
metadata: {name: once, namespace: NS}
spec:
  completions: 2
  parallelism: 2
  template:
    spec:
      restartPolicy: Never
      containers: [{name: work, image: IMG, args: [exit, "0"]}]
`, "NS", ns), "IMG", img), "apply", "-f", "-")
		c.kubectl("", "wait", "--for=condition=complete", "job/once", "-n", ns, "--timeout=120s")
		if got := c.jsonpath("job/once", "{.status.succeeded}"); got != "2" {
			t.Errorf("job succeeded = %q, want 2", got)
		}
	})
}

// waitForValue polls get until match accepts its result.
func (c *nodeCluster) waitForValue(get func() string, what string, match func(string) bool, timeout ...time.Duration) {
	c.t.Helper()
	deadline := time.Now().Add(90 * time.Second)
	if len(timeout) > 0 {
		deadline = time.Now().Add(timeout[0])
	}
	for {
		last := get()
		if match(last) {
			return
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("timed out waiting for %s; last %q", what, last)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// waitForLong is waitFor with a 3-minute deadline, for the autoscaler's
// sampling and sync periods.
func (c *nodeCluster) waitForLong(obj, path, what string, match func(string) bool) {
	c.t.Helper()
	c.waitForValue(func() string { return c.jsonpath(obj, path) }, obj+": "+what, match, 3*time.Minute)
}

// dockerRmi removes an image tag, for cleanups.
func dockerRmi(ref string) error {
	return exec.Command("docker", "rmi", ref).Run()
}
