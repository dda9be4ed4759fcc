package apiserver

import (
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"

	"github.com/gantry-dev/gantry/internal/api"
)

// sharedStorageConvertor is the object convertor of the field managers.
// A managedFields entry keeps the version its manager wrote with, so an
// object of a resource that shares storage with another (autoscaling/v1
// and v2 HPAs, core and events.k8s.io events) can carry entries of either
// served version, and the field manager converts the object to each
// entry's version to track that manager's fields. The scheme knows no
// conversions between the k8s.io/api types; this convertor converts
// between served versions that share a storage through the storage
// version, with the registry's ToStorage and FromStorage, and leaves
// everything else to the scheme.
type sharedStorageConvertor struct {
	scheme *runtime.Scheme
	reg    *api.Registry
}

var _ runtime.ObjectConvertor = sharedStorageConvertor{}

func newSharedStorageConvertor(scheme *runtime.Scheme, reg *api.Registry) runtime.ObjectConvertor {
	return sharedStorageConvertor{scheme: scheme, reg: reg}
}

// Convert converts in to out as the scheme does.
func (c sharedStorageConvertor) Convert(in, out, context interface{}) error {
	return c.scheme.Convert(in, out, context)
}

// ConvertFieldLabel converts a field selector label as the scheme does.
func (c sharedStorageConvertor) ConvertFieldLabel(gvk schema.GroupVersionKind, label, value string) (string, string, error) {
	return c.scheme.ConvertFieldLabel(gvk, label, value)
}

// ConvertToVersion returns in (typed or unstructured) as a typed object of
// target's version. Between two served versions of one storage it converts
// through the storage version; otherwise the scheme converts.
func (c sharedStorageConvertor) ConvertToVersion(in runtime.Object, target runtime.GroupVersioner) (runtime.Object, error) {
	gv, ok := target.(schema.GroupVersion)
	if !ok {
		return c.scheme.ConvertToVersion(in, target)
	}
	from := in.GetObjectKind().GroupVersionKind()
	if _, unstructured := in.(runtime.Unstructured); !unstructured {
		kinds, _, err := c.scheme.ObjectKinds(in)
		if err != nil {
			return nil, err
		}
		from = kinds[0]
	}
	src, dst := c.reg.ForKind(from), c.reg.ForKind(gv.WithKind(from.Kind))
	if src == nil || dst == nil || src == dst || src.StorageGVR() != dst.StorageGVR() {
		return c.scheme.ConvertToVersion(in, target)
	}
	obj := in
	if u, ok := in.(runtime.Unstructured); ok {
		obj = src.New()
		if err := runtime.DefaultUnstructuredConverter.FromUnstructured(u.UnstructuredContent(), obj); err != nil {
			return nil, fmt.Errorf("converting %s to %s: %w", from, gv, err)
		}
	}
	var err error
	if src.ToStorage != nil {
		if obj, err = src.ToStorage(obj); err != nil {
			return nil, err
		}
	}
	if dst.FromStorage != nil {
		if obj, err = dst.FromStorage(obj); err != nil {
			return nil, err
		}
	}
	obj.GetObjectKind().SetGroupVersionKind(dst.GroupVersionKind())
	return obj, nil
}
