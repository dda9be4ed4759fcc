package gc_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd with the controllers
// running, driven through client-go.

const scenarioTimeout = 30 * time.Second

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	_, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
}

func createConfigMap(t *testing.T, cs kubernetes.Interface, ns, name string, owners []metav1.OwnerReference, finalizers ...string) *corev1.ConfigMap {
	t.Helper()
	cm, err := cs.CoreV1().ConfigMaps(ns).Create(t.Context(), &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: name, OwnerReferences: owners, Finalizers: finalizers},
		Data:       map[string]string{"k": "v"},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create configmap %s/%s: %v", ns, name, err)
	}
	return cm
}

func ownerRef(cm *corev1.ConfigMap, block bool) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "v1", Kind: "ConfigMap", Name: cm.Name, UID: cm.UID, BlockOwnerDeletion: &block}
}

func deleteConfigMap(t *testing.T, cs kubernetes.Interface, ns, name string, policy metav1.DeletionPropagation) {
	t.Helper()
	if err := cs.CoreV1().ConfigMaps(ns).Delete(t.Context(), name, metav1.DeleteOptions{PropagationPolicy: &policy}); err != nil {
		t.Fatalf("delete configmap %s/%s (%s): %v", ns, name, policy, err)
	}
}

// eventually polls cond (which returns "" when satisfied, else what is
// wrong) until it holds or the deadline passes.
func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

// getConfigMap returns the configmap, or nil when it does not exist.
func getConfigMap(ctx context.Context, cs kubernetes.Interface, ns, name string) (*corev1.ConfigMap, error) {
	cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return cm, err
}

func gone(cs kubernetes.Interface, ns string, names ...string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		for _, name := range names {
			cm, err := getConfigMap(ctx, cs, ns, name)
			if err != nil {
				return "", err
			}
			if cm != nil {
				return fmt.Sprintf("configmap %s still exists (deletionTimestamp %v, finalizers %v)", name, cm.DeletionTimestamp, cm.Finalizers), nil
			}
		}
		return "", nil
	}
}

