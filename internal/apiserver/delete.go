package apiserver

import (
	"context"
	"errors"
	"net/http"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// deleteOptions reads DeleteOptions from the body (if any) and the query.
func (s *Server) deleteOptions(r *http.Request) (*metav1.DeleteOptions, error) {
	opts := &metav1.DeleteOptions{}
	if r.ContentLength != 0 && r.Body != nil {
		data, err := s.readBody(r)
		if err != nil {
			return nil, err
		}
		if len(data) > 0 {
			info, ok := s.serializerFor(r.Header.Get("Content-Type"))
			if !ok {
				return nil, unsupportedMediaType(r.Header.Get("Content-Type"))
			}
			gvk := metav1.SchemeGroupVersion.WithKind("DeleteOptions")
			if _, _, err := info.Serializer.Decode(data, &gvk, opts); err != nil {
				return nil, badRequest("invalid DeleteOptions: %v", err)
			}
		}
	}
	if err := metainternalParams(r, opts); err != nil {
		return nil, err
	}
	for _, v := range opts.DryRun {
		if v != metav1.DryRunAll {
			return nil, badRequest("Invalid dry run value: %q", v)
		}
	}
	if opts.OrphanDependents != nil && opts.PropagationPolicy != nil {
		return nil, apierrors.NewInvalid(schema.GroupKind{Group: "meta.k8s.io", Kind: "DeleteOptions"}, "", nil)
	}
	return opts, nil
}

func (s *Server) handleDelete(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.subresource != "" {
		return apierrors.NewMethodNotSupported(req.groupResource(), "DELETE on a subresource")
	}
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	out, deleted, err := s.delete(r.Context(), req, req.name, opts)
	if err != nil {
		return err
	}
	// 202 only for a pending deletion asked for with orphanDependents=false,
	// as kube-apiserver answers (clients depend on 200 otherwise).
	code := http.StatusOK
	if !deleted && opts.OrphanDependents != nil && !*opts.OrphanDependents {
		code = http.StatusAccepted
	}
	if deleted && req.res.Kind != "Pod" {
		m := objectMeta(out)
		s.writeRaw(w, r, code, &metav1.Status{
			TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"},
			Status:   metav1.StatusSuccess,
			Details: &metav1.StatusDetails{
				Name: m.GetName(), Group: req.res.GVR.Group, Kind: req.res.GVR.Resource, UID: m.GetUID(),
			},
		}, schema.GroupVersion{Version: "v1"})
		return nil
	}
	s.writeObject(w, r, code, req.res, out)
	return nil
}

// delete deletes one object. It returns the object as last stored and
// whether it is gone (false: deletionTimestamp set, finalizers or a grace
// period pending).
//
// Propagation: Background (default) deletes now and lets the garbage
// collector remove dependents; Foreground adds the foregroundDeletion
// finalizer; Orphan adds the orphan finalizer. Both finalizers are
// removed by the garbage collector once it has done its part.
func (s *Server) delete(ctx context.Context, req *request, name string, opts *metav1.DeleteOptions) (runtime.Object, bool, error) {
	dryRun := len(opts.DryRun) > 0
	sub := *req
	sub.name = name
	for attempt := 0; ; attempt++ {
		current, err := req.store.get(ctx, req.namespace, name)
		if err != nil {
			return nil, false, err
		}
		m := objectMeta(current)
		if p := opts.Preconditions; p != nil {
			if p.UID != nil && *p.UID != m.GetUID() {
				return nil, false, apierrors.NewConflict(req.groupResource(), name, errors.New("Precondition failed: UID in precondition: "+string(*p.UID)+", UID in object meta: "+string(m.GetUID())))
			}
			if p.ResourceVersion != nil && *p.ResourceVersion != m.GetResourceVersion() {
				return nil, false, apierrors.NewConflict(req.groupResource(), name, errors.New("Precondition failed: ResourceVersion in precondition: "+*p.ResourceVersion+", ResourceVersion in object meta: "+m.GetResourceVersion()))
			}
		}
		next := current.DeepCopyObject()
		nm := objectMeta(next)
		graceful := s.gracefulDelete(next, opts)
		finalizers := nm.GetFinalizers()
		switch policy := propagation(req, opts); policy {
		case metav1.DeletePropagationForeground:
			finalizers = addFinalizer(removeFinalizer(finalizers, metav1.FinalizerOrphanDependents), metav1.FinalizerDeleteDependents)
		case metav1.DeletePropagationOrphan:
			finalizers = addFinalizer(removeFinalizer(finalizers, metav1.FinalizerDeleteDependents), metav1.FinalizerOrphanDependents)
		}
		nm.SetFinalizers(finalizers)
		if ns, ok := next.(*corev1.Namespace); ok {
			ns.Status.Phase = corev1.NamespaceTerminating
		}
		pending := len(finalizers) > 0 || graceful || namespaceBlocked(next)
		if !pending {
			if dryRun {
				return current, true, nil
			}
			out, err := req.store.delete(ctx, req.namespace, name, rvOf(current))
			if apierrors.IsConflict(err) && attempt < 10 {
				continue
			}
			if err != nil {
				return nil, false, err
			}
			s.afterDelete(ctx, req, out)
			return out, true, nil
		}
		if nm.GetDeletionTimestamp() == nil {
			now := metav1.Now().Rfc3339Copy()
			nm.SetDeletionTimestamp(&now)
			if nm.GetDeletionGracePeriodSeconds() == nil {
				zero := int64(0)
				nm.SetDeletionGracePeriodSeconds(&zero)
			}
		}
		// Starting deletion is a change controllers must observe: the
		// generation moves, as in Kubernetes.
		if m.GetDeletionTimestamp() == nil && nm.GetGeneration() > 0 {
			nm.SetGeneration(nm.GetGeneration() + 1)
		}
		if dryRun || !changed(next, current) {
			return next, false, nil
		}
		out, err := req.store.update(ctx, next, rvOf(current))
		if apierrors.IsConflict(err) && attempt < 10 {
			continue
		}
		if err != nil {
			return nil, false, err
		}
		return out, false, nil
	}
}

// gracefulDelete sets the grace period of a pod bound to a node: its agent
// stops the containers and then deletes the pod with grace period 0. It
// reports whether the object must wait for that.
func (s *Server) gracefulDelete(obj runtime.Object, opts *metav1.DeleteOptions) bool {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return false
	}
	grace := int64(corev1.DefaultTerminationGracePeriodSeconds)
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		grace = *pod.Spec.TerminationGracePeriodSeconds
	}
	if opts.GracePeriodSeconds != nil {
		grace = *opts.GracePeriodSeconds
	}
	// Unbound or finished pods have nothing to stop.
	if pod.Spec.NodeName == "" || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		grace = 0
	}
	if pod.DeletionTimestamp != nil {
		// Already terminating: a shorter grace period may be requested.
		if pod.DeletionGracePeriodSeconds != nil && *pod.DeletionGracePeriodSeconds <= grace {
			return *pod.DeletionGracePeriodSeconds > 0
		}
		if grace == 0 {
			return false
		}
	}
	if grace <= 0 {
		return false
	}
	now := metav1.NewTime(time.Now().Add(time.Duration(grace) * time.Second).Truncate(time.Second))
	pod.DeletionTimestamp = &now
	pod.DeletionGracePeriodSeconds = &grace
	return true
}

