package apiserver

import (
	"context"
	"fmt"
	"net/http"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantry-dev/gantry/internal/api"
)

// writeOptions are the query parameters shared by create, update and patch.
type writeOptions struct {
	dryRun       bool
	fieldManager string
}

func parseWriteOptions(r *http.Request) (writeOptions, error) {
	q := r.URL.Query()
	var o writeOptions
	for _, v := range q["dryRun"] {
		if v != metav1.DryRunAll {
			return o, badRequest("Invalid dry run value: %q", v)
		}
		o.dryRun = true
	}
	o.fieldManager = q.Get("fieldManager")
	if len(o.fieldManager) > 128 {
		return o, badRequest("fieldManager: Too long: must have at most 128 bytes")
	}
	return o, nil
}

func (s *Server) handleCreate(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.name != "" && req.subresource == "" {
		return apierrors.NewMethodNotSupported(req.groupResource(), "POST on an object")
	}
	switch req.subresource {
	case api.SubBinding:
		return s.handleBinding(w, r, req)
	case api.SubEviction:
		return s.handleEviction(w, r, req)
	case api.SubToken:
		return s.handleTokenRequest(w, r, req)
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	data, err := s.readBody(r)
	if err != nil {
		return err
	}
	obj, err := s.decodeObject(w, r, req.res, data, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	if err := s.checkNamespace(r.Context(), req, obj, true); err != nil {
		return err
	}
	m := objectMeta(obj)
	if m.GetResourceVersion() != "" {
		return badRequest("resourceVersion should not be set on objects to be created")
	}
	out, err := s.create(r.Context(), req, obj, opts, managerFor(r, opts))
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusCreated, req.res, out)
	return nil
}

// maxNameGenerationAttempts is kube-apiserver's limit on generating a
// free name for a create with generateName.
const maxNameGenerationAttempts = 8

// create runs the create pipeline: system metadata, defaults, validation,
// managed fields for manager, admission (allocations), storage.
func (s *Server) create(ctx context.Context, req *request, obj runtime.Object, opts writeOptions, manager string) (runtime.Object, error) {
	res := req.res
	generated := objectMeta(obj).GetName() == "" && objectMeta(obj).GetGenerateName() != ""
	prepareForCreate(res, obj)
	m := objectMeta(obj)
	if m.GetName() == "" {
		return nil, apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), "", field.ErrorList{field.Required(field.NewPath("metadata", "name"), "name or generateName is required")})
	}
	if res.Default != nil {
		res.Default(obj)
	}
	if res.Validate != nil {
		if errs := res.Validate(obj); len(errs) > 0 {
			return nil, apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), m.GetName(), errs)
		}
	}
	if manager != "" { // "" when apply has already set managed fields
		if err := s.updateManagedFields(res, obj, nil, manager, ""); err != nil {
			return nil, err
		}
	}
	release, err := s.admitCreate(ctx, req, obj, opts.dryRun)
	if err != nil {
		return nil, err
	}
	if opts.dryRun {
		return obj, nil
	}
	out, err := req.store.create(ctx, obj)
	// A generated name that is taken is generated again, as Kubernetes
	// does since RetryGenerateName (GA in 1.32): up to 8 attempts in all.
	for attempt := 1; generated && apierrors.IsAlreadyExists(err) && attempt < maxNameGenerationAttempts; attempt++ {
		m.SetName(generateName(m.GetGenerateName()))
		out, err = req.store.create(ctx, obj)
	}
	if err != nil {
		release()
		if apierrors.IsAlreadyExists(err) && generated {
			return nil, apierrors.NewServerTimeout(req.groupResource(), "POST", 0)
		}
		return nil, err
	}
	return out, nil
}

// checkNamespace reconciles the object's namespace with the URL's and, on
// create, refuses namespaces that do not exist or are terminating.
func (s *Server) checkNamespace(ctx context.Context, req *request, obj runtime.Object, creating bool) error {
	m := objectMeta(obj)
	if !req.res.Namespaced {
		m.SetNamespace("")
		return nil
	}
	if m.GetNamespace() == "" {
		m.SetNamespace(req.namespace)
	}
	if m.GetNamespace() != req.namespace {
		return badRequest("the namespace of the provided object does not match the namespace sent on the request")
	}
	if !creating {
		return nil
	}
	// Like kube-apiserver's NamespaceLifecycle admission, which checks its
	// informer cache and makes a live lookup only on a miss: a consistent
	// read on every create would queue behind etcd's raft loop (a read
	// index round per request), serialising concurrent creates.
	nsRes := s.cfg.Registry.Get(corev1.SchemeGroupVersion.WithResource("namespaces"))
	nsObj, err := s.objectStore(nsRes).getLocal(ctx, "", req.namespace)
	if err != nil {
		if apierrors.IsNotFound(err) {
			return apierrors.NewNotFound(corev1.Resource("namespaces"), req.namespace)
		}
		return err
	}
	if ns := nsObj.(*corev1.Namespace); ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return apierrors.NewForbidden(req.groupResource(), objectMeta(obj).GetName(),
			fmt.Errorf("unable to create new content in namespace %s because it is being terminated", req.namespace))
	}
	return nil
}

