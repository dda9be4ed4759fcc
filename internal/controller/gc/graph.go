package gc

import (
	"fmt"
	"strings"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"
)

// Index names on every cache; prefixed, as the caches may be shared with
// other controllers that add indexes of their own.
const (
	uidIndex   = "gc-uid"
	ownerIndex = "gc-ownerUID"
)

func indexByUID(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	return []string{string(m.GetUID())}, nil
}

func indexByOwnerUID(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	refs := m.GetOwnerReferences()
	if len(refs) == 0 {
		return nil, nil
	}
	out := make([]string, 0, len(refs))
	for _, ref := range refs {
		out = append(out, string(ref.UID))
	}
	return out, nil
}

// gvrPrefix renders a GVR without slashes: "deployments.v1.apps",
// "configmaps.v1." for the core group.
func gvrPrefix(gvr schema.GroupVersionResource) string {
	return gvr.Resource + "." + gvr.Version + "." + gvr.Group
}

// key returns the work-queue key of an object of r.
func (r *resource) key(namespace, name string) string {
	return r.prefix + "/" + namespace + "/" + name
}

// parseKey splits a key into its resource prefix, namespace and name.
func parseKey(key string) (prefix, namespace, name string, err error) {
	parts := strings.SplitN(key, "/", 3)
	if len(parts) != 3 || parts[0] == "" || parts[2] == "" {
		return "", "", "", fmt.Errorf("gc: malformed key %q", key)
	}
	return parts[0], parts[1], parts[2], nil
}

// cached returns the cached metadata of namespace/name in r, or nil.
func (r *resource) cached(namespace, name string) *metav1.PartialObjectMetadata {
	k := name
	if namespace != "" {
		k = namespace + "/" + name
	}
	obj, ok, err := r.informer.GetIndexer().GetByKey(k)
	if err != nil || !ok {
		return nil
	}
	return asMeta(obj)
}

// resolve finds the cached resource an owner reference points to: the
// served resource of its apiVersion and kind, or failing that any served
// version of the same group and kind (the UID is the same object). It
// returns nil for kinds Gantry does not serve.
func (g *GC) resolve(ref metav1.OwnerReference) *resource {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil
	}
	res := g.reg.ForKind(gv.WithKind(ref.Kind))
	if res == nil {
		for _, r := range g.reg.All() {
			if r.GVR.Group == gv.Group && r.Kind == ref.Kind {
				res = r
				break
			}
		}
	}
	if res == nil {
		return nil
	}
	return g.resources[res.StorageGVR()]
}

// ownerNamespace is the namespace in which a dependent's owner of kind r
// must live: the dependent's own for namespaced owners, "" for
// cluster-scoped ones. ok is false when the reference cannot be valid (a
// cluster-scoped dependent naming a namespaced kind).
func ownerNamespace(r *resource, dependent *metav1.PartialObjectMetadata) (ns string, ok bool) {
	if !r.api.Namespaced {
		return "", true
	}
	if dependent.Namespace == "" {
		return "", false
	}
	return dependent.Namespace, true
}

// cachedOwner returns the cached owner that ref names for a dependent in
// namespace ns, or nil if the cache has no such object (same UID, same name,
// right namespace).
func (r *resource) cachedOwner(ref metav1.OwnerReference, ns string) *metav1.PartialObjectMetadata {
	objs, err := r.informer.GetIndexer().ByIndex(uidIndex, string(ref.UID))
	if err != nil {
		return nil
	}
	for _, obj := range objs {
		if m := asMeta(obj); m != nil && m.Name == ref.Name && m.Namespace == ns {
			return m
		}
	}
	return nil
}

// dependent is one cached object that names an owner.
type dependent struct {
	res *resource
	obj *metav1.PartialObjectMetadata
}

