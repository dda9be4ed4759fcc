package namespace_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd with the controllers
// running, driven through client-go.

const scenarioTimeout = 60 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

func populate(t *testing.T, cs kubernetes.Interface, ns string) {
	t.Helper()
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cm"}, Data: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Secrets(ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, StringData: map[string]string{"k": "v"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	replicas := int32(0) // no pods needed: this is about the namespace
	labels := map[string]string{"app": "web"}
	_, err := cs.AppsV1().Deployments(ns).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "nginx"}}},
			},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
}

// contentLeft lists what is still in ns among the kinds populate creates.
func contentLeft(ctx context.Context, cs kubernetes.Interface, ns string) (string, error) {
	cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	deps, err := cs.AppsV1().Deployments(ns).List(ctx, metav1.ListOptions{})
	if err != nil {
		return "", err
	}
	if n := len(cms.Items) + len(secrets.Items) + len(deps.Items); n > 0 {
		return fmt.Sprintf("%d configmaps, %d secrets, %d deployments left", len(cms.Items), len(secrets.Items), len(deps.Items)), nil
	}
	return "", nil
}

func namespaceGone(cs kubernetes.Interface, ns string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "", nil
		}
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("namespace %s is %s, conditions %v", ns, n.Status.Phase, n.Status.Conditions), nil
	}
}

func TestScenarioNamespaceDeletion(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client

	t.Run("contents and namespace disappear", func(t *testing.T) {
		ns := "doomed"
		populate(t, cs, ns)
		if msg, err := contentLeft(t.Context(), cs, ns); err != nil || msg == "" {
			t.Fatalf("content not created: %q %v", msg, err)
		}
		if err := cs.CoreV1().Namespaces().Delete(t.Context(), ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "namespace deleted", namespaceGone(cs, ns))
		eventually(t, "content deleted", func(ctx context.Context) (string, error) { return contentLeft(ctx, cs, ns) })
	})

	t.Run("content with a finalizer holds the namespace", func(t *testing.T) {
		ns := "held"
		populate(t, cs, ns)
		_, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
			ObjectMeta: metav1.ObjectMeta{Name: "held", Finalizers: []string{"example.com/hold"}},
		}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		if err := cs.CoreV1().Namespaces().Delete(t.Context(), ns, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "remaining content reported", func(ctx context.Context) (string, error) {
			n, err := cs.CoreV1().Namespaces().Get(ctx, ns, metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if n.Status.Phase != corev1.NamespaceTerminating {
				return "phase " + string(n.Status.Phase), nil
			}
			want := map[corev1.NamespaceConditionType]string{
				corev1.NamespaceContentRemaining:    "SomeResourcesRemain",
				corev1.NamespaceFinalizersRemaining: "SomeFinalizersRemain",
			}
			for _, cond := range n.Status.Conditions {
				if reason, ok := want[cond.Type]; ok && cond.Status == corev1.ConditionTrue && cond.Reason == reason {
					delete(want, cond.Type)
				}
			}
			if len(want) > 0 {
				return fmt.Sprintf("conditions %v", n.Status.Conditions), nil
			}
			return "", nil
		})
		// Everything else is gone while the held configmap stays.
		eventually(t, "other content deleted", func(ctx context.Context) (string, error) {
			cms, err := cs.CoreV1().ConfigMaps(ns).List(ctx, metav1.ListOptions{})
			if err != nil {
				return "", err
			}
			if len(cms.Items) != 1 || cms.Items[0].Name != "held" || cms.Items[0].DeletionTimestamp == nil {
				return fmt.Sprintf("%d configmaps", len(cms.Items)), nil
			}
			secrets, err := cs.CoreV1().Secrets(ns).List(ctx, metav1.ListOptions{})
			if err != nil || len(secrets.Items) > 0 {
				return "secrets left", err
			}
			return "", nil
		})
		if _, err := cs.CoreV1().Namespaces().Get(t.Context(), ns, metav1.GetOptions{}); err != nil {
			t.Fatalf("namespace must stay while content remains: %v", err)
		}

		held, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "held", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		held.Finalizers = nil
		if _, err := cs.CoreV1().ConfigMaps(ns).Update(t.Context(), held, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "namespace deleted once the finalizer is gone", namespaceGone(cs, ns))
	})
}
