package daemonset_test

import (
	"context"
	"fmt"
	"slices"
	"sort"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/controller/daemonset"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd without the built-in
// controllers; the test runs the DaemonSet controller, and a PodStub plays
// scheduler and agents (binding each daemon pod to the node its
// metadata.name affinity names, reporting it ready).

func startController(t *testing.T, c *testcluster.Cluster) {
	t.Helper()
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctrl, err := daemonset.New(daemonset.DefaultConfig(), c.Client, factory, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })
}

func createNode(t *testing.T, cs kubernetes.Interface, name string, labels map[string]string, taints ...corev1.Taint) {
	t.Helper()
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), n, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func patchNode(t *testing.T, cs kubernetes.Interface, name, patch string) {
	t.Helper()
	if _, err := cs.CoreV1().Nodes().Patch(t.Context(), name, types.MergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func newDS(name string, selector map[string]string) *appsv1.DaemonSet {
	labels := map[string]string{"app": name}
	return &appsv1.DaemonSet{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DaemonSetSpec{
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec: corev1.PodSpec{
					NodeSelector: selector,
					Containers:   []corev1.Container{{Name: "agent", Image: "agent:v1"}},
				},
			},
		},
	}
}

// podsByNode returns the live pods of the DaemonSet by node.
func podsByNode(ctx context.Context, cs kubernetes.Interface, ns, app string) (map[string][]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: "app=" + app})
	if err != nil {
		return nil, err
	}
	out := map[string][]corev1.Pod{}
	for _, p := range list.Items {
		if p.DeletionTimestamp == nil {
			out[p.Spec.NodeName] = append(out[p.Spec.NodeName], p)
		}
	}
	return out, nil
}

// onNodes waits until the DaemonSet runs exactly one ready pod on each of
// nodes (and none elsewhere), with image, and a status saying so.
func onNodes(t *testing.T, cs kubernetes.Interface, ns, name, image string, nodes ...string) {
	t.Helper()
	sort.Strings(nodes)
	eventually(t, fmt.Sprintf("%s on %v", name, nodes), func(ctx context.Context) (string, error) {
		m, err := podsByNode(ctx, cs, ns, name)
		if err != nil {
			return "", err
		}
		var got []string
		for n, ps := range m {
			if len(ps) != 1 || ps[0].Status.Phase != corev1.PodRunning || ps[0].Spec.Containers[0].Image != image {
				return fmt.Sprintf("node %q: %d pods", n, len(ps)), nil
			}
			got = append(got, n)
		}
		sort.Strings(got)
		if !slices.Equal(got, nodes) {
			return fmt.Sprintf("pods on %v", got), nil
		}
		ds, err := cs.AppsV1().DaemonSets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		s, n := ds.Status, int32(len(nodes))
		if s.DesiredNumberScheduled != n || s.CurrentNumberScheduled != n || s.NumberReady != n || s.NumberAvailable != n ||
			s.UpdatedNumberScheduled != n || s.NumberMisscheduled != 0 || s.NumberUnavailable != 0 || s.ObservedGeneration != ds.Generation {
			return fmt.Sprintf("status %+v generation %d", s, ds.Generation), nil
		}
		return "", nil
	})
}