// dependents returns the cached objects with an ownerReference to owner
// (an object of kind r). Dependents in another namespace than a namespaced
// owner do not count: their reference resolves to nothing.
func (g *GC) dependents(r *resource, owner *metav1.PartialObjectMetadata) []dependent {
	var out []dependent
	for _, dr := range g.resources {
		objs, err := dr.informer.GetIndexer().ByIndex(ownerIndex, string(owner.UID))
		if err != nil {
			continue
		}
		for _, obj := range objs {
			m := asMeta(obj)
			if m == nil || (r.api.Namespaced && m.Namespace != owner.Namespace) {
				continue
			}
			out = append(out, dependent{res: dr, obj: m})
		}
	}
	return out
}

// refTo returns dep's ownerReference to uid, if any.
func refTo(dep *metav1.PartialObjectMetadata, uid types.UID) (metav1.OwnerReference, bool) {
	for _, ref := range dep.OwnerReferences {
		if ref.UID == uid {
			return ref, true
		}
	}
	return metav1.OwnerReference{}, false
}

func hasFinalizer(m *metav1.PartialObjectMetadata, f string) bool {
	for _, x := range m.Finalizers {
		if x == f {
			return true
		}
	}
	return false
}

// deletingDependents reports whether m is in foreground deletion.
func deletingDependents(m *metav1.PartialObjectMetadata) bool {
	return m.DeletionTimestamp != nil && hasFinalizer(m, metav1.FinalizerDeleteDependents)
}

// orphaning reports whether m is being deleted with orphan propagation.
func orphaning(m *metav1.PartialObjectMetadata) bool {
	return m.DeletionTimestamp != nil && hasFinalizer(m, metav1.FinalizerOrphanDependents)
}

// interesting reports whether m needs the collector's attention at all.
func interesting(m *metav1.PartialObjectMetadata) bool {
	return len(m.OwnerReferences) > 0 || deletingDependents(m) || orphaning(m)
}

// handler maps informer events of r to keys.
func (g *GC) handler(r *resource) cache.ResourceEventHandler {
	return cache.ResourceEventHandlerFuncs{
		AddFunc: func(obj any) {
			if m := asMeta(obj); m != nil && interesting(m) {
				g.ctrl.Enqueue(r.key(m.Namespace, m.Name))
			}
		},
		UpdateFunc: func(oldObj, newObj any) {
			m := asMeta(newObj)
			if m == nil {
				return
			}
			if interesting(m) {
				g.ctrl.Enqueue(r.key(m.Namespace, m.Name))
			}
			// A dependent that changed may unblock an owner waiting for it.
			if old := asMeta(oldObj); old != nil {
				g.enqueueDeletingOwners(old)
			}
			g.enqueueDeletingOwners(m)
		},
		DeleteFunc: func(obj any) {
			m := asMeta(obj)
			if m == nil {
				return
			}
			// Its dependents may have lost their last owner.
			for _, d := range g.dependents(r, m) {
				g.ctrl.Enqueue(d.res.key(d.obj.Namespace, d.obj.Name))
			}
			// Owners waiting for it may be done.
			g.enqueueDeletingOwners(m)
		},
	}
}

// enqueueDeletingOwners enqueues the cached owners of m that are in
// foreground or orphan deletion.
func (g *GC) enqueueDeletingOwners(m *metav1.PartialObjectMetadata) {
	for _, ref := range m.OwnerReferences {
		r := g.resolve(ref)
		if r == nil {
			continue
		}
		ns, ok := ownerNamespace(r, m)
		if !ok {
			continue
		}
		if o := r.cachedOwner(ref, ns); o != nil && (deletingDependents(o) || orphaning(o)) {
			g.ctrl.Enqueue(r.key(o.Namespace, o.Name))
		}
	}
}

// asMeta returns the metadata of a cached object: the object itself from a
// metadata informer, or a shallow copy of a typed object's metadata from a
// shared typed informer (which the collector must not modify). It returns
// nil for anything else.
func asMeta(obj any) *metav1.PartialObjectMetadata {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	switch o := obj.(type) {
	case *metav1.PartialObjectMetadata:
		return o
	case metav1.ObjectMetaAccessor:
		if m, ok := o.GetObjectMeta().(*metav1.ObjectMeta); ok {
			return &metav1.PartialObjectMetadata{ObjectMeta: *m}
		}
	}
	return nil
}
