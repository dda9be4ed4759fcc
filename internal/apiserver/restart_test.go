package apiserver_test

import (
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestRestart: everything written survives a restart on the same data
// directory, unchanged (uid, resourceVersion, content), and the server
// keeps counting revisions and allocating from where it was.
func TestRestart(t *testing.T) {
	dir := t.TempDir()
	opts := testcluster.Options{DataDir: dir, DisableControllers: true}
	c, stop := testcluster.StartUntil(t, opts)
	stopped := false
	defer func() {
		if !stopped {
			stop()
		}
	}()

	type stored struct {
		kind, name string
		uid        types.UID
		rv         string
	}
	var before []stored
	remember := func(kind string, m metav1.Object) {
		before = append(before, stored{kind, m.GetName(), m.GetUID(), m.GetResourceVersion()})
	}
	ns := must[*corev1.Namespace](t)(c.Client.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "keep"}}, metav1.CreateOptions{}))
	remember("namespace", ns)
	cm := must[*corev1.ConfigMap](t)(c.Client.CoreV1().ConfigMaps("keep").Create(ctx(t), configMap("cm", "1", nil), metav1.CreateOptions{}))
	cm.Data["v"] = "2"
	cm = must[*corev1.ConfigMap](t)(c.Client.CoreV1().ConfigMaps("keep").Update(ctx(t), cm, metav1.UpdateOptions{}))
	remember("configmap", cm)
	sec := must[*corev1.Secret](t)(c.Client.CoreV1().Secrets("keep").Create(ctx(t), &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "s"}, Data: map[string][]byte{"k": []byte("v")}}, metav1.CreateOptions{}))
	remember("secret", sec)
	dep := must[*appsv1.Deployment](t)(c.Client.AppsV1().Deployments("keep").Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: "d"}), metav1.CreateOptions{}))
	remember("deployment", dep)
	svc := must[*corev1.Service](t)(c.Client.CoreV1().Services("keep").Create(ctx(t), service("svc", corev1.ServiceTypeNodePort, ""), metav1.CreateOptions{}))
	remember("service", svc)
	lastRV := svc.ResourceVersion

	stop()
	stopped = true
	c2, stop2 := testcluster.StartUntil(t, opts)
	defer stop2()

	get := func(cs kubernetes.Interface, kind, name string) (metav1.Object, error) {
		switch kind {
		case "namespace":
			return cs.CoreV1().Namespaces().Get(ctx(t), name, metav1.GetOptions{})
		case "configmap":
			return cs.CoreV1().ConfigMaps("keep").Get(ctx(t), name, metav1.GetOptions{})
		case "secret":
			return cs.CoreV1().Secrets("keep").Get(ctx(t), name, metav1.GetOptions{})
		case "deployment":
			return cs.AppsV1().Deployments("keep").Get(ctx(t), name, metav1.GetOptions{})
		default:
			return cs.CoreV1().Services("keep").Get(ctx(t), name, metav1.GetOptions{})
		}
	}
	for _, s := range before {
		t.Run(s.kind, func(t *testing.T) {
			obj, err := get(c2.Client, s.kind, s.name)
			if err != nil {
				t.Fatal(err)
			}
			if obj.GetUID() != s.uid || obj.GetResourceVersion() != s.rv {
				t.Errorf("after restart uid %s rv %s, want uid %s rv %s", obj.GetUID(), obj.GetResourceVersion(), s.uid, s.rv)
			}
		})
	}
	t.Run("content", func(t *testing.T) {
		cm := must[*corev1.ConfigMap](t)(c2.Client.CoreV1().ConfigMaps("keep").Get(ctx(t), "cm", metav1.GetOptions{}))
		if cm.Data["v"] != "2" {
			t.Errorf("configmap data %v", cm.Data)
		}
		s := must[*corev1.Secret](t)(c2.Client.CoreV1().Secrets("keep").Get(ctx(t), "s", metav1.GetOptions{}))
		if string(s.Data["k"]) != "v" {
			t.Errorf("secret data %v", s.Data)
		}
	})
	t.Run("revisions continue", func(t *testing.T) {
		cm := must[*corev1.ConfigMap](t)(c2.Client.CoreV1().ConfigMaps("keep").Create(ctx(t), configMap("new", "1", nil), metav1.CreateOptions{}))
		if rvNum(t, cm.ResourceVersion) <= rvNum(t, lastRV) {
			t.Errorf("resourceVersion after restart %s, want > %s", cm.ResourceVersion, lastRV)
		}
	})
	t.Run("allocations survive", func(t *testing.T) {
		_, err := c2.Client.CoreV1().Services("keep").Create(ctx(t), service("steal", "", svc.Spec.ClusterIP), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "already allocated")
		_, err = c2.Client.CoreV1().Services("keep").Create(ctx(t), service("steal-port", corev1.ServiceTypeNodePort, "", svc.Spec.Ports[0].NodePort), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "already allocated")
	})
}