func TestScenarioGarbageCollection(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client

	t.Run("background deletes dependents", func(t *testing.T) {
		ns := "gc-background"
		createNamespace(t, cs, ns)
		owner := createConfigMap(t, cs, ns, "owner", nil)
		createConfigMap(t, cs, ns, "dep1", []metav1.OwnerReference{ownerRef(owner, false)})
		createConfigMap(t, cs, ns, "dep2", []metav1.OwnerReference{ownerRef(owner, true)})
		bystander := createConfigMap(t, cs, ns, "bystander", nil)
		// A second owner keeps this one alive; only the dangling reference goes.
		createConfigMap(t, cs, ns, "shared", []metav1.OwnerReference{ownerRef(owner, false), ownerRef(bystander, false)})

		deleteConfigMap(t, cs, ns, "owner", metav1.DeletePropagationBackground)
		eventually(t, "dependents deleted", gone(cs, ns, "owner", "dep1", "dep2"))
		eventually(t, "dangling reference removed", func(ctx context.Context) (string, error) {
			cm, err := getConfigMap(ctx, cs, ns, "shared")
			if err != nil || cm == nil {
				return "shared is gone", err
			}
			if len(cm.OwnerReferences) != 1 || cm.OwnerReferences[0].UID != bystander.UID {
				return fmt.Sprintf("shared has owners %v", cm.OwnerReferences), nil
			}
			return "", nil
		})
		if cm, err := getConfigMap(t.Context(), cs, ns, "bystander"); err != nil || cm == nil {
			t.Fatalf("bystander deleted: %v", err)
		}
	})

	t.Run("foreground waits for blocking dependents", func(t *testing.T) {
		ns := "gc-foreground"
		createNamespace(t, cs, ns)
		owner := createConfigMap(t, cs, ns, "owner", nil)
		// The finalizer holds the blocking dependent in deletion, so the owner
		// must visibly wait for it.
		createConfigMap(t, cs, ns, "blocker", []metav1.OwnerReference{ownerRef(owner, true)}, "example.com/hold")
		createConfigMap(t, cs, ns, "plain", []metav1.OwnerReference{ownerRef(owner, false)})

		deleteConfigMap(t, cs, ns, "owner", metav1.DeletePropagationForeground)
		eventually(t, "blocking dependent being deleted", func(ctx context.Context) (string, error) {
			cm, err := getConfigMap(ctx, cs, ns, "blocker")
			if err != nil || cm == nil {
				return "blocker is gone", err
			}
			if cm.DeletionTimestamp == nil {
				return "blocker has no deletionTimestamp", nil
			}
			return "", nil
		})
		eventually(t, "non-blocking dependent deleted", gone(cs, ns, "plain"))
		o, err := getConfigMap(t.Context(), cs, ns, "owner")
		if err != nil {
			t.Fatal(err)
		}
		if o == nil || o.DeletionTimestamp == nil {
			t.Fatalf("owner must wait with a deletionTimestamp while a blocking dependent exists, got %+v", o)
		}

		// Release the blocker: it goes, and then the owner.
		blocker, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "blocker", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		blocker.Finalizers = nil
		if _, err := cs.CoreV1().ConfigMaps(ns).Update(t.Context(), blocker, metav1.UpdateOptions{}); err != nil {
			t.Fatalf("remove finalizer from blocker: %v", err)
		}
		eventually(t, "owner deleted after its dependents", gone(cs, ns, "blocker", "owner"))
	})

	t.Run("foreground reaches through a chain of owners", func(t *testing.T) {
		ns := "gc-chain"
		createNamespace(t, cs, ns)
		top := createConfigMap(t, cs, ns, "top", nil)
		mid := createConfigMap(t, cs, ns, "mid", []metav1.OwnerReference{ownerRef(top, true)})
		createConfigMap(t, cs, ns, "leaf", []metav1.OwnerReference{ownerRef(mid, true)}, "example.com/hold")

		deleteConfigMap(t, cs, ns, "top", metav1.DeletePropagationForeground)
		// mid has a dependent, so it is deleted in foreground too and waits
		// for the held leaf; top waits for mid.
		eventually(t, "leaf being deleted", func(ctx context.Context) (string, error) {
			cm, err := getConfigMap(ctx, cs, ns, "leaf")
			if err != nil || cm == nil {
				return "leaf is gone", err
			}
			if cm.DeletionTimestamp == nil {
				return "leaf has no deletionTimestamp", nil
			}
			return "", nil
		})
		for _, name := range []string{"top", "mid"} {
			cm, err := getConfigMap(t.Context(), cs, ns, name)
			if err != nil {
				t.Fatal(err)
			}
			if cm == nil || cm.DeletionTimestamp == nil || len(cm.Finalizers) == 0 || cm.Finalizers[0] != metav1.FinalizerDeleteDependents {
				t.Fatalf("%s must wait in foreground deletion, got %+v", name, cm)
			}
		}
		leaf, err := cs.CoreV1().ConfigMaps(ns).Get(t.Context(), "leaf", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		leaf.Finalizers = nil
		if _, err := cs.CoreV1().ConfigMaps(ns).Update(t.Context(), leaf, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "whole chain deleted", gone(cs, ns, "leaf", "mid", "top"))
	})

	t.Run("orphan keeps dependents without the reference", func(t *testing.T) {
		ns := "gc-orphan"
		createNamespace(t, cs, ns)
		owner := createConfigMap(t, cs, ns, "owner", nil)
		other := createConfigMap(t, cs, ns, "other", nil)
		createConfigMap(t, cs, ns, "dep1", []metav1.OwnerReference{ownerRef(owner, true)})
		createConfigMap(t, cs, ns, "dep2", []metav1.OwnerReference{ownerRef(owner, false), ownerRef(other, false)})

		deleteConfigMap(t, cs, ns, "owner", metav1.DeletePropagationOrphan)
		eventually(t, "owner deleted", gone(cs, ns, "owner"))
		want := map[string][]types.UID{"dep1": nil, "dep2": {other.UID}}
		for name, owners := range want {
			cm, err := getConfigMap(t.Context(), cs, ns, name)
			if err != nil {
				t.Fatal(err)
			}
			if cm == nil {
				t.Fatalf("orphaned dependent %s was deleted", name)
			}
			var got []types.UID
			for _, r := range cm.OwnerReferences {
				got = append(got, r.UID)
			}
			if fmt.Sprint(got) != fmt.Sprint(owners) {
				t.Errorf("%s owners = %v, want %v", name, got, owners)
			}
		}
	})

	t.Run("dependent created after its owner is gone", func(t *testing.T) {
		ns := "gc-late"
		createNamespace(t, cs, ns)
		owner := createConfigMap(t, cs, ns, "owner", nil)
		deleteConfigMap(t, cs, ns, "owner", metav1.DeletePropagationBackground)
		eventually(t, "owner deleted", gone(cs, ns, "owner"))
		createConfigMap(t, cs, ns, "late", []metav1.OwnerReference{ownerRef(owner, false)})
		eventually(t, "late dependent deleted", gone(cs, ns, "late"))
	})
}
