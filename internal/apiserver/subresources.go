package apiserver

import (
	"fmt"
	"net/http"

	appsv1 "k8s.io/api/apps/v1"
	autoscalingv1 "k8s.io/api/autoscaling/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantry-dev/gantry/internal/api"
)

var autoscalingV1 = autoscalingv1.SchemeGroupVersion

// scaleOf returns the autoscaling/v1 Scale view of a scalable object.
func scaleOf(res *api.Resource, obj runtime.Object) (*autoscalingv1.Scale, error) {
	var spec, status int32
	var sel *metav1.LabelSelector
	switch o := obj.(type) {
	case *appsv1.Deployment:
		spec, status, sel = deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.ReplicaSet:
		spec, status, sel = deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	case *appsv1.StatefulSet:
		spec, status, sel = deref(o.Spec.Replicas), o.Status.Replicas, o.Spec.Selector
	default:
		return nil, apierrors.NewNotFound(res.GVR.GroupResource(), "scale")
	}
	m := objectMeta(obj)
	selector := ""
	if s, err := metav1.LabelSelectorAsSelector(sel); err == nil {
		selector = s.String()
	}
	return &autoscalingv1.Scale{
		ObjectMeta: metav1.ObjectMeta{
			Name: m.GetName(), Namespace: m.GetNamespace(), UID: m.GetUID(),
			ResourceVersion: m.GetResourceVersion(), CreationTimestamp: m.GetCreationTimestamp(),
		},
		Spec:   autoscalingv1.ScaleSpec{Replicas: spec},
		Status: autoscalingv1.ScaleStatus{Replicas: status, Selector: selector},
	}, nil
}

func deref(p *int32) int32 {
	if p == nil {
		return 0
	}
	return *p
}

func setReplicas(obj runtime.Object, n int32) {
	switch o := obj.(type) {
	case *appsv1.Deployment:
		o.Spec.Replicas = &n
	case *appsv1.ReplicaSet:
		o.Spec.Replicas = &n
	case *appsv1.StatefulSet:
		o.Spec.Replicas = &n
	}
}

// handleScaleUpdate handles PUT .../scale.
func (s *Server) handleScaleUpdate(w http.ResponseWriter, r *http.Request, req *request, data []byte, opts writeOptions) error {
	scale := &autoscalingv1.Scale{}
	info, ok := s.serializerFor(r.Header.Get("Content-Type"))
	if !ok {
		return unsupportedMediaType(r.Header.Get("Content-Type"))
	}
	gvk := autoscalingV1.WithKind("Scale")
	if _, _, err := info.Serializer.Decode(data, &gvk, scale); err != nil {
		return badRequest("Scale in version \"v1\" cannot be handled as a Scale: %v", err)
	}
	return s.writeScale(w, r, req, scale, opts)
}

// patchScale handles PATCH .../scale by patching the Scale view.
func (s *Server) patchScale(w http.ResponseWriter, r *http.Request, req *request, pt types.PatchType, patch []byte, opts writeOptions) error {
	current, err := req.store.get(r.Context(), req.namespace, req.name)
	if err != nil {
		return err
	}
	scale, err := scaleOf(req.res, current)
	if err != nil {
		return err
	}
	scaleRes := &api.Resource{GVR: autoscalingV1.WithResource("scales"), Kind: "Scale", New: func() runtime.Object { return &autoscalingv1.Scale{} }}
	patched, err := s.patchObject(w, r, scaleRes, scale, pt, patch)
	if err != nil {
		return err
	}
	return s.writeScale(w, r, req, patched.(*autoscalingv1.Scale), opts)
}

func (s *Server) writeScale(w http.ResponseWriter, r *http.Request, req *request, scale *autoscalingv1.Scale, opts writeOptions) error {
	if scale.Spec.Replicas < 0 {
		return apierrors.NewInvalid(schema.GroupKind{Group: "autoscaling", Kind: "Scale"}, req.name,
			field.ErrorList{field.Invalid(field.NewPath("spec", "replicas"), scale.Spec.Replicas, "must be greater than or equal to 0")})
	}
	expected, err := parseRV(scale.ResourceVersion)
	if err != nil {
		return err
	}
	manager := managerFor(r, opts)
	main := *req
	main.subresource = ""
	out, err := s.update(r.Context(), &main, expected, opts, func(current runtime.Object) (runtime.Object, error) {
		next := current.DeepCopyObject()
		setReplicas(next, scale.Spec.Replicas)
		return next, s.applyUpdate(&main, next, current, manager)
	})
	if err != nil {
		return err
	}
	result, err := scaleOf(req.res, out)
	if err != nil {
		return err
	}
	s.writeRaw(w, r, http.StatusOK, result, autoscalingV1)
	return nil
}

