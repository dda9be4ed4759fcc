package gc

import (
	"context"
	"encoding/json"
	"fmt"
	"slices"

	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/metadata"
)

// maxPatchAttempts bounds re-reads after resourceVersion conflicts.
const maxPatchAttempts = 5

// live reads namespace/name of r from the API server; nil, nil when absent.
func (r *resource) live(ctx context.Context, client metadata.Interface, namespace, name string) (*metav1.PartialObjectMetadata, error) {
	m, err := client.Resource(r.gvr).Namespace(namespace).Get(ctx, name, metav1.GetOptions{})
	if isGone(err) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("gc: get %s %s/%s: %w", r.gvr.Resource, namespace, name, err)
	}
	return m, nil
}

// patchMeta applies a JSON merge patch to obj's metadata, computed by
// change from the current metadata, with the current resourceVersion as
// precondition. On a conflict it re-reads the object and tries again. An
// object that is gone or was replaced (other UID) needs nothing.
func (g *GC) patchMeta(ctx context.Context, r *resource, obj *metav1.PartialObjectMetadata, change func(cur *metav1.PartialObjectMetadata) map[string]any) error {
	cur := obj
	for range maxPatchAttempts {
		fields := change(cur)
		if fields == nil {
			return nil
		}
		fields["resourceVersion"] = cur.ResourceVersion
		data, err := json.Marshal(map[string]any{"metadata": fields})
		if err != nil {
			return fmt.Errorf("gc: encoding patch: %w", err)
		}
		_, err = g.client.Resource(r.gvr).Namespace(cur.Namespace).Patch(ctx, cur.Name, types.MergePatchType, data, metav1.PatchOptions{})
		switch {
		case err == nil, isGone(err):
			return nil
		case !apierrors.IsConflict(err):
			return fmt.Errorf("gc: patch %s %s/%s: %w", r.gvr.Resource, cur.Namespace, cur.Name, err)
		}
		cur, err = r.live(ctx, g.client, obj.Namespace, obj.Name)
		if err != nil || cur == nil || cur.UID != obj.UID {
			return err
		}
	}
	return fmt.Errorf("gc: patch %s %s/%s: still conflicting after %d attempts", r.gvr.Resource, obj.Namespace, obj.Name, maxPatchAttempts)
}

// patchOwnerRefs replaces obj's ownerReferences by mutate(current ones).
func (g *GC) patchOwnerRefs(ctx context.Context, r *resource, obj *metav1.PartialObjectMetadata, mutate func([]metav1.OwnerReference) []metav1.OwnerReference) error {
	return g.patchMeta(ctx, r, obj, func(cur *metav1.PartialObjectMetadata) map[string]any {
		next := mutate(slices.Clone(cur.OwnerReferences))
		if equality.Semantic.DeepEqual(normalizeRefs(next), normalizeRefs(cur.OwnerReferences)) {
			return nil
		}
		if len(next) == 0 {
			return map[string]any{"ownerReferences": nil}
		}
		return map[string]any{"ownerReferences": next}
	})
}

func normalizeRefs(refs []metav1.OwnerReference) []metav1.OwnerReference {
	if len(refs) == 0 {
		return nil
	}
	return refs
}

// removeFinalizer removes finalizer f from obj. The API server deletes an
// object being deleted once its last finalizer is gone.
func (g *GC) removeFinalizer(ctx context.Context, r *resource, obj *metav1.PartialObjectMetadata, f string) error {
	err := g.patchMeta(ctx, r, obj, func(cur *metav1.PartialObjectMetadata) map[string]any {
		if !slices.Contains(cur.Finalizers, f) {
			return nil
		}
		next := slices.DeleteFunc(slices.Clone(cur.Finalizers), func(x string) bool { return x == f })
		if len(next) == 0 {
			return map[string]any{"finalizers": nil}
		}
		return map[string]any{"finalizers": next}
	})
	if err == nil {
		g.log.Debug("removed finalizer", "finalizer", f, "resource", r.gvr.Resource, "namespace", obj.Namespace, "name", obj.Name)
	}
	return err
}

// deleteObject deletes obj with the given propagation, on the condition
// that it is still the same object (UID precondition).
func (g *GC) deleteObject(ctx context.Context, r *resource, obj *metav1.PartialObjectMetadata, policy metav1.DeletionPropagation) error {
	uid := obj.UID
	err := g.client.Resource(r.gvr).Namespace(obj.Namespace).Delete(ctx, obj.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &uid},
	})
	switch {
	case err == nil, isGone(err):
		return nil
	case apierrors.IsConflict(err):
		// The UID precondition failed: the name now holds another object.
		return nil
	}
	return fmt.Errorf("gc: delete %s %s/%s: %w", r.gvr.Resource, obj.Namespace, obj.Name, err)
}
