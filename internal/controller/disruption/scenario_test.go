package disruption_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/cli-runtime/pkg/genericclioptions"
	"k8s.io/cli-runtime/pkg/genericiooptions"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"
	kubectlcmd "k8s.io/kubectl/pkg/cmd"
	cmdutil "k8s.io/kubectl/pkg/cmd/util"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: the API server with its controllers (Deployment,
// ReplicaSet, disruption) on embedded etcd; a stub agent reports pods
// ready, gated by the test.

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

func newDeployment(name string, replicas int32) *appsv1.Deployment {
	labels := map[string]string{"app": name}
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
			},
		},
	}
}

func newPDB(name string, minAvailable, maxUnavailable *intstr.IntOrString) *policyv1.PodDisruptionBudget {
	return &policyv1.PodDisruptionBudget{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: policyv1.PodDisruptionBudgetSpec{
			MinAvailable: minAvailable, MaxUnavailable: maxUnavailable,
			Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": name}},
		},
	}
}

// budgetIs waits for the budget's status to say want (expected, desired,
// healthy, allowed) for its current generation, with a matching condition.
func budgetIs(cs kubernetes.Interface, ns, name string, expected, desired, healthy, allowed int32) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		s := pdb.Status
		if s.ExpectedPods != expected || s.DesiredHealthy != desired || s.CurrentHealthy != healthy || s.DisruptionsAllowed != allowed || s.ObservedGeneration != pdb.Generation {
			return fmt.Sprintf("status %+v (generation %d)", s, pdb.Generation), nil
		}
		c := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
		wantStatus, wantReason := metav1.ConditionFalse, policyv1.InsufficientPodsReason
		if allowed > 0 {
			wantStatus, wantReason = metav1.ConditionTrue, policyv1.SufficientPodsReason
		}
		if c == nil || c.Status != wantStatus || c.Reason != wantReason {
			return fmt.Sprintf("condition %+v", c), nil
		}
		return "", nil
	}
}

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

func evict(ctx context.Context, cs kubernetes.Interface, ns, name string) error {
	return cs.CoreV1().Pods(ns).EvictV1(ctx, &policyv1.Eviction{ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: ns}})
}

