package apiserver_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestNamespaces(t *testing.T) {
	c := startCluster(t)
	nss := c.Client.CoreV1().Namespaces()

	t.Run("create in a missing namespace", func(t *testing.T) {
		_, err := c.Client.CoreV1().ConfigMaps("nowhere").Create(ctx(t), configMap("a", "1", nil), metav1.CreateOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound, `namespaces "nowhere" not found`)
		if d := err.(apierrors.APIStatus).Status().Details; d == nil || d.Kind != "namespaces" || d.Name != "nowhere" {
			t.Errorf("details %+v, want kind namespaces name nowhere", d)
		}
	})

	t.Run("namespace of the body must match the URL", func(t *testing.T) {
		ns := c.namespace(t)
		cm := configMap("a", "1", nil)
		cm.Namespace = "default"
		_, err := c.Client.CoreV1().RESTClient().Post().Namespace(ns).Resource("configmaps").Body(cm).Do(ctx(t)).Get()
		wantAPIError(t, err, 400, metav1.StatusReasonBadRequest, "does not match the namespace")
	})

	t.Run("lifecycle", func(t *testing.T) {
		name := c.namespace(t)
		ns := must[*corev1.Namespace](t)(nss.Get(ctx(t), name, metav1.GetOptions{}))
		if ns.Status.Phase != corev1.NamespaceActive || len(ns.Spec.Finalizers) != 1 || ns.Spec.Finalizers[0] != corev1.FinalizerKubernetes {
			t.Fatalf("new namespace: phase %q finalizers %v, want Active [kubernetes]", ns.Status.Phase, ns.Spec.Finalizers)
		}
		must[*corev1.ConfigMap](t)(c.Client.CoreV1().ConfigMaps(name).Create(ctx(t), configMap("inside", "1", nil), metav1.CreateOptions{}))

		// The main resource cannot drop spec.finalizers: only /finalize can.
		upd := ns.DeepCopy()
		upd.Spec.Finalizers = nil
		upd.Labels = labelsOf("x", "y")
		upd = must[*corev1.Namespace](t)(nss.Update(ctx(t), upd, metav1.UpdateOptions{}))
		if len(upd.Spec.Finalizers) != 1 || upd.Labels["x"] != "y" {
			t.Errorf("after update: finalizers %v labels %v, want [kubernetes] and x=y", upd.Spec.Finalizers, upd.Labels)
		}

		// The status subresource.
		st := upd.DeepCopy()
		st.Status.Conditions = []corev1.NamespaceCondition{{Type: corev1.NamespaceDeletionContentFailure, Status: corev1.ConditionFalse, Reason: "Test"}}
		st = must[*corev1.Namespace](t)(nss.UpdateStatus(ctx(t), st, metav1.UpdateOptions{}))
		if len(st.Status.Conditions) != 1 || st.Status.Phase != corev1.NamespaceActive {
			t.Errorf("after status update: %+v", st.Status)
		}

		if err := nss.Delete(ctx(t), name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		ns = must[*corev1.Namespace](t)(nss.Get(ctx(t), name, metav1.GetOptions{}))
		if ns.Status.Phase != corev1.NamespaceTerminating || ns.DeletionTimestamp == nil {
			t.Fatalf("deleted namespace: phase %q deletionTimestamp %v, want Terminating and set", ns.Status.Phase, ns.DeletionTimestamp)
		}

		_, err := c.Client.CoreV1().ConfigMaps(name).Create(ctx(t), configMap("late", "1", nil), metav1.CreateOptions{})
		wantAPIError(t, err, 403, metav1.StatusReasonForbidden, "because it is being terminated")
		// Existing content can still be read and deleted.
		must[*corev1.ConfigMap](t)(c.Client.CoreV1().ConfigMaps(name).Get(ctx(t), "inside", metav1.GetOptions{}))
		must[struct{}](t)(struct{}{}, c.Client.CoreV1().ConfigMaps(name).Delete(ctx(t), "inside", metav1.DeleteOptions{}))

		ns.Spec.Finalizers = nil
		if _, err := nss.Finalize(ctx(t), ns, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = nss.Get(ctx(t), name, metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("finalize of an active namespace keeps it", func(t *testing.T) {
		name := c.namespace(t)
		ns := must[*corev1.Namespace](t)(nss.Get(ctx(t), name, metav1.GetOptions{}))
		ns.Spec.Finalizers = nil
		out := must[*corev1.Namespace](t)(nss.Finalize(ctx(t), ns, metav1.UpdateOptions{}))
		if len(out.Spec.Finalizers) != 0 || out.Status.Phase != corev1.NamespaceActive {
			t.Errorf("finalize: %+v", out)
		}
		// Without spec finalizers, deletion is immediate.
		must[struct{}](t)(struct{}{}, nss.Delete(ctx(t), name, metav1.DeleteOptions{}))
		_, err := nss.Get(ctx(t), name, metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})
}
