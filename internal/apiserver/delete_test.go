package apiserver_test

import (
	"slices"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/utils/ptr"
)

func TestDelete(t *testing.T) {
	c := startCluster(t)

	t.Run("finalizers hold the object until removed", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		cm := configMap("held", "1", nil)
		cm.Finalizers = []string{"example.com/a", "example.com/b"}
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), cm, metav1.CreateOptions{}))
		if err := cms.Delete(ctx(t), "held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		cm = must[*corev1.ConfigMap](t)(cms.Get(ctx(t), "held", metav1.GetOptions{}))
		if cm.DeletionTimestamp == nil || len(cm.Finalizers) != 2 {
			t.Fatalf("after delete: deletionTimestamp %v finalizers %v, want set and both kept", cm.DeletionTimestamp, cm.Finalizers)
		}
		// A second delete changes nothing.
		if err := cms.Delete(ctx(t), "held", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		again := must[*corev1.ConfigMap](t)(cms.Get(ctx(t), "held", metav1.GetOptions{}))
		if again.ResourceVersion != cm.ResourceVersion {
			t.Errorf("second delete rewrote the object")
		}
		// No new finalizers on a deleting object.
		add := cm.DeepCopy()
		add.Finalizers = append(add.Finalizers, "example.com/c")
		_, err := cms.Update(ctx(t), add, metav1.UpdateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "no new finalizers")
		// Other changes are still allowed.
		cm.Data["v"] = "2"
		cm.Finalizers = []string{"example.com/b"}
		cm = must[*corev1.ConfigMap](t)(cms.Update(ctx(t), cm, metav1.UpdateOptions{}))
		if cm.DeletionTimestamp == nil || cm.Data["v"] != "2" {
			t.Errorf("update of a deleting object: %+v", cm)
		}
		// Removing the last finalizer deletes it.
		cm.Finalizers = nil
		if _, err := cms.Update(ctx(t), cm, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err = cms.Get(ctx(t), "held", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("finalizer removed by patch", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		cm := configMap("held", "1", nil)
		cm.Finalizers = []string{"example.com/a"}
		must[*corev1.ConfigMap](t)(cms.Create(ctx(t), cm, metav1.CreateOptions{}))
		must[struct{}](t)(struct{}{}, cms.Delete(ctx(t), "held", metav1.DeleteOptions{}))
		if _, err := cms.Patch(ctx(t), "held", types.JSONPatchType, []byte(`[{"op":"remove","path":"/metadata/finalizers"}]`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		_, err := cms.Get(ctx(t), "held", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("propagation policy", func(t *testing.T) {
		ns := c.namespace(t)
		deps := c.Client.AppsV1().Deployments(ns)
		for _, tt := range []struct {
			policy    metav1.DeletionPropagation
			finalizer string // "" : deleted at once
		}{
			{metav1.DeletePropagationForeground, metav1.FinalizerDeleteDependents},
			{metav1.DeletePropagationOrphan, metav1.FinalizerOrphanDependents},
			{metav1.DeletePropagationBackground, ""},
		} {
			t.Run(string(tt.policy), func(t *testing.T) {
				name := dnsName(string(tt.policy))
				created := must[*appsv1.Deployment](t)(deps.Create(ctx(t), testDeployment(metav1.ObjectMeta{Name: name}), metav1.CreateOptions{}))
				if err := deps.Delete(ctx(t), name, metav1.DeleteOptions{PropagationPolicy: ptr.To(tt.policy)}); err != nil {
					t.Fatal(err)
				}
				d, err := deps.Get(ctx(t), name, metav1.GetOptions{})
				if tt.finalizer == "" {
					wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
					return
				}
				if err != nil {
					t.Fatal(err)
				}
				if d.DeletionTimestamp == nil || !slices.Equal(d.Finalizers, []string{tt.finalizer}) {
					t.Errorf("deletionTimestamp %v finalizers %v, want set and [%s]", d.DeletionTimestamp, d.Finalizers, tt.finalizer)
				}
				if d.Generation != created.Generation+1 {
					t.Errorf("generation %d after deletion started, want %d", d.Generation, created.Generation+1)
				}
			})
		}
		t.Run("orphanDependents and propagationPolicy together", func(t *testing.T) {
			err := deps.Delete(ctx(t), "x", metav1.DeleteOptions{OrphanDependents: ptr.To(true), PropagationPolicy: ptr.To(metav1.DeletePropagationOrphan)})
			wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		})
	})

	t.Run("deletecollection with a label selector", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		for _, n := range []string{"a", "b", "c"} {
			must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("x-"+n, "1", labelsOf("set", "x")), metav1.CreateOptions{}))
			must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("y-"+n, "1", labelsOf("set", "y")), metav1.CreateOptions{}))
		}
		if err := cms.DeleteCollection(ctx(t), metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: "set=x"}); err != nil {
			t.Fatal(err)
		}
		list := must[*corev1.ConfigMapList](t)(cms.List(ctx(t), metav1.ListOptions{}))
		var names []string
		for _, it := range list.Items {
			names = append(names, it.Name)
		}
		if want := []string{"y-a", "y-b", "y-c"}; !slices.Equal(names, want) {
			t.Errorf("left %v, want %v", names, want)
		}
	})

	t.Run("preconditions", func(t *testing.T) {
		ns := c.namespace(t)
		cms := c.Client.CoreV1().ConfigMaps(ns)
		cm := must[*corev1.ConfigMap](t)(cms.Create(ctx(t), configMap("p", "1", nil), metav1.CreateOptions{}))
		err := cms.Delete(ctx(t), "p", metav1.DeleteOptions{Preconditions: metav1.NewUIDPreconditions("not-the-uid")})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict, "Precondition failed: UID in precondition")
		err = cms.Delete(ctx(t), "p", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{ResourceVersion: ptr.To("1")}})
		wantAPIError(t, err, 409, metav1.StatusReasonConflict, "Precondition failed: ResourceVersion in precondition")
		must[*corev1.ConfigMap](t)(cms.Get(ctx(t), "p", metav1.GetOptions{}))
		if err := cms.Delete(ctx(t), "p", metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &cm.UID, ResourceVersion: &cm.ResourceVersion}}); err != nil {
			t.Fatal(err)
		}
		_, err = cms.Get(ctx(t), "p", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
		err = cms.Delete(ctx(t), "p", metav1.DeleteOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)
	})

	t.Run("pods", func(t *testing.T) {
		ns := c.namespace(t)
		pods := c.Client.CoreV1().Pods(ns)
		bound := testPod(metav1.ObjectMeta{Name: "bound"})
		bound.Spec.NodeName = "node1"
		bound.Spec.TerminationGracePeriodSeconds = ptr.To[int64](20)
		must[*corev1.Pod](t)(pods.Create(ctx(t), bound, metav1.CreateOptions{}))
		must[*corev1.Pod](t)(pods.Create(ctx(t), testPod(metav1.ObjectMeta{Name: "unbound"}), metav1.CreateOptions{}))

		before := time.Now()
		var code int
		res := c.Client.CoreV1().RESTClient().Delete().Namespace(ns).Resource("pods").Name("bound").Do(ctx(t)).StatusCode(&code)
		if err := res.Error(); err != nil {
			t.Fatal(err)
		}
		if code != 200 {
			t.Errorf("graceful delete answered %d, want 200 (as kube-apiserver)", code)
		}
		p := must[*corev1.Pod](t)(pods.Get(ctx(t), "bound", metav1.GetOptions{}))
		if p.DeletionTimestamp == nil || p.DeletionGracePeriodSeconds == nil || *p.DeletionGracePeriodSeconds != 20 {
			t.Fatalf("bound pod after delete: deletionTimestamp %v grace %v, want set and 20", p.DeletionTimestamp, p.DeletionGracePeriodSeconds)
		}
		if dt := p.DeletionTimestamp.Time; dt.Before(before.Add(18*time.Second)) || dt.After(time.Now().Add(21*time.Second)) {
			t.Errorf("deletionTimestamp %v, want about now + 20s", dt)
		}
		// A shorter grace period may follow.
		must[struct{}](t)(struct{}{}, pods.Delete(ctx(t), "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](5)}))
		p = must[*corev1.Pod](t)(pods.Get(ctx(t), "bound", metav1.GetOptions{}))
		if *p.DeletionGracePeriodSeconds != 5 {
			t.Errorf("grace after a shorter delete = %d, want 5", *p.DeletionGracePeriodSeconds)
		}
		// The agent confirms with grace period 0.
		must[struct{}](t)(struct{}{}, pods.Delete(ctx(t), "bound", metav1.DeleteOptions{GracePeriodSeconds: ptr.To[int64](0)}))
		_, err := pods.Get(ctx(t), "bound", metav1.GetOptions{})
		wantAPIError(t, err, 404, metav1.StatusReasonNotFound)

		must[struct{}](t)(struct{}{}, pods.Delete(ctx(t), "unbound", metav1.DeleteOptions{}))
		_, err = pods.Get(ctx(t), "unbound", metav1.GetOptions{})
		if !apierrors.IsNotFound(err) {
			t.Errorf("unbound pod after delete: %v, want NotFound at once", err)
		}
	})
}