func (s *Server) handleUpdate(w http.ResponseWriter, r *http.Request, req *request) error {
	if req.name == "" {
		return apierrors.NewMethodNotSupported(req.groupResource(), "PUT on a collection")
	}
	opts, err := parseWriteOptions(r)
	if err != nil {
		return err
	}
	data, err := s.readBody(r)
	if err != nil {
		return err
	}
	if req.subresource == api.SubScale {
		return s.handleScaleUpdate(w, r, req, data, opts)
	}
	obj, err := s.decodeObject(w, r, req.res, data, r.Header.Get("Content-Type"))
	if err != nil {
		return err
	}
	if err := s.checkNamespace(r.Context(), req, obj, false); err != nil {
		return err
	}
	m := objectMeta(obj)
	if m.GetName() != req.name {
		return badRequest("the name of the object (%s) does not match the name on the URL (%s)", m.GetName(), req.name)
	}
	expected, err := parseRV(m.GetResourceVersion())
	if err != nil {
		return err
	}
	manager := managerFor(r, opts)
	out, err := s.update(r.Context(), req, expected, opts, func(current runtime.Object) (runtime.Object, error) {
		next := obj.DeepCopyObject()
		return next, s.applyUpdate(req, next, current, manager)
	})
	if err != nil {
		return err
	}
	s.writeObject(w, r, http.StatusOK, req.res, out)
	return nil
}

// applyUpdate turns a client's full object into the object to store,
// according to the subresource being written.
func (s *Server) applyUpdate(req *request, obj, current runtime.Object, manager string) error {
	res := req.res
	// Defaults first, as Kubernetes' decoder applies them: whether the
	// spec changed (generation) and whether anything changed at all (a
	// no-op write) are judged on the defaulted object.
	if res.Default != nil {
		res.Default(obj)
	}
	switch req.subresource {
	case api.SubStatus:
		prepareForStatusUpdate(obj, current)
	case api.SubEphemeralContainers:
		prepareForEphemeralContainersUpdate(obj, current)
	case "finalize":
		ns, cur := obj.(*corev1.Namespace), current.(*corev1.Namespace)
		finalizers := ns.Spec.Finalizers
		*ns = *cur.DeepCopy()
		ns.Spec.Finalizers = finalizers
	case "":
		prepareForUpdate(res, obj, current)
	}
	om, cm := objectMeta(obj), objectMeta(current)
	if cm.GetDeletionTimestamp() != nil {
		if added := newFinalizers(om.GetFinalizers(), cm.GetFinalizers()); len(added) > 0 {
			return apierrors.NewInvalid(res.GroupVersionKind().GroupKind(), om.GetName(), field.ErrorList{field.Forbidden(field.NewPath("metadata", "finalizers"),
				fmt.Sprintf("no new finalizers can be added if the object is being deleted, found new finalizers %q", added))})
		}
	}
	if err := s.validateUpdate(req, obj, current); err != nil {
		return err
	}
	return s.updateManagedFields(res, obj, current, manager, req.subresource)
}

func newFinalizers(now, before []string) []string {
	have := map[string]bool{}
	for _, f := range before {
		have[f] = true
	}
	var added []string
	for _, f := range now {
		if !have[f] {
			added = append(added, f)
		}
	}
	return added
}

// update reads the current object, lets mutate compute the next one and
// writes it with compare-and-swap. With expected == 0 a conflict caused by a
// concurrent writer is retried; otherwise the client's precondition holds
// and a stale resourceVersion is a 409 Conflict. An update that leaves a
// deleting object with no finalizers deletes it.
func (s *Server) update(ctx context.Context, req *request, expected int64, opts writeOptions, mutate func(current runtime.Object) (runtime.Object, error)) (runtime.Object, error) {
	for attempt := 0; ; attempt++ {
		current, err := req.store.get(ctx, req.namespace, req.name)
		if err != nil {
			return nil, err
		}
		curRV := rvOf(current)
		if expected != 0 && expected != curRV {
			return nil, apierrors.NewConflict(req.groupResource(), req.name, fmt.Errorf(errMsgModified))
		}
		next, err := mutate(current)
		if err != nil {
			return nil, err
		}
		commit, undo, err := s.admitUpdate(ctx, req, next, current, opts.dryRun)
		if err != nil {
			return nil, err
		}
		if opts.dryRun {
			setRV(next, curRV)
			return next, nil
		}
		m := objectMeta(next)
		if m.GetDeletionTimestamp() != nil && len(m.GetFinalizers()) == 0 && !namespaceBlocked(next) {
			undo()
			out, err := req.store.delete(ctx, req.namespace, req.name, curRV)
			if apierrors.IsConflict(err) && expected == 0 && attempt < 10 {
				continue
			}
			if err == nil {
				s.afterDelete(ctx, req, out)
				// The response carries the final state, as Kubernetes returns it.
				setRV(next, rvOf(out))
				return next, nil
			}
			return nil, err
		}
		if !changed(next, current) {
			undo()
			return current, nil
		}
		out, err := req.store.update(ctx, next, curRV)
		if err != nil {
			undo()
			if apierrors.IsConflict(err) && expected == 0 && attempt < 10 {
				continue
			}
			return nil, err
		}
		commit()
		return out, nil
	}
}

// namespaceBlocked reports whether a deleting namespace still has spec
// finalizers (the namespace controller removes them after emptying it).
func namespaceBlocked(obj runtime.Object) bool {
	ns, ok := obj.(*corev1.Namespace)
	return ok && len(ns.Spec.Finalizers) > 0
}

// changed reports whether next differs from current ignoring the
// resourceVersion (a no-op update does not write, as in Kubernetes).
func changed(next, current runtime.Object) bool {
	a, b := next.DeepCopyObject(), current.DeepCopyObject()
	objectMeta(a).SetResourceVersion("")
	objectMeta(b).SetResourceVersion("")
	zeroField(a, "TypeMeta")
	zeroField(b, "TypeMeta")
	return !semanticEqual(a, b)
}
