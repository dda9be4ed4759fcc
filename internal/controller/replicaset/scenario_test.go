package replicaset_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd with the controllers
// running, driven through client-go; a stub agent binds pods and reports
// them ready.

const scenarioTimeout = 60 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newRS(name string, replicas int32, labels map[string]string) *appsv1.ReplicaSet {
	return &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			},
		},
	}
}

// activePods lists the pods of ns that are not being deleted.
func activePods(ctx context.Context, cs kubernetes.Interface, ns, selector string) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: selector})
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out = append(out, p)
		}
	}
	return out, nil
}

// converged checks that rs has exactly want active pods, all owned by it,
// and a status saying so.
func converged(cs kubernetes.Interface, ns, name string, want int32) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		pods, err := activePods(ctx, cs, ns, metav1.FormatLabelSelector(rs.Spec.Selector))
		if err != nil {
			return "", err
		}
		owned := 0
		for _, p := range pods {
			ref := metav1.GetControllerOf(&p)
			if ref == nil || ref.UID != rs.UID {
				return fmt.Sprintf("pod %s has controller %v", p.Name, ref), nil
			}
			if ref.BlockOwnerDeletion == nil || !*ref.BlockOwnerDeletion {
				return fmt.Sprintf("pod %s: controller reference without blockOwnerDeletion", p.Name), nil
			}
			owned++
		}
		s := rs.Status
		if int32(owned) != want || s.Replicas != want || s.ReadyReplicas != want || s.AvailableReplicas != want ||
			s.FullyLabeledReplicas != want || s.ObservedGeneration != rs.Generation {
			return fmt.Sprintf("%d pods; status %+v (generation %d), want %d", owned, s, rs.Generation, want), nil
		}
		return "", nil
	}
}

