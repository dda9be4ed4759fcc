package rootcacert_test

import (
	"context"
	"fmt"
	"maps"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/controller/rootcacert"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const timeout = 30 * time.Second

// published reports what is missing until namespace ns has the root CA
// ConfigMap with exactly caPEM and the description; when uid is set, the
// ConfigMap must be another object than that one.
func published(cs kubernetes.Interface, ns string, caPEM []byte, uid string) func(ctx context.Context) (string, error) {
	return func(ctx context.Context) (string, error) {
		cm, err := cs.CoreV1().ConfigMaps(ns).Get(ctx, rootcacert.ConfigMapName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			return "no " + rootcacert.ConfigMapName + " in " + ns, nil
		case err != nil:
			return "", err
		case uid != "" && string(cm.UID) == uid:
			return "the deleted ConfigMap is still there", nil
		case !maps.Equal(cm.Data, map[string]string{rootcacert.DataKey: string(caPEM)}):
			return fmt.Sprintf("data is %v", cm.Data), nil
		case cm.Annotations[rootcacert.DescriptionAnnotation] != rootcacert.Description:
			return fmt.Sprintf("annotations are %v", cm.Annotations), nil
		}
		return "", nil
	}
}

func TestScenarioRootCACertificate(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client
	caPEM := c.Config.CAData // the loopback client trusts the cluster CA
	if len(caPEM) == 0 {
		t.Fatal("the cluster's client configuration has no CA")
	}

	for _, ns := range []string{"default", "kube-system", "kube-public", "kube-node-lease"} {
		fixture.Await(t, timeout, "root CA ConfigMap in built-in namespace "+ns, published(cs, ns, caPEM, ""))
	}
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "team"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	fixture.Await(t, timeout, "root CA ConfigMap in a new namespace", published(cs, "team", caPEM, ""))

	cm, err := cs.CoreV1().ConfigMaps("team").Get(t.Context(), rootcacert.ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := cs.CoreV1().ConfigMaps("team").Delete(t.Context(), rootcacert.ConfigMapName, metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	fixture.Await(t, timeout, "deleted root CA ConfigMap recreated", published(cs, "team", caPEM, string(cm.UID)))

	cm, err = cs.CoreV1().ConfigMaps("team").Get(t.Context(), rootcacert.ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data = map[string]string{rootcacert.DataKey: "tampered", "extra": "x"}
	cm.Labels = map[string]string{"kept": "yes"}
	if _, err := cs.CoreV1().ConfigMaps("team").Update(t.Context(), cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	fixture.Await(t, timeout, "tampered root CA ConfigMap restored", published(cs, "team", caPEM, ""))
	cm, err = cs.CoreV1().ConfigMaps("team").Get(t.Context(), rootcacert.ConfigMapName, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if cm.Labels["kept"] != "yes" {
		t.Errorf("restoring the ConfigMap dropped its labels: %v", cm.Labels)
	}
}
