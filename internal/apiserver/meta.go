package apiserver

import (
	"reflect"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/uuid"

	"github.com/gantry-dev/gantry/internal/api"
)

// nameSuffix returns the random part of a generated name; tests replace it.
var nameSuffix = func() string { return utilrand.String(5) }

// generateName is base plus a random suffix, base cut so that the name
// stays within 63 characters, as Kubernetes' SimpleNameGenerator does.
func generateName(base string) string {
	const maxBase = 63 - 5
	if len(base) > maxBase {
		base = base[:maxBase]
	}
	return base + nameSuffix()
}

// prepareForCreate sets the system metadata of a new object and resets
// what a client may not set on create (status of resources that have a
// status subresource, deletion fields).
func prepareForCreate(res *api.Resource, obj runtime.Object) {
	m := objectMeta(obj)
	if m.GetName() == "" && m.GetGenerateName() != "" {
		m.SetName(generateName(m.GetGenerateName()))
	}
	m.SetUID(uuid.NewUUID())
	m.SetCreationTimestamp(metav1.Now().Rfc3339Copy())
	m.SetDeletionTimestamp(nil)
	m.SetDeletionGracePeriodSeconds(nil)
	m.SetSelfLink("")
	if res.Generation {
		m.SetGeneration(1)
	} else {
		m.SetGeneration(0)
	}
	if res.HasSubresource(api.SubStatus) && res.Kind != "Node" {
		resetStatus(obj)
	}
	switch o := obj.(type) {
	case *corev1.Pod:
		o.Status.Phase = corev1.PodPending
		o.Status.QOSClass = qosClass(&o.Spec)
	case *corev1.Namespace:
		o.Status.Phase = corev1.NamespaceActive
		if len(o.Spec.Finalizers) == 0 {
			o.Spec.Finalizers = []corev1.FinalizerName{corev1.FinalizerKubernetes}
		}
	case *corev1.PersistentVolumeClaim:
		o.Status.Phase = corev1.ClaimPending
	case *corev1.PersistentVolume:
		o.Status.Phase = corev1.VolumePending
	}
}

// prepareForUpdate carries over from old what the main resource endpoint
// may not change: system metadata and, for resources with a status
// subresource, the status. It bumps generation when the spec changed.
func prepareForUpdate(res *api.Resource, obj, old runtime.Object) {
	m, om := objectMeta(obj), objectMeta(old)
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	m.SetSelfLink("")
	if res.HasSubresource(api.SubStatus) {
		copyField(obj, old, "Status")
	}
	switch o := obj.(type) {
	case *corev1.Namespace:
		// Only PUT .../finalize changes a namespace's spec.finalizers.
		o.Spec.Finalizers = old.(*corev1.Namespace).Spec.Finalizers
	case *corev1.Service:
		prepareServiceUpdate(o, old.(*corev1.Service))
	}
	if res.Generation && specChanged(obj, old) {
		m.SetGeneration(om.GetGeneration() + 1)
	}
}

// prepareForStatusUpdate keeps everything of old but the status and the
// metadata a status writer may change (annotations, finalizers…).
func prepareForStatusUpdate(obj, old runtime.Object) {
	m, om := objectMeta(obj), objectMeta(old)
	copyField(obj, old, "Spec")
	m.SetUID(om.GetUID())
	m.SetCreationTimestamp(om.GetCreationTimestamp())
	m.SetDeletionTimestamp(om.GetDeletionTimestamp())
	m.SetDeletionGracePeriodSeconds(om.GetDeletionGracePeriodSeconds())
	m.SetGeneration(om.GetGeneration())
	m.SetLabels(om.GetLabels())
	m.SetOwnerReferences(om.GetOwnerReferences())
	m.SetFinalizers(om.GetFinalizers())
}

// prepareForEphemeralContainersUpdate keeps everything of the stored pod
// old but its ephemeral containers, which come from obj, as a write of
// pods/ephemeralcontainers does in Kubernetes; a change to them is a spec
// change and bumps the generation.
func prepareForEphemeralContainersUpdate(obj, old runtime.Object) {
	pod, oldPod := obj.(*corev1.Pod), old.(*corev1.Pod)
	ephemeral, rv, managed := pod.Spec.EphemeralContainers, pod.ResourceVersion, pod.ManagedFields
	*pod = *oldPod.DeepCopy()
	pod.Spec.EphemeralContainers, pod.ResourceVersion, pod.ManagedFields = ephemeral, rv, managed
	if !equality.Semantic.DeepEqual(ephemeral, oldPod.Spec.EphemeralContainers) {
		pod.Generation = oldPod.Generation + 1
	}
}

// specChanged reports whether anything outside metadata and status differs.
func specChanged(obj, old runtime.Object) bool {
	a, b := obj.DeepCopyObject(), old.DeepCopyObject()
	for _, o := range []runtime.Object{a, b} {
		zeroField(o, "ObjectMeta")
		zeroField(o, "TypeMeta")
		zeroField(o, "Status")
	}
	return !equality.Semantic.DeepEqual(a, b)
}

func resetStatus(obj runtime.Object) { zeroField(obj, "Status") }

func structOf(obj runtime.Object) (reflect.Value, bool) {
	v := reflect.ValueOf(obj)
	if v.Kind() != reflect.Pointer || v.Elem().Kind() != reflect.Struct {
		return reflect.Value{}, false
	}
	return v.Elem(), true
}

func zeroField(obj runtime.Object, name string) {
	if v, ok := structOf(obj); ok {
		if f := v.FieldByName(name); f.IsValid() && f.CanSet() {
			f.Set(reflect.Zero(f.Type()))
		}
	}
}

// copyField sets dst.name = src.name for two objects of the same type.
func copyField(dst, src runtime.Object, name string) {
	d, ok1 := structOf(dst)
	s, ok2 := structOf(src)
	if !ok1 || !ok2 || d.Type() != s.Type() {
		return
	}
	if f := d.FieldByName(name); f.IsValid() && f.CanSet() {
		f.Set(s.FieldByName(name))
	}
}

// qosClass computes a pod's QoS class as Kubernetes does.
func qosClass(spec *corev1.PodSpec) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	zeroReq, guaranteed := true, true
	all := append(append([]corev1.Container{}, spec.InitContainers...), spec.Containers...)
	for _, c := range all {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zeroReq = false
			if cur, ok := requests[name]; ok {
				q.Add(cur)
			}
			requests[name] = q
		}
		seen := 0
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			zeroReq = false
			seen++
			if cur, ok := limits[name]; ok {
				q.Add(cur)
			}
			limits[name] = q
		}
		if seen < 2 {
			guaranteed = false
		}
	}
	if zeroReq {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if l, ok := limits[name]; !ok || l.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}
