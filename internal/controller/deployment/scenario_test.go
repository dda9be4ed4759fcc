package deployment_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantry-dev/gantry/internal/controller/deployment"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd with the controllers
// running, driven through client-go and the real kubectl; a stub agent
// binds pods and reports them ready.

func TestScenarioDeployment(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client

	t.Run("rolling update and undo keep availability", func(t *testing.T) {
		ns := "rolling"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		const replicas, minAvailable, maxTotal = 10, 8, 13 // 25% unavailable rounds down, 25% surge up
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("web", replicas, "nginx:1.26"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first rollout", rolledOut(cs, ns, "web"))
		first, err := cs.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(first.Items) != 1 {
			t.Fatalf("replica sets after the first rollout: %v %v", first, err)
		}
		v1RS := first.Items[0].Name
		// kubectl describe shows the controllers' events.
		eventually(t, "events", func(ctx context.Context) (string, error) {
			evs, err := cs.CoreV1().Events(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			want := map[string]string{
				"Deployment/web":     fmt.Sprintf("ScalingReplicaSet: Scaled up replica set %s from 0 to 10", v1RS),
				"ReplicaSet/" + v1RS: "SuccessfulCreate: Created pod: " + v1RS + "-",
			}
			for _, e := range evs.Items {
				k := e.InvolvedObject.Kind + "/" + e.InvolvedObject.Name
				if w, ok := want[k]; ok && strings.HasPrefix(e.Reason+": "+e.Message, w) {
					delete(want, k)
				}
			}
			if len(want) > 0 {
				return fmt.Sprintf("missing events %v", want), nil
			}
			return "", nil
		})

		obs := observe(t, cs, ns, func(o *observer) string {
			if n := o.availablePods(); n < minAvailable {
				return fmt.Sprintf("%d available pods", n)
			}
			if n := o.specTotal(); n > maxTotal {
				return fmt.Sprintf("replica sets sum to %d replicas", n)
			}
			return ""
		})
		eventually(t, "observer synced", func(context.Context) (string, error) {
			obs.mu.Lock()
			defer obs.mu.Unlock()
			if obs.availablePods() != replicas {
				return fmt.Sprintf("observer sees %d available pods", obs.availablePods()), nil
			}
			return "", nil
		})
		obs.arm()
		mustKubectl(t, c, "-n", ns, "set", "image", "deployment/web", "app=nginx:1.27")
		mustKubectl(t, c, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s")
		eventually(t, "second rollout", rolledOut(cs, ns, "web"))
		faults, events := obs.disarm()
		if len(faults) > 0 {
			t.Fatalf("during the rollout: %d faults, first %s", len(faults), faults[0])
		}
		if events < 2*replicas {
			t.Fatalf("observer saw only %d events: the check proved nothing", events)
		}
		eventually(t, "all pods on the new image", func(ctx context.Context) (string, error) {
			imgs, err := images(ctx, cs, ns, "app=web")
			if err != nil || (len(imgs) == 1 && imgs["nginx:1.27"] == replicas) {
				return "", err
			}
			return fmt.Sprintf("images %v", imgs), nil
		})
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Annotations[deployment.RevisionAnnotation] != "2" {
			t.Fatalf("revision %q after one update, want 2", d.Annotations[deployment.RevisionAnnotation])
		}
		old, err := cs.AppsV1().ReplicaSets(ns).Get(t.Context(), v1RS, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *old.Spec.Replicas != 0 || old.Annotations[deployment.RevisionAnnotation] != "1" ||
			old.Annotations[deployment.DesiredReplicasAnnotation] != "10" || old.Annotations[deployment.MaxReplicasAnnotation] != "13" {
			t.Fatalf("old replica set: replicas %d annotations %v", *old.Spec.Replicas, old.Annotations)
		}
		history := mustKubectl(t, c, "-n", ns, "rollout", "history", "deployment/web")
		for _, rev := range []string{"1", "2"} {
			if !strings.Contains(history, "\n"+rev+" ") {
				t.Fatalf("history lacks revision %s:\n%s", rev, history)
			}
		}

		// Undo: kubectl copies revision 1's template back into the Deployment.
		obs.arm()
		mustKubectl(t, c, "-n", ns, "rollout", "undo", "deployment/web")
		mustKubectl(t, c, "-n", ns, "rollout", "status", "deployment/web", "--timeout=90s")
		eventually(t, "rolled back", rolledOut(cs, ns, "web"))
		faults, _ = obs.disarm()
		if len(faults) > 0 {
			t.Fatalf("during the rollback: %d faults, first %s", len(faults), faults[0])
		}
		eventually(t, "all pods on the old image", func(ctx context.Context) (string, error) {
			imgs, err := images(ctx, cs, ns, "app=web")
			if err != nil || (len(imgs) == 1 && imgs["nginx:1.26"] == replicas) {
				return "", err
			}
			return fmt.Sprintf("images %v", imgs), nil
		})
		back, err := cs.AppsV1().ReplicaSets(ns).Get(t.Context(), v1RS, metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if *back.Spec.Replicas != replicas || back.Annotations[deployment.RevisionAnnotation] != "3" || back.Annotations[deployment.RevisionHistoryAnnotation] != "1" {
			t.Fatalf("rolled-back replica set %s: replicas %d annotations %v", v1RS, *back.Spec.Replicas, back.Annotations)
		}
		rss, err := cs.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(rss.Items) != 2 {
			t.Fatalf("want the two replica sets reused, got %d (%v)", len(rss.Items), err)
		}
	})

	t.Run("recreate never overlaps old and new pods", func(t *testing.T) {
		ns := "recreate"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		d := newDeployment("db", 3, "postgres:16")
		d.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first rollout", rolledOut(cs, ns, "db"))
		obs := observe(t, cs, ns, func(o *observer) string {
			hashes := map[string]int{}
			for _, p := range o.pods { // terminating pods included
				hashes[p.Labels[appsv1.DefaultDeploymentUniqueLabelKey]]++
			}
			if len(hashes) > 1 {
				return fmt.Sprintf("pods of several templates at once: %v", hashes)
			}
			return ""
		})
		eventually(t, "observer synced", func(context.Context) (string, error) {
			obs.mu.Lock()
			defer obs.mu.Unlock()
			if len(obs.pods) != 3 {
				return fmt.Sprintf("observer sees %d pods", len(obs.pods)), nil
			}
			return "", nil
		})
		obs.arm()
		updateDeployment(t, cs, ns, "db", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "postgres:17" })
		eventually(t, "second rollout", rolledOut(cs, ns, "db"))
		faults, _ := obs.disarm()
		if len(faults) > 0 {
			t.Fatalf("%d faults, first: %s", len(faults), faults[0])
		}
		eventually(t, "new image", func(ctx context.Context) (string, error) {
			imgs, err := images(ctx, cs, ns, "app=db")
			if err != nil || (len(imgs) == 1 && imgs["postgres:17"] == 3) {
				return "", err
			}
			return fmt.Sprintf("images %v", imgs), nil
		})
	})

	t.Run("revision history limit", func(t *testing.T) {
		ns := "history"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		d := newDeployment("api", 2, "api:1")
		limit := int32(2)
		d.Spec.RevisionHistoryLimit = &limit
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "rollout 1", rolledOut(cs, ns, "api"))
		for v := 2; v <= 5; v++ {
			updateDeployment(t, cs, ns, "api", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = fmt.Sprintf("api:%d", v) })
			eventually(t, fmt.Sprintf("rollout %d", v), rolledOut(cs, ns, "api"))
		}
		eventually(t, "old replica sets cleaned up", func(ctx context.Context) (string, error) {
			rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			var revs []string
			for _, rs := range rss.Items {
				revs = append(revs, rs.Annotations[deployment.RevisionAnnotation])
			}
			sort.Strings(revs)
			if strings.Join(revs, ",") != "3,4,5" {
				return fmt.Sprintf("revisions %v, want the current one and the 2 before it", revs), nil
			}
			return "", nil
		})
	})

	t.Run("pause, resume and restart", func(t *testing.T) {
		ns := "pause"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("cache", 2, "redis:7"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first rollout", rolledOut(cs, ns, "cache"))
		mustKubectl(t, c, "-n", ns, "rollout", "pause", "deployment/cache")
		mustKubectl(t, c, "-n", ns, "set", "image", "deployment/cache", "app=redis:8")
		// Scaling still works while paused.
		mustKubectl(t, c, "-n", ns, "scale", "deployment/cache", "--replicas=3")
		eventually(t, "paused change observed", func(ctx context.Context) (string, error) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "cache", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if d.Status.ObservedGeneration != d.Generation || d.Status.Replicas != 3 || d.Status.AvailableReplicas != 3 {
				return fmt.Sprintf("generation %d status %+v", d.Generation, d.Status), nil
			}
			if c := condition(d, appsv1.DeploymentProgressing); c == nil || c.Status != corev1.ConditionUnknown || c.Reason != "DeploymentPaused" {
				return fmt.Sprintf("Progressing condition %+v", c), nil
			}
			if d.Status.UpdatedReplicas != 0 {
				return fmt.Sprintf("updatedReplicas %d while paused with a new template", d.Status.UpdatedReplicas), nil
			}
			return "", nil
		})
		rss, err := cs.AppsV1().ReplicaSets(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(rss.Items) != 1 {
			t.Fatalf("a paused deployment made a new replica set: %d (%v)", len(rss.Items), err)
		}
		imgs, err := images(t.Context(), cs, ns, "app=cache")
		if err != nil || imgs["redis:7"] != 3 || len(imgs) != 1 {
			t.Fatalf("images while paused: %v %v", imgs, err)
		}

		mustKubectl(t, c, "-n", ns, "rollout", "resume", "deployment/cache")
		mustKubectl(t, c, "-n", ns, "rollout", "status", "deployment/cache", "--timeout=90s")
		eventually(t, "resumed rollout", rolledOut(cs, ns, "cache"))
		eventually(t, "resumed rollout", func(ctx context.Context) (string, error) {
			imgs, err := images(ctx, cs, ns, "app=cache")
			if err != nil || (len(imgs) == 1 && imgs["redis:8"] == 3) {
				return "", err
			}
			return fmt.Sprintf("images %v", imgs), nil
		})

		mustKubectl(t, c, "-n", ns, "rollout", "restart", "deployment/cache")
		mustKubectl(t, c, "-n", ns, "rollout", "status", "deployment/cache", "--timeout=90s")
		eventually(t, "restarted", func(ctx context.Context) (string, error) {
			if msg, err := rolledOut(cs, ns, "cache")(ctx); msg != "" || err != nil {
				return msg, err
			}
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=cache"})
			if err != nil {
				return "", err
			}
			n := 0
			for _, p := range pods.Items {
				if p.DeletionTimestamp == nil && p.Annotations["kubectl.kubernetes.io/restartedAt"] != "" {
					n++
				}
			}
			if n != 3 {
				return fmt.Sprintf("%d restarted pods", n), nil
			}
			return "", nil
		})
		d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "cache", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if d.Annotations[deployment.RevisionAnnotation] != "3" {
			t.Fatalf("revision %q after update and restart, want 3", d.Annotations[deployment.RevisionAnnotation])
		}
	})

	t.Run("progress deadline exceeded", func(t *testing.T) {
		ns := "deadline"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns, Ready: func(p *corev1.Pod) bool {
			return p.Spec.Containers[0].Image != "broken"
		}})
		d := newDeployment("svc", 2, "good")
		deadline := int32(2)
		d.Spec.ProgressDeadlineSeconds = &deadline
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first rollout", rolledOut(cs, ns, "svc"))
		updateDeployment(t, cs, ns, "svc", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "broken" })
		eventually(t, "deadline exceeded", func(ctx context.Context) (string, error) {
			d, err := cs.AppsV1().Deployments(ns).Get(ctx, "svc", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			c := condition(d, appsv1.DeploymentProgressing)
			if c == nil || c.Status != corev1.ConditionFalse || c.Reason != "ProgressDeadlineExceeded" {
				return fmt.Sprintf("Progressing condition %+v", c), nil
			}
			if a := condition(d, appsv1.DeploymentAvailable); a == nil || a.Status != corev1.ConditionTrue {
				return fmt.Sprintf("Available condition %+v: the old pods still serve", a), nil
			}
			if d.Status.UnavailableReplicas == 0 || d.Status.UpdatedReplicas == 0 {
				return fmt.Sprintf("status %+v", d.Status), nil
			}
			return "", nil
		})
		_, err := kubectl(t, c, "-n", ns, "rollout", "status", "deployment/svc", "--timeout=30s")
		if err == nil || !strings.Contains(err.Error(), "exceeded its progress deadline") {
			t.Fatalf("kubectl rollout status = %v, want the progress deadline error", err)
		}
	})

	t.Run("scaling in the middle of a rollout is proportional", func(t *testing.T) {
		ns := "proportional"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns, Ready: func(p *corev1.Pod) bool {
			return p.Spec.Containers[0].Image != "stuck"
		}})
		d := newDeployment("app", 10, "ok")
		surge, unavailable := intstr.FromInt32(3), intstr.FromInt32(2)
		d.Spec.Strategy.RollingUpdate = &appsv1.RollingUpdateDeployment{MaxSurge: &surge, MaxUnavailable: &unavailable}
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), d, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first rollout", rolledOut(cs, ns, "app"))
		// The new pods never become ready: the rollout stops at 8 old + 5 new.
		updateDeployment(t, cs, ns, "app", func(d *appsv1.Deployment) { d.Spec.Template.Spec.Containers[0].Image = "stuck" })
		sizes := func(want string) func(ctx context.Context) (string, error) {
			return func(ctx context.Context) (string, error) {
				rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
				if err != nil {
					return "", err
				}
				got := map[string]int32{}
				for _, rs := range rss.Items {
					got[rs.Spec.Template.Spec.Containers[0].Image] = *rs.Spec.Replicas
				}
				if s := fmt.Sprintf("ok=%d stuck=%d", got["ok"], got["stuck"]); s != want {
					return s, nil
				}
				return "", nil
			}
		}
		eventually(t, "rollout stuck", sizes("ok=8 stuck=5"))
		// 10 → 20 replicas: max 13 → 23, split 8:5 as 14:9 (rounded,
		// leftovers to the largest).
		mustKubectl(t, c, "-n", ns, "scale", "deployment/app", "--replicas=20")
		eventually(t, "scaled in proportion", sizes("ok=14 stuck=9"))
	})
	t.Run("orphaned replica sets are adopted; foreground deletion removes everything", func(t *testing.T) {
		ns := "adopt"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("front", 3, "front:1"), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "first rollout", rolledOut(cs, ns, "front"))
		mustKubectl(t, c, "-n", ns, "delete", "deployment/front", "--cascade=orphan")
		var orphan appsv1.ReplicaSet
		eventually(t, "replica set orphaned", func(ctx context.Context) (string, error) {
			if _, err := cs.AppsV1().Deployments(ns).Get(ctx, "front", metav1.GetOptions{}); err == nil {
				return "deployment still there", nil
			}
			rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			if len(rss.Items) != 1 || len(rss.Items[0].OwnerReferences) != 0 {
				return fmt.Sprintf("%d replica sets", len(rss.Items)), nil
			}
			orphan = rss.Items[0]
			return "", nil
		})
		created, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("front", 3, "front:1"), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "adopted", func(ctx context.Context) (string, error) {
			if msg, err := rolledOut(cs, ns, "front")(ctx); msg != "" || err != nil {
				return msg, err
			}
			rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			if len(rss.Items) != 1 || rss.Items[0].UID != orphan.UID {
				return fmt.Sprintf("%d replica sets", len(rss.Items)), nil
			}
			ref := metav1.GetControllerOf(&rss.Items[0])
			if ref == nil || ref.UID != created.UID || ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
				return fmt.Sprintf("controller %+v", ref), nil
			}
			return "", nil
		})

		mustKubectl(t, c, "-n", ns, "delete", "deployment/front", "--cascade=foreground", "--wait=false")
		eventually(t, "all gone", func(ctx context.Context) (string, error) {
			_, derr := cs.AppsV1().Deployments(ns).Get(ctx, "front", metav1.GetOptions{})
			rss, err := cs.AppsV1().ReplicaSets(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			pods, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			if derr == nil || len(rss.Items) > 0 || len(pods.Items) > 0 {
				return fmt.Sprintf("deployment %v, %d replica sets, %d pods", derr, len(rss.Items), len(pods.Items)), nil
			}
			return "", nil
		})
	})
}
