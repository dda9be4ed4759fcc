package api

import (
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Subresource names the API server knows how to serve.
const (
	SubStatus   = "status"
	SubScale    = "scale"
	SubBinding  = "binding"
	SubEviction = "eviction"
	// SubToken is serviceaccounts/token (authentication.k8s.io/v1 TokenRequest).
	SubToken = "token"
	// SubEphemeralContainers is pods/ephemeralcontainers: the one way to
	// add ephemeral containers (kubectl debug) to a running pod.
	SubEphemeralContainers = "ephemeralcontainers"
)

// Resource describes one served group/version/resource: its Go types and
// the behaviour the API server applies to it. A Resource is immutable once
// the registry is built; the API server only reads it.
type Resource struct {
	// GVR is the group, version and plural resource name as it appears in URLs.
	GVR schema.GroupVersionResource
	// Kind is the object kind, e.g. "Deployment"; its list kind is Kind+"List".
	Kind string
	// Namespaced reports whether objects live in a namespace.
	Namespaced bool
	// ShortNames and Categories are published in discovery (kubectl uses them).
	ShortNames []string
	Categories []string
	// Subresources served under /<name>/<sub>, e.g. SubStatus, SubScale.
	Subresources []string
	// StorageResource, when set, names another resource whose storage this one
	// shares (autoscaling/v1 HPAs are stored as autoscaling/v2, events.k8s.io/v1
	// events as core/v1). Empty: own storage.
	StorageResource *schema.GroupVersionResource
	// ToStorage and FromStorage are set exactly when StorageResource is. They
	// convert an object of r (as returned by New) to one of the storage
	// resource and back, metadata (uid, resourceVersion, managedFields)
	// included. Neither modifies its argument nor returns memory shared with
	// it; an error means the argument is not of the expected type.
	ToStorage   func(obj runtime.Object) (runtime.Object, error)
	FromStorage func(stored runtime.Object) (runtime.Object, error)
	// Generation reports whether metadata.generation is maintained (set to 1
	// on create, bumped on every change outside metadata and status).
	Generation bool

	// New and NewList return empty typed objects.
	New     func() runtime.Object
	NewList func() runtime.Object

	// Strategy hooks; any may be nil. Objects passed are the typed objects
	// returned by New. Hooks never do I/O.
	//
	// Default fills defaults in place, as Kubernetes' defaulting functions do.
	Default func(obj runtime.Object)
	// Validate checks a new object; ValidateUpdate checks an update against
	// the stored object and is complete on its own (the API server calls
	// only it on updates, so it repeats the create rules that still apply). Both cover the whole object,
	// metadata included (name format, labels, annotations). Paths are
	// relative to the object root, e.g. field.NewPath("spec", "replicas").
	Validate       func(obj runtime.Object) field.ErrorList
	ValidateUpdate func(obj, old runtime.Object) field.ErrorList
	// Fields returns the field-selector fields of an object beyond
	// metadata.name and metadata.namespace (e.g. "spec.nodeName", "status.phase").
	Fields func(obj runtime.Object) fields.Set
	// Table renders rows for server-side `kubectl get` output. Nil: the
	// default NAME / AGE table.
	Table *TableConvertor
}

// HasSubresource reports whether sub is served for r.
func (r *Resource) HasSubresource(sub string) bool {
	for _, s := range r.Subresources {
		if s == sub {
			return true
		}
	}
	return false
}

// GroupVersionKind returns the kind of r's objects.
func (r *Resource) GroupVersionKind() schema.GroupVersionKind {
	return r.GVR.GroupVersion().WithKind(r.Kind)
}

// StorageGVR returns the resource whose storage holds r's objects.
func (r *Resource) StorageGVR() schema.GroupVersionResource {
	if r.StorageResource != nil {
		return *r.StorageResource
	}
	return r.GVR
}
