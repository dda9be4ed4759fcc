package api

import (
	"errors"
	"fmt"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Conversions between served versions that share one storage, as
// kube-apiserver does them: autoscaling/v1 HorizontalPodAutoscalers are
// stored as autoscaling/v2 (conversion_autoscaling.go), events.k8s.io/v1
// Events as core/v1 (conversion_events.go). The API server converts on
// every read and write of the resource with StorageResource set; the
// storage resource itself is never converted.
//
// Helpers in the conversion_*.go files are prefixed with "convert".

// ErrWrongType is returned by a Resource's ToStorage and FromStorage for an
// object of another type than the one they convert.
var ErrWrongType = errors.New("api: object of the wrong type for conversion")

// storedAs makes a resource serving type S share the storage of target,
// whose objects are of type T. toStorage may also apply the storage
// version's defaults (Kubernetes defaults on decoding from storage).
func storedAs[S, T runtime.Object](target schema.GroupVersionResource, toStorage func(S) T, fromStorage func(T) S) func(*Resource) {
	return func(r *Resource) {
		r.StorageResource = &target
		r.ToStorage = func(obj runtime.Object) (runtime.Object, error) {
			in, ok := obj.(S)
			if !ok {
				return nil, fmt.Errorf("%w: got %T, want %T", ErrWrongType, obj, in)
			}
			return toStorage(in), nil
		}
		r.FromStorage = func(obj runtime.Object) (runtime.Object, error) {
			in, ok := obj.(T)
			if !ok {
				return nil, fmt.Errorf("%w: got %T, want %T", ErrWrongType, obj, in)
			}
			return fromStorage(in), nil
		}
	}
}
