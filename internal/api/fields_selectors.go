package api

import (
	"fmt"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

// Field selectors as Kubernetes supports them: which labels each kind accepts
// (its field-label conversion function in pkg/apis/<group>/<version>/
// conversion.go) and the values it selects on (ToSelectableFields in
// pkg/registry/...). The API server adds metadata.name and
// metadata.namespace to every set; Fields holds the rest.
//
// Helpers in the fields_*.go files are prefixed with "fields".

// fieldsSpec describes field selection for one resource.
type fieldsSpec struct {
	// labels are the labels accepted besides metadata.name and
	// metadata.namespace.
	labels []string
	// noNamespaceLabel rejects metadata.namespace (nodes and namespaces:
	// Kubernetes' conversion functions of those kinds do not list it).
	noNamespaceLabel bool
	// message formats the error for an unsupported label; nil means the
	// message of kinds without a conversion function.
	message func(label string) string
	// set returns the selectable fields besides metadata.*; nil: none.
	set func(obj runtime.Object) fields.Set
}

// fieldsNotSupported is the message of the core kinds' conversion functions.
func fieldsNotSupported(label string) string {
	return "field label not supported: " + label
}

// fieldsNotKnown is the message of kinds without a conversion function.
func fieldsNotKnown(label string) string {
	return fmt.Sprintf("%q is not a known field selector: only %q, %q", label, "metadata.name", "metadata.namespace")
}

// fieldsSpecFor returns the field-selector behaviour of gvr.
func fieldsSpecFor(gvr schema.GroupVersionResource) fieldsSpec {
	switch gvr.GroupResource() {
	case schema.GroupResource{Resource: "pods"}:
		return fieldsSpec{
			labels: []string{
				"spec.nodeName", "spec.restartPolicy", "spec.schedulerName", "spec.serviceAccountName",
				"spec.hostNetwork", "status.phase", "status.podIP", "status.podIPs", "status.nominatedNodeName",
				"spec.host",
			},
			message: fieldsNotSupported,
			set:     fieldsTyped(fieldsPod),
		}
	case schema.GroupResource{Resource: "events"}:
		return fieldsSpec{
			labels: []string{
				"involvedObject.kind", "involvedObject.namespace", "involvedObject.name", "involvedObject.uid",
				"involvedObject.apiVersion", "involvedObject.resourceVersion", "involvedObject.fieldPath",
				"reason", "reportingComponent", "source", "type",
			},
			message: fieldsNotSupported,
			set:     fieldsTyped(fieldsCoreEvent),
		}
	case schema.GroupResource{Group: "events.k8s.io", Resource: "events"}:
		return fieldsSpec{
			labels: []string{
				"regarding.kind", "regarding.namespace", "regarding.name", "regarding.uid",
				"regarding.apiVersion", "regarding.resourceVersion", "regarding.fieldPath",
				"reason", "reportingController", "source", "type",
			},
			message: fieldsNotSupported,
			set:     fieldsTyped(fieldsEventsV1),
		}
	case schema.GroupResource{Resource: "secrets"}:
		return fieldsSpec{
			labels:  []string{"type"},
			message: fieldsNotSupported,
			set: fieldsTyped(func(s *corev1.Secret) fields.Set {
				return fields.Set{"type": string(s.Type)}
			}),
		}
	case schema.GroupResource{Resource: "namespaces"}:
		return fieldsSpec{
			labels:           []string{"status.phase"},
			noNamespaceLabel: true,
			message:          fieldsNotSupported,
			set: fieldsTyped(func(ns *corev1.Namespace) fields.Set {
				return fields.Set{"status.phase": string(ns.Status.Phase)}
			}),
		}
	case schema.GroupResource{Resource: "nodes"}:
		return fieldsSpec{
			labels:           []string{"spec.unschedulable"},
			noNamespaceLabel: true,
			message:          fieldsNotSupported,
			set: fieldsTyped(func(n *corev1.Node) fields.Set {
				return fields.Set{"spec.unschedulable": strconv.FormatBool(n.Spec.Unschedulable)}
			}),
		}
	case schema.GroupResource{Resource: "services"}:
		return fieldsSpec{
			labels:  []string{"spec.clusterIP", "spec.type"},
			message: fieldsNotSupported,
			set: fieldsTyped(func(s *corev1.Service) fields.Set {
				return fields.Set{"spec.clusterIP": s.Spec.ClusterIP, "spec.type": string(s.Spec.Type)}
			}),
		}
	case schema.GroupResource{Group: "apps", Resource: "replicasets"}:
		// Kubernetes computes status.replicas but, for apps/v1, forgot to
		// accept the label (kubernetes/kubernetes#135136); its documentation
		// lists it, so Gantry accepts it.
		return fieldsSpec{
			labels:  []string{"status.replicas"},
			message: fieldsNotSupported,
			set: fieldsTyped(func(rs *appsv1.ReplicaSet) fields.Set {
				return fields.Set{"status.replicas": strconv.Itoa(int(rs.Status.Replicas))}
			}),
		}
	case schema.GroupResource{Group: "batch", Resource: "jobs"}:
		return fieldsSpec{
			labels: []string{"status.successful"},
			message: func(label string) string {
				return fmt.Sprintf("field label %q not supported for batchv1.Job", label)
			},
			set: fieldsTyped(func(j *batchv1.Job) fields.Set {
				return fields.Set{"status.successful": strconv.Itoa(int(j.Status.Succeeded))}
			}),
		}
	}
	return fieldsSpec{}
}

// fieldsTyped adapts a typed field-set function; another type yields nil.
func fieldsTyped[T runtime.Object](f func(T) fields.Set) func(runtime.Object) fields.Set {
	return func(obj runtime.Object) fields.Set {
		typed, ok := obj.(T)
		if !ok {
			return nil
		}
		return f(typed)
	}
}

// fieldsPod mirrors Kubernetes' pod ToSelectableFields. Two labels are
// special: spec.host, which Kubernetes rewrites to spec.nodeName, is set to
// the node name here so that it selects the same pods; status.podIPs is
// accepted (the label list is shared with the downward API) but Kubernetes
// never sets it, so it is left out and only matches the empty value.
func fieldsPod(pod *corev1.Pod) fields.Set {
	return fields.Set{
		"spec.nodeName":            pod.Spec.NodeName,
		"spec.host":                pod.Spec.NodeName,
		"spec.restartPolicy":       string(pod.Spec.RestartPolicy),
		"spec.schedulerName":       pod.Spec.SchedulerName,
		"spec.serviceAccountName":  pod.Spec.ServiceAccountName,
		"spec.hostNetwork":         strconv.FormatBool(pod.Spec.HostNetwork),
		"status.phase":             string(pod.Status.Phase),
		"status.podIP":             printPodIP(pod),
		"status.nominatedNodeName": pod.Status.NominatedNodeName,
	}
}

// fieldsCoreEvent mirrors Kubernetes' event ToSelectableFields: source is
// the source component, else the reporting controller.
func fieldsCoreEvent(e *corev1.Event) fields.Set {
	source := e.Source.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"involvedObject.kind":            e.InvolvedObject.Kind,
		"involvedObject.namespace":       e.InvolvedObject.Namespace,
		"involvedObject.name":            e.InvolvedObject.Name,
		"involvedObject.uid":             string(e.InvolvedObject.UID),
		"involvedObject.apiVersion":      e.InvolvedObject.APIVersion,
		"involvedObject.resourceVersion": e.InvolvedObject.ResourceVersion,
		"involvedObject.fieldPath":       e.InvolvedObject.FieldPath,
		"reason":                         e.Reason,
		"reportingComponent":             e.ReportingController,
		"source":                         source,
		"type":                           e.Type,
	}
}

// fieldsEventsV1 is fieldsCoreEvent under the events.k8s.io/v1 label names
// (regarding.* and reportingController), which Kubernetes maps onto the core
// ones.
func fieldsEventsV1(e *eventsv1.Event) fields.Set {
	source := e.DeprecatedSource.Component
	if source == "" {
		source = e.ReportingController
	}
	return fields.Set{
		"regarding.kind":            e.Regarding.Kind,
		"regarding.namespace":       e.Regarding.Namespace,
		"regarding.name":            e.Regarding.Name,
		"regarding.uid":             string(e.Regarding.UID),
		"regarding.apiVersion":      e.Regarding.APIVersion,
		"regarding.resourceVersion": e.Regarding.ResourceVersion,
		"regarding.fieldPath":       e.Regarding.FieldPath,
		"reason":                    e.Reason,
		"reportingController":       e.ReportingController,
		"source":                    source,
		"type":                      e.Type,
	}
}
