package api

import "k8s.io/apimachinery/pkg/api/meta"

// DropManagedFields is an informer transform (cache.TransformFunc) that
// drops managedFields from cached objects: they are a large part of every
// object, and no component that caches objects reads them. (An update sent
// from a cached object, with them unset, keeps the stored ones.)
func DropManagedFields(obj any) (any, error) {
	if m, err := meta.Accessor(obj); err == nil {
		m.SetManagedFields(nil)
	}
	return obj, nil
}