// decodeBody reads and decodes the body of a subresource POST (Binding,
// Eviction, TokenRequest) into into, of kind gvk.
func (s *Server) decodeBody(r *http.Request, into runtime.Object, gvk schema.GroupVersionKind) error {
	data, err := s.readBody(r)
	if err != nil {
		return err
	}
	info, ok := s.serializerFor(r.Header.Get("Content-Type"))
	if !ok {
		return unsupportedMediaType(r.Header.Get("Content-Type"))
	}
	if _, _, err := info.Serializer.Decode(data, &gvk, into); err != nil {
		return badRequest("%s in version %q cannot be handled as a %s: %v", gvk.Kind, gvk.Version, gvk.Kind, err)
	}
	return nil
}

// handleBinding binds a pod to a node (POST pods/{name}/binding), as the
// scheduler does. A pod already bound gets 409 Conflict.
func (s *Server) handleBinding(w http.ResponseWriter, r *http.Request, req *request) error {
	b := &corev1.Binding{}
	if err := s.decodeBody(r, b, corev1.SchemeGroupVersion.WithKind("Binding")); err != nil {
		return err
	}
	if b.Name != "" && b.Name != req.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", b.Name, req.name)
	}
	if b.Target.Kind != "" && b.Target.Kind != "Node" || b.Target.Name == "" {
		return apierrors.NewInvalid(schema.GroupKind{Kind: "Binding"}, req.name, field.ErrorList{field.Required(field.NewPath("target", "name"), "")})
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	podReq := *req
	podReq.subresource = ""
	_, err = s.update(r.Context(), &podReq, 0, opts, func(current runtime.Object) (runtime.Object, error) {
		pod := current.DeepCopyObject().(*corev1.Pod)
		if pod.DeletionTimestamp != nil {
			return nil, apierrors.NewConflict(req.groupResource(), req.name, fmt.Errorf("pod %s is being deleted, cannot be assigned to a host", req.name))
		}
		if pod.Spec.NodeName != "" {
			return nil, apierrors.NewConflict(req.groupResource(), req.name, fmt.Errorf("pod %s is already assigned to node %q", req.name, pod.Spec.NodeName))
		}
		pod.Spec.NodeName = b.Target.Name
		for k, v := range b.Annotations {
			if pod.Annotations == nil {
				pod.Annotations = map[string]string{}
			}
			pod.Annotations[k] = v
		}
		setPodCondition(pod, corev1.PodCondition{Type: corev1.PodScheduled, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now().Rfc3339Copy()})
		return pod, nil
	})
	if err != nil {
		return err
	}
	s.writeRaw(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}, schema.GroupVersion{Version: "v1"})
	return nil
}

func setPodCondition(pod *corev1.Pod, c corev1.PodCondition) {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == c.Type {
			pod.Status.Conditions[i] = c
			return
		}
	}
	pod.Status.Conditions = append(pod.Status.Conditions, c)
}

// handleEviction deletes a pod through the Eviction API, honouring the
// PodDisruptionBudgets that match it (eviction.go).
func (s *Server) handleEviction(w http.ResponseWriter, r *http.Request, req *request) error {
	ev := &policyv1.Eviction{}
	if err := s.decodeBody(r, ev, policyv1.SchemeGroupVersion.WithKind("Eviction")); err != nil {
		return err
	}
	if ev.Name != "" && ev.Name != req.name {
		return badRequest("name in URL does not match name in Eviction object")
	}
	opts, err := evictionDeleteOptions(ev, r.URL.Query()["dryRun"])
	if err != nil {
		return err
	}
	podReq := *req
	podReq.subresource = ""
	if err := s.evict(r.Context(), &podReq, opts); err != nil {
		return err
	}
	s.writeRaw(w, r, http.StatusCreated, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusSuccess, Code: http.StatusCreated}, schema.GroupVersion{Version: "v1"})
	return nil
}