func TestScenarioDisruption(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client

	t.Run("evictions spend the budget until replacements are ready", func(t *testing.T) {
		ns := "pdb-evict"
		createNamespace(t, cs, ns)
		var ready atomic.Bool
		ready.Store(true)
		agent := c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns, Ready: func(*corev1.Pod) bool { return ready.Load() }})
		two := intstr.FromInt32(2)
		if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), newPDB("web", &two, nil), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		// No pods yet: nothing may be disrupted.
		eventually(t, "empty budget", budgetIs(cs, ns, "web", 0, 2, 0, 0))
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("web", 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "budget with 3 ready pods", budgetIs(cs, ns, "web", 3, 2, 3, 1))

		// Replacements will not turn ready for now.
		ready.Store(false)
		pods, err := activePods(t.Context(), cs, ns, "app=web")
		if err != nil || len(pods) != 3 {
			t.Fatalf("pods %d, err %v", len(pods), err)
		}
		if err := evict(t.Context(), cs, ns, pods[0].Name); err != nil {
			t.Fatalf("first eviction: %v", err)
		}
		err = evict(t.Context(), cs, ns, pods[1].Name)
		if !apierrors.IsTooManyRequests(err) {
			t.Fatalf("second eviction = %v, want 429", err)
		}
		// The evicted pod is gone, its replacement not ready: 2 healthy,
		// nothing allowed, and the disruptedPods entry pruned.
		eventually(t, "budget after the eviction", func(ctx context.Context) (string, error) {
			if msg, err := budgetIs(cs, ns, "web", 4, 2, 2, 0)(ctx); msg != "" || err != nil {
				// expectedPods counts the matching pods: 2 + the unready
				// replacement, or 3 while the evicted pod still exists.
				if msg2, err2 := budgetIs(cs, ns, "web", 3, 2, 2, 0)(ctx); msg2 != "" || err2 != nil {
					return msg, err
				}
			}
			pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(ctx, "web", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if len(pdb.Status.DisruptedPods) != 0 {
				return fmt.Sprintf("disruptedPods %v", pdb.Status.DisruptedPods), nil
			}
			return "", nil
		})
		if err := evict(t.Context(), cs, ns, pods[1].Name); !apierrors.IsTooManyRequests(err) {
			t.Fatalf("eviction with an unready replacement = %v, want 429", err)
		}

		// The replacement turns ready: one disruption is allowed again.
		ready.Store(true)
		if err := agent.Requeue(t.Context()); err != nil {
			t.Fatal(err)
		}
		eventually(t, "budget restored", budgetIs(cs, ns, "web", 3, 2, 3, 1))
		if err := evict(t.Context(), cs, ns, pods[1].Name); err != nil {
			t.Fatalf("eviction after recovery: %v", err)
		}
	})

	t.Run("percentages use the deployment's scale", func(t *testing.T) {
		ns := "pdb-percent"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns})
		half := intstr.FromString("50%")
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("api", 4), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), newPDB("api", nil, &half), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "maxUnavailable 50% of 4", budgetIs(cs, ns, "api", 4, 2, 4, 2))
		// Scaling the Deployment changes the denominator at once, before
		// the new pods exist or are ready.
		// The Deployment controller writes its status meanwhile: retry on
		// a conflict, as kubectl scale would.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			d, err := cs.AppsV1().Deployments(ns).Get(t.Context(), "api", metav1.GetOptions{})
			if err != nil {
				return err
			}
			d.Spec.Replicas = ptr(int32(6))
			_, err = cs.AppsV1().Deployments(ns).Update(t.Context(), d, metav1.UpdateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "maxUnavailable 50% of 6", budgetIs(cs, ns, "api", 6, 3, 6, 3))
		// A spec change is observed: the new generation gets a status.
		if err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
			pdb, err := cs.PolicyV1().PodDisruptionBudgets(ns).Get(t.Context(), "api", metav1.GetOptions{})
			if err != nil {
				return err
			}
			five := intstr.FromInt32(5)
			pdb.Spec.MaxUnavailable, pdb.Spec.MinAvailable = nil, &five
			_, err = cs.PolicyV1().PodDisruptionBudgets(ns).Update(t.Context(), pdb, metav1.UpdateOptions{})
			return err
		}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "minAvailable 5 of 6", budgetIs(cs, ns, "api", 6, 5, 6, 1))
	})

	t.Run("a stale DisruptionTarget condition is reset", func(t *testing.T) {
		ns := "pdb-stale"
		createNamespace(t, cs, ns)
		p, err := cs.CoreV1().Pods(ns).Create(t.Context(), &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{Name: "marked"},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "nginx:1.27"}}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		// As an eviction that never got to delete the pod leaves it, three
		// minutes ago (the timeout is two). The scheduler may write the pod
		// (binding) meanwhile: retry with the current object.
		err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
			p.Status.Phase = corev1.PodRunning
			p.Status.Conditions = []corev1.PodCondition{{
				Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, Reason: "EvictionByEvictionAPI",
				LastTransitionTime: metav1.NewTime(time.Now().Add(-3 * time.Minute)),
			}}
			_, err := cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
			if err != nil {
				if cur, gerr := cs.CoreV1().Pods(ns).Get(t.Context(), "marked", metav1.GetOptions{}); gerr == nil {
					p = cur
				}
			}
			return err
		})
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "condition reset", func(ctx context.Context) (string, error) {
			p, err := cs.CoreV1().Pods(ns).Get(ctx, "marked", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			for _, c := range p.Status.Conditions {
				if c.Type == corev1.DisruptionTarget && c.Status == corev1.ConditionFalse {
					return "", nil
				}
			}
			return fmt.Sprintf("conditions %+v", p.Status.Conditions), nil
		})
	})

	t.Run("kubectl drain retries refused evictions until the budget allows them", func(t *testing.T) {
		ns := "pdb-drain"
		createNamespace(t, cs, ns)
		c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns, Node: "drain-node"})
		one := intstr.FromInt32(1)
		if _, err := cs.AppsV1().Deployments(ns).Create(t.Context(), newDeployment("cache", 3), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if _, err := cs.PolicyV1().PodDisruptionBudgets(ns).Create(t.Context(), newPDB("cache", nil, &one), metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "budget", budgetIs(cs, ns, "cache", 3, 2, 3, 1))
		before, err := activePods(t.Context(), cs, ns, "app=cache")
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range before {
			if p.Spec.NodeName != "drain-node" {
				t.Fatalf("pod %s is on node %q, not drain-node", p.Name, p.Spec.NodeName)
			}
		}
		out, err := kubectl(t, c, "drain", "drain-node", "--pod-selector", "app=cache", "--timeout=50s")
		if err != nil {
			t.Fatalf("drain: %v\n%s", err, out)
		}
		if !strings.Contains(out, "Cannot evict pod as it would violate the pod's disruption budget") || !strings.Contains(out, "node/drain-node drained") {
			t.Errorf("drain output lacks a refused eviction or the final drained line:\n%s", out)
		}
		// Every pod listed before the drain is gone.
		for _, p := range before {
			_, err := cs.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				t.Errorf("pod %s after drain: %v", p.Name, err)
			}
		}
	})
}

func ptr[T any](v T) *T { return &v }

var kubectlMu sync.Mutex

type kubectlExit struct {
	msg  string
	code int
}

// kubectl runs the real kubectl in-process against c and returns its
// standard output and error, interleaved.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) (out string, err error) {
	t.Helper()
	kubectlMu.Lock()
	defer kubectlMu.Unlock()
	var buf syncBuffer
	streams := genericiooptions.IOStreams{In: strings.NewReader(""), Out: &buf, ErrOut: &buf}
	args = append([]string{"--kubeconfig", c.Kubeconfig}, args...)
	cmd := kubectlcmd.NewDefaultKubectlCommandWithArgs(kubectlcmd.KubectlOptions{
		Arguments:   append([]string{"kubectl"}, args...),
		ConfigFlags: genericclioptions.NewConfigFlags(true).WithDiscoveryBurst(300).WithDiscoveryQPS(50),
		IOStreams:   streams,
	})
	cmd.SetArgs(args)
	cmd.SetOut(&buf)
	cmd.SetErr(&buf)
	cmdutil.BehaviorOnFatal(func(msg string, code int) { panic(kubectlExit{msg, code}) })
	defer cmdutil.DefaultBehaviorOnFatal()
	defer func() {
		if p := recover(); p != nil {
			e, ok := p.(kubectlExit)
			if !ok {
				panic(p)
			}
			out, err = buf.String(), fmt.Errorf("kubectl: exit %d: %s", e.code, e.msg)
		}
	}()
	if err := cmd.Execute(); err != nil {
		return buf.String(), err
	}
	return buf.String(), nil
}

// syncBuffer is a bytes.Buffer safe for kubectl's concurrent writers
// (drain evicts pods in parallel).
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}
