package statefulset_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/controller/statefulset"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd without the built-in
// controllers; the test runs the StatefulSet controller, and a PodStub
// binds pods to a node and reports them ready.

func startController(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctrl, err := statefulset.New(statefulset.DefaultConfig(), c.Client, factory, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
}

func createNamespace(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newSet(name string, replicas int32) *appsv1.StatefulSet {
	labels := map[string]string{"app": name}
	return &appsv1.StatefulSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.StatefulSetSpec{
			Replicas:    &replicas,
			ServiceName: name,
			Selector:    &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "db", Image: "db:v1"}}},
			},
		},
	}
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// watcher keeps the pods of a namespace from a watch and checks check on
// every event.
type watcher struct {
	mu     sync.Mutex
	pods   map[string]*corev1.Pod
	faults []string
}

func watchPods(t *testing.T, cs kubernetes.Interface, ns string, check func(ev string, p *corev1.Pod, pods map[string]*corev1.Pod) string) *watcher {
	t.Helper()
	w := &watcher{pods: map[string]*corev1.Pod{}}
	list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	for i := range list.Items {
		w.pods[list.Items[i].Name] = &list.Items[i]
	}
	ctx, cancel := context.WithCancel(context.Background())
	wi, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: list.ResourceVersion})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for ev := range wi.ResultChan() {
			p, ok := ev.Object.(*corev1.Pod)
			if !ok {
				continue
			}
			w.mu.Lock()
			if msg := check(string(ev.Type), p, w.pods); msg != "" {
				w.faults = append(w.faults, msg)
			}
			if ev.Type == "DELETED" {
				delete(w.pods, p.Name)
			} else {
				w.pods[p.Name] = p
			}
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		cancel()
		<-done
		w.mu.Lock()
		defer w.mu.Unlock()
		for _, f := range w.faults {
			t.Error(f)
		}
	})
	return w
}

// converged waits until the set has pods <name>-0..replicas-1 (and no
// other), all ready with image, and a status saying so.
func converged(t *testing.T, cs kubernetes.Interface, ns, name, image string, replicas int) *appsv1.StatefulSet {
	t.Helper()
	var set *appsv1.StatefulSet
	eventually(t, fmt.Sprintf("%s at %d × %s", name, replicas, image), func(ctx context.Context) (string, error) {
		list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + name})
		if err != nil {
			return "", err
		}
		if len(list.Items) != replicas {
			return fmt.Sprintf("%d pods", len(list.Items)), nil
		}
		for _, p := range list.Items {
			if p.DeletionTimestamp != nil || !podReady(&p) || p.Spec.Containers[0].Image != image {
				return fmt.Sprintf("pod %s not ready at %s", p.Name, image), nil
			}
		}
		set, err = cs.AppsV1().StatefulSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		s, n := set.Status, int32(replicas)
		if s.Replicas != n || s.ReadyReplicas != n || s.AvailableReplicas != n || s.UpdatedReplicas != n || s.CurrentReplicas != n ||
			s.CurrentRevision != s.UpdateRevision || s.ObservedGeneration != set.Generation {
			return fmt.Sprintf("status %+v", s), nil
		}
		return "", nil
	})
	return set
}

func ordinal(name string) int {
	i := strings.LastIndex(name, "-")
	var n int
	fmt.Sscanf(name[i+1:], "%d", &n)
	return n
}

func TestScenarioStatefulSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	cs := c.Client
	startController(t, c)
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "n1"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	t.Run("ordered ready: create in order, claims, identity, scale down in reverse, partitioned update, undo", func(t *testing.T) {
		ns := "ordered"
		createNamespace(t, cs, ns)
		c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns, DefaultNode: "n1"})
		// Invariants on every event: web-k is created only once web-0..k-1
		// are ready; web-k goes only once web-k+1.. are gone.
		watchPods(t, cs, ns, func(ev string, p *corev1.Pod, pods map[string]*corev1.Pod) string {
			k := ordinal(p.Name)
			switch {
			case ev == "ADDED":
				for j := 0; j < k; j++ {
					q := pods[fmt.Sprintf("web-%d", j)]
					if q == nil || !podReady(q) || q.DeletionTimestamp != nil {
						return fmt.Sprintf("%s created while web-%d not ready", p.Name, j)
					}
				}
			case p.DeletionTimestamp != nil && pods[p.Name] != nil && pods[p.Name].DeletionTimestamp == nil:
				for name := range pods {
					if ordinal(name) > k && !strings.Contains(p.Spec.Containers[0].Image, "v2") && pods[name].Spec.Containers[0].Image == p.Spec.Containers[0].Image {
						return fmt.Sprintf("%s deleted while %s exists", p.Name, name)
					}
				}
			}
			return ""
		})
		set := newSet("web", 3)
		set.Spec.VolumeClaimTemplates = []corev1.PersistentVolumeClaim{{
			ObjectMeta: metav1.ObjectMeta{Name: "data"},
			Spec: corev1.PersistentVolumeClaimSpec{
				AccessModes: []corev1.PersistentVolumeAccessMode{corev1.ReadWriteOnce},
				Resources:   corev1.VolumeResourceRequirements{Requests: corev1.ResourceList{corev1.ResourceStorage: resource.MustParse("1Gi")}},
			},
		}}
		set.Spec.PersistentVolumeClaimRetentionPolicy = &appsv1.StatefulSetPersistentVolumeClaimRetentionPolicy{
			WhenDeleted: appsv1.DeletePersistentVolumeClaimRetentionPolicyType, WhenScaled: appsv1.RetainPersistentVolumeClaimRetentionPolicyType,
		}
		created, err := cs.AppsV1().StatefulSets(ns).Create(t.Context(), set, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		got := converged(t, cs, ns, "web", "db:v1", 3)
		for i := range 3 {
			name := fmt.Sprintf("web-%d", i)
			p, err := cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if p.Spec.Hostname != name || p.Spec.Subdomain != "web" || p.Labels[appsv1.StatefulSetPodNameLabel] != name ||
				p.Labels[appsv1.ControllerRevisionHashLabelKey] != got.Status.UpdateRevision || p.Labels[appsv1.PodIndexLabel] != fmt.Sprint(i) {
				t.Errorf("pod %s: hostname %q subdomain %q labels %v", name, p.Spec.Hostname, p.Spec.Subdomain, p.Labels)
			}
			claim := fmt.Sprintf("data-web-%d", i)
			if len(p.Spec.Volumes) == 0 || p.Spec.Volumes[len(p.Spec.Volumes)-1].PersistentVolumeClaim == nil ||
				p.Spec.Volumes[len(p.Spec.Volumes)-1].PersistentVolumeClaim.ClaimName != claim {
				t.Errorf("pod %s volumes %+v", name, p.Spec.Volumes)
			}
			pvc, err := cs.CoreV1().PersistentVolumeClaims(ns).Get(t.Context(), claim, metav1.GetOptions{})
			if err != nil {
				t.Fatalf("claim %s: %v", claim, err)
			}
			if pvc.Labels["app"] != "web" || len(pvc.OwnerReferences) != 1 || pvc.OwnerReferences[0].UID != created.UID {
				t.Errorf("claim %s labels %v owners %+v", claim, pvc.Labels, pvc.OwnerReferences)
			}
		}
		if !strings.HasPrefix(got.Status.UpdateRevision, "web-") {
			t.Errorf("revision name %q", got.Status.UpdateRevision)
		}

		// Scale down in reverse order.
		if _, err := cs.AppsV1().StatefulSets(ns).Patch(t.Context(), "web", types.MergePatchType, []byte(`{"spec":{"replicas":1}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		converged(t, cs, ns, "web", "db:v1", 1)
		if _, err := cs.AppsV1().StatefulSets(ns).Patch(t.Context(), "web", types.MergePatchType, []byte(`{"spec":{"replicas":3}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		v1 := converged(t, cs, ns, "web", "db:v1", 3)

		// Partitioned update: ordinals ≥ 1 move to v2, highest first.
		patch := `{"spec":{"updateStrategy":{"rollingUpdate":{"partition":1}},"template":{"spec":{"containers":[{"name":"db","image":"db:v2"}]}}}}`
		if _, err := cs.AppsV1().StatefulSets(ns).Patch(t.Context(), "web", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, err := kubectl(t, c, "-n", ns, "rollout", "status", "sts/web", "--timeout=30s"); err != nil || !strings.Contains(out, "partitioned roll out complete") {
			t.Fatalf("rollout status: %v\n%s", err, out)
		}
		eventually(t, "web-1 and web-2 at v2, web-0 at v1", func(ctx context.Context) (string, error) {
			for i, want := range []string{"db:v1", "db:v2", "db:v2"} {
				p, err := cs.CoreV1().Pods(ns).Get(ctx, fmt.Sprintf("web-%d", i), metav1.GetOptions{})
				if err != nil || p.Spec.Containers[0].Image != want || !podReady(p) {
					return fmt.Sprintf("web-%d: %v", i, err), nil
				}
			}
			s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if s.Status.UpdatedReplicas != 2 || s.Status.CurrentReplicas != 1 || s.Status.CurrentRevision != v1.Status.CurrentRevision || s.Status.UpdateRevision == s.Status.CurrentRevision {
				return fmt.Sprintf("status %+v", s.Status), nil
			}
			return "", nil
		})
		if _, err := cs.AppsV1().StatefulSets(ns).Patch(t.Context(), "web", types.MergePatchType, []byte(`{"spec":{"updateStrategy":{"rollingUpdate":{"partition":0}}}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		converged(t, cs, ns, "web", "db:v2", 3)
		out, err := kubectl(t, c, "-n", ns, "rollout", "history", "sts/web")
		if err != nil || !strings.Contains(out, "1 ") || !strings.Contains(out, "2 ") {
			t.Errorf("history: %v\n%s", err, out)
		}
		if out, err := kubectl(t, c, "-n", ns, "rollout", "undo", "sts/web"); err != nil {
			t.Fatalf("undo: %v\n%s", err, out)
		}
		back := converged(t, cs, ns, "web", "db:v1", 3)
		if back.Status.UpdateRevision != v1.Status.UpdateRevision {
			t.Errorf("undo made revision %s, want the v1 revision %s back", back.Status.UpdateRevision, v1.Status.UpdateRevision)
		}
	})

	t.Run("parallel creates without waiting", func(t *testing.T) {
		ns := "parallel"
		createNamespace(t, cs, ns)
		c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns, DefaultNode: "n1", Ready: func(*corev1.Pod) bool { return false }})
		set := newSet("cache", 3)
		set.Spec.PodManagementPolicy = appsv1.ParallelPodManagement
		if _, err := cs.AppsV1().StatefulSets(ns).Create(t.Context(), set, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "three pods, none ready", func(ctx context.Context) (string, error) {
			list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			if len(list.Items) != 3 {
				return fmt.Sprintf("%d pods", len(list.Items)), nil
			}
			s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "cache", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if s.Status.Replicas != 3 || s.Status.ReadyReplicas != 0 {
				return fmt.Sprintf("status %+v", s.Status), nil
			}
			return "", nil
		})
	})

	t.Run("ordered ready waits for an unready pod", func(t *testing.T) {
		ns := "waiting"
		createNamespace(t, cs, ns)
		var mu sync.Mutex
		allow := false
		stub := c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns, DefaultNode: "n1", Ready: func(*corev1.Pod) bool {
			mu.Lock()
			defer mu.Unlock()
			return allow
		}})
		if _, err := cs.AppsV1().StatefulSets(ns).Create(t.Context(), newSet("slow", 2), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "slow-0 created and bound", func(ctx context.Context) (string, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "slow-0", metav1.GetOptions{})
			if err != nil || p.Spec.NodeName == "" {
				return fmt.Sprintf("slow-0: %v", err), nil
			}
			s, err := cs.AppsV1().StatefulSets(ns).Get(ctx, "slow", metav1.GetOptions{})
			if err != nil || s.Status.Replicas != 1 {
				return fmt.Sprintf("status %v %v", s, err), nil
			}
			return "", nil
		})
		list, err := cs.CoreV1().Pods(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil || len(list.Items) != 1 {
			t.Fatalf("pods before slow-0 is ready: %d %v", len(list.Items), err)
		}
		mu.Lock()
		allow = true
		mu.Unlock()
		stub.Requeue()
		converged(t, cs, ns, "slow", "db:v1", 2)
	})
}