func setImage(t *testing.T, cs kubernetes.Interface, ns, name, image string) {
	t.Helper()
	patch := fmt.Sprintf(`{"spec":{"template":{"spec":{"containers":[{"name":"agent","image":%q}]}}}}`, image)
	if _, err := cs.AppsV1().DaemonSets(ns).Patch(t.Context(), name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestScenarioDaemonSet(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	cs := c.Client
	startController(t, c)
	createNode(t, cs, "n1", map[string]string{"role": "web"})
	createNode(t, cs, "n2", map[string]string{"role": "web"})
	createNode(t, cs, "n3", map[string]string{"role": "db"}, corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule})

	t.Run("eligible nodes follow labels, taints and cordons", func(t *testing.T) {
		ns := "placement"
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns})
		if _, err := cs.AppsV1().DaemonSets(ns).Create(t.Context(), newDS("web", map[string]string{"role": "web"}), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		onNodes(t, cs, ns, "web", "agent:v1", "n1", "n2")
		m, err := podsByNode(t.Context(), cs, ns, "web")
		if err != nil {
			t.Fatal(err)
		}
		p := m["n1"][0]
		terms := p.Spec.Affinity.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms
		if len(terms) != 1 || len(terms[0].MatchFields) != 1 || terms[0].MatchFields[0].Key != "metadata.name" || terms[0].MatchFields[0].Values[0] != "n1" {
			t.Errorf("node affinity %+v", terms)
		}
		var tolerated []string
		for _, tol := range p.Spec.Tolerations {
			tolerated = append(tolerated, tol.Key+":"+string(tol.Effect))
		}
		for _, want := range []string{"node.kubernetes.io/not-ready:NoExecute", "node.kubernetes.io/unreachable:NoExecute", "node.kubernetes.io/unschedulable:NoSchedule", "node.kubernetes.io/disk-pressure:NoSchedule"} {
			if !slices.Contains(tolerated, want) {
				t.Errorf("tolerations %v lack %s", tolerated, want)
			}
		}
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == "" || !strings.HasPrefix(p.Name, "web-") {
			t.Errorf("pod %s labels %v", p.Name, p.Labels)
		}
		// n3 matches now but its taint is not tolerated.
		patchNode(t, cs, "n3", `{"metadata":{"labels":{"role":"web"}}}`)
		onNodes(t, cs, ns, "web", "agent:v1", "n1", "n2")
		// Untainted but cordoned: daemon pods tolerate unschedulable.
		patchNode(t, cs, "n3", `{"spec":{"taints":null,"unschedulable":true}}`)
		onNodes(t, cs, ns, "web", "agent:v1", "n1", "n2", "n3")
		// n1 no longer matches: its pod goes.
		patchNode(t, cs, "n1", `{"metadata":{"labels":{"role":"other"}}}`)
		onNodes(t, cs, ns, "web", "agent:v1", "n2", "n3")
		patchNode(t, cs, "n1", `{"metadata":{"labels":{"role":"web"}}}`)
		onNodes(t, cs, ns, "web", "agent:v1", "n1", "n2", "n3")
	})

	t.Run("rolling update, kubectl rollout status, history and undo", func(t *testing.T) {
		ns := "rolling"
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns})
		if _, err := cs.AppsV1().DaemonSets(ns).Create(t.Context(), newDS("node-agent", nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		onNodes(t, cs, ns, "node-agent", "agent:v1", "n1", "n2", "n3")
		if out, err := kubectl(t, c, "-n", ns, "rollout", "status", "ds/node-agent", "--timeout=30s"); err != nil || !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status: %v\n%s", err, out)
		}
		setImage(t, cs, ns, "node-agent", "agent:v2")
		if out, err := kubectl(t, c, "-n", ns, "rollout", "status", "ds/node-agent", "--timeout=30s"); err != nil || !strings.Contains(out, "successfully rolled out") {
			t.Fatalf("rollout status: %v\n%s", err, out)
		}
		onNodes(t, cs, ns, "node-agent", "agent:v2", "n1", "n2", "n3")
		out, err := kubectl(t, c, "-n", ns, "rollout", "history", "ds/node-agent")
		if err != nil {
			t.Fatal(err)
		}
		lines := strings.Fields(out)
		if !slices.Contains(lines, "1") || !slices.Contains(lines, "2") {
			t.Errorf("history:\n%s", out)
		}
		if out, err := kubectl(t, c, "-n", ns, "rollout", "undo", "ds/node-agent"); err != nil {
			t.Fatalf("undo: %v\n%s", err, out)
		}
		onNodes(t, cs, ns, "node-agent", "agent:v1", "n1", "n2", "n3")
		revs, err := cs.AppsV1().ControllerRevisions(ns).List(t.Context(), metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		var numbers []int64
		for _, r := range revs.Items {
			numbers = append(numbers, r.Revision)
		}
		slices.Sort(numbers)
		if !slices.Equal(numbers, []int64{2, 3}) { // v1 became revision 3
			t.Errorf("revisions %v, want [2 3]", numbers)
		}
	})

	t.Run("surge keeps every node served", func(t *testing.T) {
		ns := "surge"
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns})
		ds := newDS("proxy", nil)
		one, zero := intstr.FromInt32(1), intstr.FromInt32(0)
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &one, MaxUnavailable: &zero}}
		if _, err := cs.AppsV1().DaemonSets(ns).Create(t.Context(), ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		onNodes(t, cs, ns, "proxy", "agent:v1", "n1", "n2", "n3")
		// Watch every pod event: no node may be without a ready pod.
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		initial, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			t.Fatal(err)
		}
		state := map[string]corev1.Pod{}
		for _, p := range initial.Items {
			state[p.Name] = p
		}
		w, err := cs.CoreV1().Pods(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: initial.ResourceVersion})
		if err != nil {
			t.Fatal(err)
		}
		violations := make(chan string, 100)
		go func() {
			for ev := range w.ResultChan() {
				p, ok := ev.Object.(*corev1.Pod)
				if !ok {
					continue
				}
				if ev.Type == "DELETED" || p.DeletionTimestamp != nil {
					delete(state, p.Name)
				} else {
					state[p.Name] = *p
				}
				ready := map[string]bool{}
				for _, q := range state {
					for _, cond := range q.Status.Conditions {
						if cond.Type == corev1.PodReady && cond.Status == corev1.ConditionTrue {
							ready[q.Spec.NodeName] = true
						}
					}
				}
				if len(ready) < 3 {
					select {
					case violations <- fmt.Sprintf("ready nodes %v", ready):
					default:
					}
				}
			}
		}()
		setImage(t, cs, ns, "proxy", "agent:v2")
		onNodes(t, cs, ns, "proxy", "agent:v2", "n1", "n2", "n3")
		cancel()
		select {
		case v := <-violations:
			t.Errorf("a node lost its daemon during a surge rollout: %s", v)
		default:
		}
	})

	t.Run("OnDelete replaces only deleted pods", func(t *testing.T) {
		ns := "ondelete"
		if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c.StartPodStub(t, testcluster.PodStubOptions{Namespace: ns})
		ds := newDS("manual", nil)
		ds.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.OnDeleteDaemonSetStrategyType}
		if _, err := cs.AppsV1().DaemonSets(ns).Create(t.Context(), ds, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		onNodes(t, cs, ns, "manual", "agent:v1", "n1", "n2", "n3")
		setImage(t, cs, ns, "manual", "agent:v2")
		eventually(t, "status observes the new template", func(ctx context.Context) (string, error) {
			d, err := cs.AppsV1().DaemonSets(ns).Get(ctx, "manual", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if d.Status.ObservedGeneration != d.Generation || d.Status.UpdatedNumberScheduled != 0 || d.Status.NumberAvailable != 3 {
				return fmt.Sprintf("status %+v", d.Status), nil
			}
			return "", nil
		})
		m, err := podsByNode(t.Context(), cs, ns, "manual")
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Pods(ns).Delete(t.Context(), m["n2"][0].Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "n2 replaced with v2, others kept", func(ctx context.Context) (string, error) {
			now, err := podsByNode(ctx, cs, ns, "manual")
			if err != nil {
				return "", err
			}
			if len(now["n2"]) != 1 || now["n2"][0].Spec.Containers[0].Image != "agent:v2" {
				return "n2 not replaced yet", nil
			}
			for _, n := range []string{"n1", "n3"} {
				if len(now[n]) != 1 || now[n][0].UID != m[n][0].UID {
					return n + " pod changed", nil
				}
			}
			return "", nil
		})
	})
}
