package gc

import (
	"context"
	"errors"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/controller"
)

// Reconcile processes the object named by key as an owner being deleted
// with foreground or orphan propagation, or as a dependent whose owners may
// be gone. It reads the cache and confirms with live reads before writing.
func (g *GC) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	prefix, ns, name, err := parseKey(key)
	if err != nil {
		g.log.Error("dropping key", "key", key, "err", err)
		return controller.Result{}, nil
	}
	r := g.byPrefix[prefix]
	if r == nil {
		return controller.Result{}, nil
	}
	m := r.cached(ns, name)
	switch {
	case m == nil:
		// Gone: its delete event enqueued its dependents.
		return controller.Result{}, nil
	case orphaning(m):
		return controller.Result{}, g.orphanDependents(ctx, r, m)
	case deletingDependents(m):
		return g.deleteDependents(ctx, r, m)
	case m.DeletionTimestamp != nil, len(m.OwnerReferences) == 0:
		return controller.Result{}, nil
	}
	return controller.Result{}, g.attemptToDelete(ctx, r, m)
}

// orphanDependents removes the ownerReferences to owner from all its
// dependents, then the orphan finalizer from owner.
func (g *GC) orphanDependents(ctx context.Context, r *resource, owner *metav1.PartialObjectMetadata) error {
	if !g.HasSynced() {
		return ErrCachesNotSynced
	}
	var errs []error
	for _, d := range g.dependents(r, owner) {
		err := g.patchOwnerRefs(ctx, d.res, d.obj, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return withoutRefs(refs, owner.UID)
		})
		if err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return err
	}
	g.log.Info("orphaned dependents", "resource", r.gvr.Resource, "namespace", owner.Namespace, "name", owner.Name)
	return g.removeFinalizer(ctx, r, owner, metav1.FinalizerOrphanDependents)
}

// deleteDependents drives foreground deletion of owner: its dependents are
// (re)considered for deletion, and once none with blockOwnerDeletion is
// left and every other one is deleting or gone (or no longer refers to
// owner), the foregroundDeletion finalizer is removed, which lets the API
// server delete owner.
func (g *GC) deleteDependents(ctx context.Context, r *resource, owner *metav1.PartialObjectMetadata) (controller.Result, error) {
	if !g.HasSynced() {
		return controller.Result{}, ErrCachesNotSynced
	}
	// The finalizer stays until every dependent has been dealt with, not
	// only the blocking ones: a dependent looked at after the owner left
	// foreground deletion would find it merely deleting and be kept.
	blocking, pending := 0, 0
	for _, d := range g.dependents(r, owner) {
		if ref, ok := refTo(d.obj, owner.UID); ok && ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			blocking++
		}
		if d.obj.DeletionTimestamp == nil {
			pending++
			g.ctrl.Enqueue(d.res.key(d.obj.Namespace, d.obj.Name))
		}
	}
	if blocking > 0 || pending > 0 {
		return controller.Result{RequeueAfter: g.cfg.WaitingRecheck}, nil
	}
	return controller.Result{}, g.removeFinalizer(ctx, r, owner, metav1.FinalizerDeleteDependents)
}

// classification sorts a dependent's ownerReferences.
type classification struct {
	solid    []metav1.OwnerReference // owner exists (or cannot be resolved)
	dangling []metav1.OwnerReference // owner absent, or replaced by another UID
	waiting  []metav1.OwnerReference // owner in foreground deletion
}

