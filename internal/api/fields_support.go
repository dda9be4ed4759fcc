package api

import (
	"errors"
	"slices"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// ErrFieldLabelNotSupported matches, with errors.Is, every error
// CheckFieldLabel returns.
var ErrFieldLabelNotSupported = errors.New("api: field label not supported")

// FieldLabelError reports a field-selector label that a resource does not
// support. Its Error text is exactly the one Kubernetes gives for that kind:
//
//	field label not supported: spec.foo                   (pods, services, events, secrets, nodes, namespaces, replica sets)
//	field label "spec.foo" not supported for batchv1.Job  (jobs)
//	"spec.foo" is not a known field selector: only "metadata.name", "metadata.namespace"   (every other kind)
//
// The API server answers a list or watch using such a label with 400
// BadRequest (metav1.Status reason BadRequest) whose message is exactly the
// Error text, as kube-apiserver does; kubectl itself prefixes it with
// `Unable to find "<gvr>" that match label selector "<ls>", field selector "<fs>": `.
type FieldLabelError struct {
	Resource schema.GroupVersionResource
	Label    string
	msg      string
}

func (e *FieldLabelError) Error() string { return e.msg }

// Is makes errors.Is(err, ErrFieldLabelNotSupported) true.
func (e *FieldLabelError) Is(target error) bool { return target == ErrFieldLabelNotSupported }

// CheckFieldLabel returns nil when label may be used in a field selector on
// r, else a *FieldLabelError. metadata.name is always supported, and so is
// metadata.namespace except on nodes and namespaces (as in Kubernetes, whose
// conversion functions for those two kinds do not accept it). The other
// labels are those r.Fields returns (plus pods' status.podIPs, accepted but
// never set, as in Kubernetes).
func CheckFieldLabel(r *Resource, label string) error {
	var gvr schema.GroupVersionResource
	if r != nil {
		gvr = r.GVR
	}
	spec := fieldsSpecFor(gvr)
	switch {
	case label == "metadata.name":
		return nil
	case label == "metadata.namespace" && !spec.noNamespaceLabel:
		return nil
	case slices.Contains(spec.labels, label):
		return nil
	}
	msg := fieldsNotKnown
	if spec.message != nil {
		msg = spec.message
	}
	return &FieldLabelError{Resource: gvr, Label: label, msg: msg(label)}
}

// FieldLabelSupported reports whether label may be used in a field selector
// on r; see CheckFieldLabel for the error text to answer with when not.
func FieldLabelSupported(r *Resource, label string) bool {
	return CheckFieldLabel(r, label) == nil
}