// setScale scales through the scale subresource without a resourceVersion
// precondition, as kubectl scale does.
func setScale(t *testing.T, cs kubernetes.Interface, ns, name string, replicas int32) {
	t.Helper()
	scale := &autoscalingv1.Scale{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}, Spec: autoscalingv1.ScaleSpec{Replicas: replicas}}
	if _, err := cs.AppsV1().ReplicaSets(ns).UpdateScale(t.Context(), name, scale, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestScenarioReplicaSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client

	t.Run("creates, replaces and deletes pods to match replicas", func(t *testing.T) {
		ns := "rs-scale"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		labels := map[string]string{"app": "web"}
		rs, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), newRS("web", 5, labels), metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "5 replicas", converged(cs, ns, "web", 5))

		pods, err := activePods(t.Context(), cs, ns, "app=web")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods {
			if !strings.HasPrefix(p.Name, "web-") || len(p.Name) != len("web-")+5 {
				t.Errorf("pod name %q, want web-xxxxx", p.Name)
			}
		}
		// A deleted pod is replaced.
		victim := pods[0].Name
		if err := cs.CoreV1().Pods(ns).Delete(t.Context(), victim, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "replacement", func(ctx context.Context) (string, error) {
			pods, err := activePods(ctx, cs, ns, "app=web")
			if err != nil {
				return "", err
			}
			for _, p := range pods {
				if p.Name == victim {
					return "victim still active", nil
				}
			}
			return converged(cs, ns, "web", 5)(ctx)
		})

		// Scale through the scale subresource, as kubectl scale does.
		setScale(t, cs, ns, "web", 2)
		eventually(t, "scaled down to 2", converged(cs, ns, "web", 2))
		got, err := cs.AppsV1().ReplicaSets(ns).Get(t.Context(), "web", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if got.Status.ObservedGeneration <= rs.Generation {
			t.Errorf("observedGeneration %d after a scale, want > %d", got.Status.ObservedGeneration, rs.Generation)
		}

		setScale(t, cs, ns, "web", 7)
		eventually(t, "scaled up to 7", converged(cs, ns, "web", 7))
	})

	t.Run("adopts orphans and releases pods that stop matching", func(t *testing.T) {
		ns := "rs-adopt"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		labels := map[string]string{"app": "db"}
		for i := range 2 {
			_, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
				ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("orphan-%d", i), Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "postgres"}}},
			}, metav1.CreateOptions{})
			if err != nil {
				t.Fatal(err)
			}
		}
		if _, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), newRS("db", 3, labels), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "orphans adopted, one pod created", converged(cs, ns, "db", 3))
		for i := range 2 {
			p, err := cs.CoreV1().Pods(ns).Get(t.Context(), fmt.Sprintf("orphan-%d", i), metav1.GetOptions{})
			if err != nil {
				t.Fatalf("orphan %d deleted instead of adopted: %v", i, err)
			}
			if ref := metav1.GetControllerOf(p); ref == nil || ref.Kind != "ReplicaSet" || ref.Name != "db" {
				t.Fatalf("orphan %d has controller %v", i, ref)
			}
		}

		// Relabelling a pod out of the selector releases it and a
		// replacement is created.
		p, err := cs.CoreV1().Pods(ns).Get(t.Context(), "orphan-0", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p.Labels = map[string]string{"app": "debug"}
		if _, err := cs.CoreV1().Pods(ns).Update(t.Context(), p, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "released", func(ctx context.Context) (string, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "orphan-0", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if ref := metav1.GetControllerOf(p); ref != nil {
				return fmt.Sprintf("still controlled by %s", ref.Name), nil
			}
			return converged(cs, ns, "db", 3)(ctx)
		})
	})

	t.Run("minReadySeconds delays availability", func(t *testing.T) {
		ns := "rs-minready"
		createNamespace(t, cs, ns)
		labels := map[string]string{"app": "slow"}
		rs := newRS("slow", 2, labels)
		rs.Spec.MinReadySeconds = 2
		created, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), rs, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// No agent yet: pods exist but are neither ready nor available.
		eventually(t, "pods created", func(ctx context.Context) (string, error) {
			got, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "slow", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if got.Status.Replicas != 2 || got.Status.ReadyReplicas != 0 || got.Status.AvailableReplicas != 0 {
				return fmt.Sprintf("status %+v", got.Status), nil
			}
			return "", nil
		})
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		readyAt := time.Now()
		eventually(t, "ready", func(ctx context.Context) (string, error) {
			got, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "slow", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if got.Status.ReadyReplicas != 2 {
				return fmt.Sprintf("status %+v", got.Status), nil
			}
			if got.Status.AvailableReplicas == 2 && time.Since(readyAt) < time.Second {
				return "", fmt.Errorf("available %v after ready, before minReadySeconds", time.Since(readyAt))
			}
			return "", nil
		})
		eventually(t, "available after minReadySeconds", converged(cs, ns, "slow", 2))
		if created.Generation != 1 {
			t.Fatalf("generation %d", created.Generation)
		}
	})
	t.Run("terminating pods do not count", func(t *testing.T) {
		ns := "rs-terminating"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		labels := map[string]string{"app": "held"}
		rs := newRS("held", 2, labels)
		// The finalizer keeps a deleted pod terminating after the agent is done.
		rs.Spec.Template.Finalizers = []string{"example.com/hold"}
		if _, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), rs, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "2 replicas", converged(cs, ns, "held", 2))
		pods, err := activePods(t.Context(), cs, ns, "app=held")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Pods(ns).Delete(t.Context(), pods[0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "replacement while the old pod terminates", func(ctx context.Context) (string, error) {
			if msg, err := converged(cs, ns, "held", 2)(ctx); msg != "" || err != nil {
				return msg, err
			}
			got, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "held", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if got.Status.TerminatingReplicas == nil || *got.Status.TerminatingReplicas != 1 {
				return fmt.Sprintf("terminatingReplicas %v", got.Status.TerminatingReplicas), nil
			}
			return "", nil
		})
	})
	t.Run("never more pods than replicas while scaling up", func(t *testing.T) {
		ns := "rs-burst"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		const replicas = 40
		var (
			mu      sync.Mutex
			active  = map[string]bool{}
			maxSeen int
		)
		f := informers.NewSharedInformerFactoryWithOptions(cs, 0, informers.WithNamespace(ns))
		record := func(obj any, gone bool) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			p := obj.(*corev1.Pod)
			mu.Lock()
			defer mu.Unlock()
			if gone || p.DeletionTimestamp != nil {
				delete(active, p.Name)
			} else {
				active[p.Name] = true
			}
			maxSeen = max(maxSeen, len(active))
		}
		if _, err := f.Core().V1().Pods().Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { record(obj, false) },
			UpdateFunc: func(_, obj any) { record(obj, false) },
			DeleteFunc: func(obj any) { record(obj, true) },
		}); err != nil {
			t.Fatal(err)
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		f.Start(ctx.Done())
		f.WaitForCacheSync(ctx.Done())
		if _, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), newRS("burst", replicas, map[string]string{"app": "burst"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "all replicas", converged(cs, ns, "burst", replicas))
		// Churn: delete a third of the pods at once; replacements must not
		// overshoot either.
		pods, err := activePods(t.Context(), cs, ns, "app=burst")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pods[:replicas/3] {
			if err := cs.CoreV1().Pods(ns).Delete(t.Context(), p.Name, metav1.DeleteOptions{}); err != nil {
				t.Fatal(err)
			}
		}
		eventually(t, "replaced", converged(cs, ns, "burst", replicas))
		eventually(t, "observer caught up", func(context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			if len(active) != replicas {
				return fmt.Sprintf("observer sees %d pods", len(active)), nil
			}
			return "", nil
		})
		mu.Lock()
		defer mu.Unlock()
		if maxSeen != replicas {
			t.Fatalf("up to %d active pods existed at once, want exactly %d", maxSeen, replicas)
		}
	})

	t.Run("scale-down removes not-ready, then cheapest pods", func(t *testing.T) {
		ns := "rs-rank"
		createNamespace(t, cs, ns)
		// The first pod the agent looks at never becomes ready; the others
		// become ready only once the test has marked the cheapest one.
		var (
			mu       sync.Mutex
			verdicts = map[string]bool{}
			released bool
		)
		agent := c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns, Ready: func(p *corev1.Pod) bool {
			mu.Lock()
			defer mu.Unlock()
			v, ok := verdicts[p.Name]
			if !ok {
				v = len(verdicts) > 0
				verdicts[p.Name] = v
			}
			return v && released
		}})
		if _, err := cs.AppsV1().ReplicaSets(ns).Create(t.Context(), newRS("rank", 4, map[string]string{"app": "rank"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		var notReady string
		var others []string
		eventually(t, "4 pods looked at", func(ctx context.Context) (string, error) {
			mu.Lock()
			defer mu.Unlock()
			notReady, others = "", nil
			for name, v := range verdicts {
				if v {
					others = append(others, name)
				} else {
					notReady = name
				}
			}
			if len(verdicts) != 4 {
				return fmt.Sprintf("verdicts %v", verdicts), nil
			}
			return "", nil
		})
		// The newest pods go first by default; make another one the cheapest.
		// It is annotated before any pod becomes ready, so once the
		// controller's status counts 3 ready pods its pod cache has seen the
		// annotation too (one watch, in revision order).
		slices.Sort(others)
		cheap := others[0]
		patch := fmt.Sprintf(`{"metadata":{"annotations":{%q:"-100"}}}`, "controller.kubernetes.io/pod-deletion-cost")
		if _, err := cs.CoreV1().Pods(ns).Patch(t.Context(), cheap, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		mu.Lock()
		released = true
		mu.Unlock()
		if err := agent.Requeue(t.Context()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "controller counts 3 ready, 1 not", func(ctx context.Context) (string, error) {
			rs, err := cs.AppsV1().ReplicaSets(ns).Get(ctx, "rank", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if rs.Status.Replicas != 4 || rs.Status.ReadyReplicas != 3 {
				return fmt.Sprintf("status %+v", rs.Status), nil
			}
			return "", nil
		})
		setScale(t, cs, ns, "rank", 2)
		eventually(t, "scaled down", func(ctx context.Context) (string, error) {
			pods, err := activePods(ctx, cs, ns, "app=rank")
			if err != nil {
				return "", err
			}
			var names []string
			for _, p := range pods {
				names = append(names, p.Name)
				if p.Name == notReady || p.Name == cheap {
					if len(pods) == 2 {
						return "", fmt.Errorf("kept %s, deleted others: %v (not ready %s, cheapest %s)", p.Name, names, notReady, cheap)
					}
				}
			}
			if len(pods) != 2 {
				return fmt.Sprintf("pods %v", names), nil
			}
			return "", nil
		})
	})
}