func propagation(req *request, opts *metav1.DeleteOptions) metav1.DeletionPropagation {
	if opts.PropagationPolicy != nil {
		return *opts.PropagationPolicy
	}
	if opts.OrphanDependents != nil && *opts.OrphanDependents {
		return metav1.DeletePropagationOrphan
	}
	return metav1.DeletePropagationBackground
}

func addFinalizer(fs []string, f string) []string {
	for _, x := range fs {
		if x == f {
			return fs
		}
	}
	return append(fs, f)
}

func removeFinalizer(fs []string, f string) []string {
	out := fs[:0:0]
	for _, x := range fs {
		if x != f {
			out = append(out, x)
		}
	}
	return out
}

func (s *Server) handleDeleteCollection(w http.ResponseWriter, r *http.Request, req *request) error {
	opts, err := s.deleteOptions(r)
	if err != nil {
		return err
	}
	lopts, err := listOptions(r)
	if err != nil {
		return err
	}
	list, err := s.list(r, req, lopts)
	if err != nil {
		return err
	}
	var deleted []runtime.Object
	for _, item := range listItems(list) {
		out, _, err := s.delete(r.Context(), req, objectMeta(item).GetName(), opts)
		if apierrors.IsNotFound(err) {
			continue
		}
		if err != nil {
			return err
		}
		deleted = append(deleted, out)
	}
	result := req.res.NewList()
	if err := setListItems(result, deleted); err != nil {
		return apierrors.NewInternalError(err)
	}
	s.writeObject(w, r, http.StatusOK, req.res, result)
	return nil
}

// afterDelete releases what the object held (service IPs and node ports).
func (s *Server) afterDelete(ctx context.Context, req *request, obj runtime.Object) {
	if svc, ok := obj.(*corev1.Service); ok {
		s.services.release(ctx, svc)
	}
}
