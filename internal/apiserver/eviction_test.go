package apiserver_test

import (
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
)

// Eviction against PodDisruptionBudgets whose status the test writes (no
// disruption controller runs in startCluster).

// runningPod creates a pod of ns with labels app=<app>, bound to node (""
// leaves it unbound, so a delete is immediate) and reported Running, Ready
// when ready.
func runningPod(t *testing.T, cs kubernetes.Interface, ns, name, app, node string, ready bool) *corev1.Pod {
	t.Helper()
	p := testPod(metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}})
	p.Spec.NodeName = node
	p = must[*corev1.Pod](t)(cs.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{}))
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Phase = corev1.PodRunning
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	return must[*corev1.Pod](t)(cs.CoreV1().Pods(ns).UpdateStatus(ctx(t), p, metav1.UpdateOptions{}))
}

// budget creates a PDB selecting app=<app> and sets its status as a
// disruption controller would have computed it; mutate, if set, is applied
// before the create (spec) and before the status write (status).
func budget(t *testing.T, cs kubernetes.Interface, ns, name, app string, allowed, current, desired int32, mutate func(*policyv1.PodDisruptionBudget)) *policyv1.PodDisruptionBudget {
	t.Helper()
	minAvailable := intstr.FromInt32(desired)
	pdb := &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: &minAvailable,
			Selector:     &metav1.LabelSelector{MatchLabels: map[string]string{"app": app}},
		},
	}
	if mutate != nil {
		mutate(pdb) // spec changes
	}
	pdbs := cs.PolicyV1().PodDisruptionBudgets(ns)
	pdb = must[*policyv1.PodDisruptionBudget](t)(pdbs.Create(ctx(t), pdb, metav1.CreateOptions{}))
	pdb.Status = policyv1.PodDisruptionBudgetStatus{
		ObservedGeneration: pdb.Generation, DisruptionsAllowed: allowed,
		CurrentHealthy: current, DesiredHealthy: desired, ExpectedPods: current,
	}
	if mutate != nil {
		mutate(pdb) // status changes
	}
	return must[*policyv1.PodDisruptionBudget](t)(pdbs.UpdateStatus(ctx(t), pdb, metav1.UpdateOptions{}))
}

func evict(t *testing.T, cs kubernetes.Interface, ns, name string, dryRun ...string) error {
	t.Helper()
	ev := &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}}
	if len(dryRun) > 0 {
		ev.DeleteOptions = &metav1.DeleteOptions{DryRun: dryRun}
	}
	return cs.CoreV1().Pods(ns).EvictV1(ctx(t), ev)
}

func podExists(t *testing.T, cs kubernetes.Interface, ns, name string) bool {
	t.Helper()
	_, err := cs.CoreV1().Pods(ns).Get(ctx(t), name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false
	}
	if err != nil {
		t.Fatal(err)
	}
	return true
}

// wantBudgetRefusal checks a 429 carrying Kubernetes' message and a
// DisruptionBudget cause containing cause.
func wantBudgetRefusal(t *testing.T, err error, cause string) {
	t.Helper()
	wantAPIError(t, err, 429, metav1.StatusReasonTooManyRequests, "Cannot evict pod as it would violate the pod's disruption budget.")
	var se apierrors.APIStatus
	errors.As(err, &se)
	d := se.Status().Details
	if d == nil || len(d.Causes) != 1 || d.Causes[0].Type != policyv1.DisruptionBudgetCause || !strings.Contains(d.Causes[0].Message, cause) {
		t.Fatalf("details %+v, want one DisruptionBudget cause containing %q", d, cause)
	}
}