// attemptToDelete deletes a dependent whose owners are all gone or waiting
// for their dependents, or patches away the references to such owners when
// other owners remain.
func (g *GC) attemptToDelete(ctx context.Context, r *resource, cached *metav1.PartialObjectMetadata) error {
	// Cheap pass over the cache: nothing to do while every owner is there.
	quick, err := g.classify(ctx, cached, false)
	if err != nil || len(quick.dangling)+len(quick.waiting) == 0 {
		return err
	}
	latest, err := r.live(ctx, g.client, cached.Namespace, cached.Name)
	if err != nil || latest == nil || latest.UID != cached.UID || latest.DeletionTimestamp != nil {
		// Gone, replaced or already being deleted: its own events follow.
		return err
	}
	cls, err := g.classify(ctx, latest, true)
	if err != nil || len(cls.dangling)+len(cls.waiting) == 0 {
		// Every owner is there after all, or the object has none left: it
		// was orphaned since the cache saw it, and must not be deleted.
		return err
	}
	log := g.log.With("resource", r.gvr.Resource, "namespace", latest.Namespace, "name", latest.Name)
	switch {
	case len(cls.solid) > 0:
		var gone []types.UID
		for _, ref := range append(cls.dangling, cls.waiting...) {
			gone = append(gone, ref.UID)
		}
		log.Debug("removing references to absent or deleting owners", "owners", gone)
		return g.patchOwnerRefs(ctx, r, latest, func(refs []metav1.OwnerReference) []metav1.OwnerReference {
			return withoutRefs(refs, gone...)
		})
	case len(cls.waiting) > 0 && len(g.dependents(r, latest)) > 0:
		// Foreground deletion reaches through this object to its own
		// dependents. If one of them is itself deleting its dependents
		// (a cycle), stop blocking our owners so that nothing deadlocks.
		for _, d := range g.dependents(r, latest) {
			if deletingDependents(d.obj) {
				if err := g.patchOwnerRefs(ctx, r, latest, unblockRefs); err != nil {
					return err
				}
				break
			}
		}
		log.Info("deleting dependent of an owner in foreground deletion", "propagationPolicy", metav1.DeletePropagationForeground)
		return g.deleteObject(ctx, r, latest, metav1.DeletePropagationForeground)
	default:
		policy := metav1.DeletePropagationBackground
		switch {
		case hasFinalizer(latest, metav1.FinalizerOrphanDependents):
			policy = metav1.DeletePropagationOrphan
		case hasFinalizer(latest, metav1.FinalizerDeleteDependents):
			policy = metav1.DeletePropagationForeground
		}
		log.Info("deleting object whose owners are gone", "propagationPolicy", policy)
		return g.deleteObject(ctx, r, latest, policy)
	}
}

// classify sorts dep's ownerReferences. With live false it trusts the cache
// alone (an owner missing from it counts as dangling); with live true an
// owner missing from the cache is looked up by name on the API server and
// only counts as dangling when absent there or present with another UID.
func (g *GC) classify(ctx context.Context, dep *metav1.PartialObjectMetadata, live bool) (classification, error) {
	var c classification
	for _, ref := range dep.OwnerReferences {
		r := g.resolve(ref)
		if r == nil {
			// A kind Gantry does not serve: it cannot be verified, so it
			// keeps the dependent alive.
			c.solid = append(c.solid, ref)
			continue
		}
		ns, ok := ownerNamespace(r, dep)
		if !ok {
			// A cluster-scoped dependent naming a namespaced owner is never
			// collected, as in Kubernetes.
			c.solid = append(c.solid, ref)
			continue
		}
		if o := r.cachedOwner(ref, ns); o != nil {
			if deletingDependents(o) {
				c.waiting = append(c.waiting, ref)
			} else {
				c.solid = append(c.solid, ref)
			}
			continue
		}
		ak := absentKey{uid: string(ref.UID), namespace: ns}
		if !live || g.absent.has(ak) {
			c.dangling = append(c.dangling, ref)
			continue
		}
		owner, err := r.live(ctx, g.client, ns, ref.Name)
		switch {
		case err != nil:
			return c, err
		case owner == nil || owner.UID != ref.UID:
			g.absent.add(ak)
			c.dangling = append(c.dangling, ref)
		case deletingDependents(owner):
			c.waiting = append(c.waiting, ref)
		default:
			c.solid = append(c.solid, ref)
		}
	}
	return c, nil
}

// withoutRefs returns refs without the references to uids.
func withoutRefs(refs []metav1.OwnerReference, uids ...types.UID) []metav1.OwnerReference {
	var out []metav1.OwnerReference
	for _, ref := range refs {
		drop := false
		for _, uid := range uids {
			if ref.UID == uid {
				drop = true
				break
			}
		}
		if !drop {
			out = append(out, ref)
		}
	}
	return out
}

// unblockRefs clears blockOwnerDeletion on every reference.
func unblockRefs(refs []metav1.OwnerReference) []metav1.OwnerReference {
	out := make([]metav1.OwnerReference, len(refs))
	for i, ref := range refs {
		if ref.BlockOwnerDeletion != nil && *ref.BlockOwnerDeletion {
			f := false
			ref.BlockOwnerDeletion = &f
		}
		out[i] = ref
	}
	return out
}

// isGone reports errors meaning the object is no longer the one we meant.
func isGone(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsGone(err)
}