func TestEvictionBudgets(t *testing.T) {
	c := startCluster(t)
	cs := c.Client

	t.Run("no budget: the pod is deleted", func(t *testing.T) {
		ns := c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "", true)
		if err := evict(t, cs, ns, "p"); err != nil {
			t.Fatal(err)
		}
		if podExists(t, cs, ns, "p") {
			t.Error("pod still exists")
		}
	})

	t.Run("no disruption allowed: 429 and the pod stays", func(t *testing.T) {
		ns := c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "", true)
		budget(t, cs, ns, "web", "web", 0, 2, 2, nil)
		wantBudgetRefusal(t, evict(t, cs, ns, "p"), "The disruption budget web needs 2 healthy pods and has 2 currently")
		if !podExists(t, cs, ns, "p") {
			t.Error("refused eviction deleted the pod")
		}
	})

	t.Run("stale budget status: 429", func(t *testing.T) {
		ns := c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "", true)
		budget(t, cs, ns, "web", "web", 3, 3, 1, func(p *policyv1.PodDisruptionBudget) { p.Status.ObservedGeneration = p.Generation - 1 })
		wantBudgetRefusal(t, evict(t, cs, ns, "p"), "The disruption budget web is still being processed by the server.")
		if !podExists(t, cs, ns, "p") {
			t.Error("refused eviction deleted the pod")
		}
	})

	t.Run("allowed: decrements, records the pod and marks it", func(t *testing.T) {
		ns := c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "node-1", true) // bound: deletion is graceful
		budget(t, cs, ns, "web", "web", 1, 3, 2, nil)
		if err := evict(t, cs, ns, "p"); err != nil {
			t.Fatal(err)
		}
		pdb := must[*policyv1.PodDisruptionBudget](t)(cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx(t), "web", metav1.GetOptions{}))
		if pdb.Status.DisruptionsAllowed != 0 {
			t.Errorf("disruptionsAllowed %d, want 0", pdb.Status.DisruptionsAllowed)
		}
		if _, ok := pdb.Status.DisruptedPods["p"]; !ok || len(pdb.Status.DisruptedPods) != 1 {
			t.Errorf("disruptedPods %v, want p", pdb.Status.DisruptedPods)
		}
		var cond *metav1.Condition
		for i := range pdb.Status.Conditions {
			if pdb.Status.Conditions[i].Type == policyv1.DisruptionAllowedCondition {
				cond = &pdb.Status.Conditions[i]
			}
		}
		if cond == nil || cond.Status != metav1.ConditionFalse || cond.Reason != policyv1.InsufficientPodsReason {
			t.Errorf("DisruptionAllowed condition %+v, want False/InsufficientPods", cond)
		}
		p := must[*corev1.Pod](t)(cs.CoreV1().Pods(ns).Get(ctx(t), "p", metav1.GetOptions{}))
		if p.DeletionTimestamp == nil {
			t.Error("evicted pod is not terminating")
		}
		marked := false
		for _, c := range p.Status.Conditions {
			marked = marked || c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionTrue && c.Reason == "EvictionByEvictionAPI"
		}
		if !marked {
			t.Errorf("conditions %+v lack DisruptionTarget", p.Status.Conditions)
		}
		// The next eviction of another pod is refused: the budget is spent.
		runningPod(t, cs, ns, "q", "web", "", true)
		wantBudgetRefusal(t, evict(t, cs, ns, "q"), "needs 2 healthy pods")
		// Evicting the terminating pod again needs no budget.
		if err := evict(t, cs, ns, "p"); err != nil {
			t.Errorf("evicting a terminating pod: %v", err)
		}
	})

	t.Run("dry run changes nothing", func(t *testing.T) {
		ns := c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "", true)
		before := budget(t, cs, ns, "web", "web", 1, 3, 2, nil)
		if err := evict(t, cs, ns, "p", metav1.DryRunAll); err != nil {
			t.Fatal(err)
		}
		if !podExists(t, cs, ns, "p") {
			t.Error("dry-run eviction deleted the pod")
		}
		after := must[*policyv1.PodDisruptionBudget](t)(cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx(t), "web", metav1.GetOptions{}))
		if after.ResourceVersion != before.ResourceVersion {
			t.Errorf("dry-run eviction wrote the budget: %+v", after.Status)
		}
		// Query parameter form, as kubectl drain --dry-run=server sends it
		// in the body; a mismatch between the two is refused.
		err := cs.CoreV1().RESTClient().Post().Namespace(ns).Resource("pods").Name("p").SubResource("eviction").
			Param("dryRun", "All").Body(&policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: ns}}).Do(ctx(t)).Error()
		if err != nil || !podExists(t, cs, ns, "p") {
			t.Errorf("dryRun query: err %v, pod exists %v", err, podExists(t, cs, ns, "p"))
		}
	})

	t.Run("two matching budgets: 500", func(t *testing.T) {
		ns := c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "", true)
		budget(t, cs, ns, "a", "web", 1, 3, 2, nil)
		budget(t, cs, ns, "b", "web", 1, 3, 2, nil)
		wantAPIError(t, evict(t, cs, ns, "p"), 500, "", "more than one PodDisruptionBudget")
		if !podExists(t, cs, ns, "p") {
			t.Error("pod deleted")
		}
	})

	t.Run("budget in another namespace or selecting other pods does not apply", func(t *testing.T) {
		ns, other := c.namespace(t), c.namespace(t)
		runningPod(t, cs, ns, "p", "web", "", true)
		budget(t, cs, other, "web", "web", 0, 1, 1, nil)
		budget(t, cs, ns, "db", "db", 0, 1, 1, nil)
		if err := evict(t, cs, ns, "p"); err != nil {
			t.Fatal(err)
		}
	})

	t.Run("pending and finished pods ignore the budget", func(t *testing.T) {
		ns := c.namespace(t)
		budget(t, cs, ns, "web", "web", 0, 2, 2, nil)
		p := testPod(metav1.ObjectMeta{Name: "pending", Labels: map[string]string{"app": "web"}})
		must[*corev1.Pod](t)(cs.CoreV1().Pods(ns).Create(ctx(t), p, metav1.CreateOptions{}))
		done := runningPod(t, cs, ns, "done", "web", "", false)
		done.Status.Phase = corev1.PodSucceeded
		must[*corev1.Pod](t)(cs.CoreV1().Pods(ns).UpdateStatus(ctx(t), done, metav1.UpdateOptions{}))
		for _, name := range []string{"pending", "done"} {
			if err := evict(t, cs, ns, name); err != nil {
				t.Errorf("%s: %v", name, err)
			}
			if podExists(t, cs, ns, name) {
				t.Errorf("%s not deleted", name)
			}
		}
	})

	t.Run("unready pods", func(t *testing.T) {
		ns := c.namespace(t)
		// Healthy enough budget: an unready pod goes without spending it.
		runningPod(t, cs, ns, "a", "a", "", false)
		budget(t, cs, ns, "a", "a", 0, 2, 2, nil)
		if err := evict(t, cs, ns, "a"); err != nil {
			t.Errorf("unready pod under a satisfied budget: %v", err)
		}
		// Budget not satisfied: IfHealthyBudget (default) refuses.
		runningPod(t, cs, ns, "b", "b", "", false)
		budget(t, cs, ns, "b", "b", 0, 1, 2, nil)
		wantBudgetRefusal(t, evict(t, cs, ns, "b"), "needs 2 healthy pods and has 1")
		// AlwaysAllow lets it go anyway.
		runningPod(t, cs, ns, "c", "c", "", false)
		budget(t, cs, ns, "c", "c", 0, 1, 2, func(p *policyv1.PodDisruptionBudget) {
			always := policyv1.AlwaysAllow
			p.Spec.UnhealthyPodEvictionPolicy = &always
		})
		if err := evict(t, cs, ns, "c"); err != nil {
			t.Errorf("AlwaysAllow: %v", err)
		}
		for name, want := range map[string]bool{"a": false, "b": true, "c": false} {
			if got := podExists(t, cs, ns, name); got != want {
				t.Errorf("pod %s exists %v, want %v", name, got, want)
			}
		}
	})

	t.Run("concurrent evictions never exceed the budget", func(t *testing.T) {
		ns := c.namespace(t)
		const pods, allowed = 6, 2
		for i := range pods {
			runningPod(t, cs, ns, fmt.Sprintf("p%d", i), "web", "", true)
		}
		budget(t, cs, ns, "web", "web", allowed, pods, pods-allowed, nil)
		var wg sync.WaitGroup
		errs := make([]error, pods)
		for i := range pods {
			wg.Go(func() { errs[i] = evict(t, cs, ns, fmt.Sprintf("p%d", i)) })
		}
		wg.Wait()
		ok := 0
		for i, err := range errs {
			switch {
			case err == nil:
				ok++
			case apierrors.IsTooManyRequests(err):
			default:
				t.Errorf("p%d: %v", i, err)
			}
		}
		pdb := must[*policyv1.PodDisruptionBudget](t)(cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx(t), "web", metav1.GetOptions{}))
		if ok != allowed || len(pdb.Status.DisruptedPods) != allowed || pdb.Status.DisruptionsAllowed != 0 {
			t.Errorf("%d evictions succeeded, budget status %+v; want %d", ok, pdb.Status, allowed)
		}
	})
}
