package api

import (
	"errors"
	"maps"
	"slices"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

func fieldsResource(t *testing.T, group, version, resource string) *Resource {
	t.Helper()
	r := NewRegistry().Get(schema.GroupVersionResource{Group: group, Version: version, Resource: resource})
	if r == nil {
		t.Fatalf("%s/%s %s not served", group, version, resource)
	}
	return r
}

func TestFields(t *testing.T) {
	tests := []struct {
		name                    string
		group, version, resName string
		obj                     runtime.Object
		want                    fields.Set
	}{
		{
			name: "pod", version: "v1", resName: "pods",
			obj: &corev1.Pod{
				Spec: corev1.PodSpec{NodeName: "n1", RestartPolicy: corev1.RestartPolicyAlways, SchedulerName: "default-scheduler",
					ServiceAccountName: "default", HostNetwork: true},
				Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIPs: []corev1.PodIP{{IP: "10.0.0.5"}, {IP: "fd00::5"}}, NominatedNodeName: "n2"},
			},
			want: fields.Set{
				"spec.nodeName": "n1", "spec.host": "n1", "spec.restartPolicy": "Always", "spec.schedulerName": "default-scheduler",
				"spec.serviceAccountName": "default", "spec.hostNetwork": "true", "status.phase": "Running",
				"status.podIP": "10.0.0.5", "status.nominatedNodeName": "n2",
			},
		},
		{
			name: "core event", version: "v1", resName: "events",
			obj: &corev1.Event{
				InvolvedObject: corev1.ObjectReference{Kind: "Pod", Namespace: "default", Name: "web", UID: "u1",
					APIVersion: "v1", ResourceVersion: "42", FieldPath: "spec.containers{app}"},
				Reason: "Pulled", Type: "Normal", ReportingController: "gantry-agent",
			},
			want: fields.Set{
				"involvedObject.kind": "Pod", "involvedObject.namespace": "default", "involvedObject.name": "web",
				"involvedObject.uid": "u1", "involvedObject.apiVersion": "v1", "involvedObject.resourceVersion": "42",
				"involvedObject.fieldPath": "spec.containers{app}", "reason": "Pulled", "reportingComponent": "gantry-agent",
				"source": "gantry-agent", "type": "Normal",
			},
		},
		{
			name: "events.k8s.io event", group: "events.k8s.io", version: "v1", resName: "events",
			obj: &eventsv1.Event{
				Regarding: corev1.ObjectReference{Kind: "Node", Name: "n1"}, Reason: "NodeReady", Type: "Normal",
				ReportingController: "gantry-controller-manager", DeprecatedSource: corev1.EventSource{Component: "node-controller"},
			},
			want: fields.Set{
				"regarding.kind": "Node", "regarding.namespace": "", "regarding.name": "n1", "regarding.uid": "",
				"regarding.apiVersion": "", "regarding.resourceVersion": "", "regarding.fieldPath": "",
				"reason": "NodeReady", "reportingController": "gantry-controller-manager", "source": "node-controller", "type": "Normal",
			},
		},
		{
			name: "secret", version: "v1", resName: "secrets",
			obj:  &corev1.Secret{Type: corev1.SecretTypeTLS},
			want: fields.Set{"type": "kubernetes.io/tls"},
		},
		{
			name: "namespace", version: "v1", resName: "namespaces",
			obj:  &corev1.Namespace{Status: corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating}},
			want: fields.Set{"status.phase": "Terminating"},
		},
		{
			name: "node", version: "v1", resName: "nodes",
			obj:  &corev1.Node{Spec: corev1.NodeSpec{Unschedulable: true}},
			want: fields.Set{"spec.unschedulable": "true"},
		},
		{
			name: "service", version: "v1", resName: "services",
			obj:  &corev1.Service{Spec: corev1.ServiceSpec{ClusterIP: "10.96.0.1", Type: corev1.ServiceTypeNodePort}},
			want: fields.Set{"spec.clusterIP": "10.96.0.1", "spec.type": "NodePort"},
		},
		{
			name: "replica set", group: "apps", version: "v1", resName: "replicasets",
			obj:  &appsv1.ReplicaSet{Status: appsv1.ReplicaSetStatus{Replicas: 3}},
			want: fields.Set{"status.replicas": "3"},
		},
		{
			name: "job", group: "batch", version: "v1", resName: "jobs",
			obj:  &batchv1.Job{Status: batchv1.JobStatus{Succeeded: 2}},
			want: fields.Set{"status.successful": "2"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := fieldsResource(t, tt.group, tt.version, tt.resName)
			if r.Fields == nil {
				t.Fatal("Fields is nil")
			}
			got := r.Fields(tt.obj)
			if !maps.Equal(got, tt.want) {
				t.Errorf("Fields = %v\nwant     %v", got, tt.want)
			}
			for label := range got {
				if err := CheckFieldLabel(r, label); err != nil {
					t.Errorf("field %q is set but its label is rejected: %v", label, err)
				}
			}
		})
	}
}

// TestFieldsMatchSelectors runs parsed selectors against the field sets the
// way the API server does (with metadata.* added).
func TestFieldsMatchSelectors(t *testing.T) {
	r := fieldsResource(t, "", "v1", "pods")
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "prod"},
		Spec:       corev1.PodSpec{NodeName: "n1"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	set := r.Fields(pod)
	set["metadata.name"], set["metadata.namespace"] = pod.Name, pod.Namespace
	for selector, want := range map[string]bool{
		"spec.nodeName=n1":      true,
		"spec.host=n1":          true,
		"spec.nodeName=n2":      false,
		"status.phase!=Running": false,
		"status.phase=Running,metadata.namespace=prod": true,
		"spec.hostNetwork=false":                       true,
		"status.podIPs=":                               true, // accepted, never set (as in Kubernetes)
		"status.podIP=":                                true, // no IP yet
	} {
		sel, err := fields.ParseSelector(selector)
		if err != nil {
			t.Fatalf("%s: %v", selector, err)
		}
		for _, req := range sel.Requirements() {
			if !FieldLabelSupported(r, req.Field) {
				t.Errorf("%s: label %q not supported", selector, req.Field)
			}
		}
		if got := sel.Matches(set); got != want {
			t.Errorf("%s matches = %v, want %v", selector, got, want)
		}
	}
}

func TestCheckFieldLabel(t *testing.T) {
	tests := []struct {
		group, version, resName string
		label                   string
		wantErr                 string // "" = supported
	}{
		{"", "v1", "pods", "metadata.name", ""},
		{"", "v1", "pods", "metadata.namespace", ""},
		{"", "v1", "pods", "status.podIPs", ""},
		{"", "v1", "pods", "spec.host", ""},
		{"", "v1", "pods", "spec.containers", "field label not supported: spec.containers"},
		{"", "v1", "events", "involvedObject.uid", ""},
		{"", "v1", "events", "regarding.name", "field label not supported: regarding.name"},
		{"events.k8s.io", "v1", "events", "regarding.name", ""},
		{"events.k8s.io", "v1", "events", "involvedObject.name", "field label not supported: involvedObject.name"},
		{"", "v1", "nodes", "spec.unschedulable", ""},
		{"", "v1", "nodes", "metadata.namespace", "field label not supported: metadata.namespace"},
		{"", "v1", "namespaces", "metadata.namespace", "field label not supported: metadata.namespace"},
		{"", "v1", "namespaces", "status.phase", ""},
		{"", "v1", "secrets", "type", ""},
		{"", "v1", "services", "spec.type", ""},
		{"", "v1", "services", "spec.ports", "field label not supported: spec.ports"},
		{"batch", "v1", "jobs", "status.successful", ""},
		{"batch", "v1", "jobs", "status.succeeded", `field label "status.succeeded" not supported for batchv1.Job`},
		{"apps", "v1", "replicasets", "status.replicas", ""},
		{"apps", "v1", "deployments", "metadata.namespace", ""},
		{"apps", "v1", "deployments", "spec.replicas", `"spec.replicas" is not a known field selector: only "metadata.name", "metadata.namespace"`},
		{"rbac.authorization.k8s.io", "v1", "clusterroles", "metadata.namespace", ""},
		{"", "v1", "configmaps", "data", `"data" is not a known field selector: only "metadata.name", "metadata.namespace"`},
	}
	for _, tt := range tests {
		r := fieldsResource(t, tt.group, tt.version, tt.resName)
		err := CheckFieldLabel(r, tt.label)
		if supported := FieldLabelSupported(r, tt.label); supported != (err == nil) {
			t.Errorf("%s %s: FieldLabelSupported = %v but CheckFieldLabel = %v", r.GVR, tt.label, supported, err)
		}
		switch {
		case tt.wantErr == "" && err != nil:
			t.Errorf("%s %s: unexpected error %v", r.GVR, tt.label, err)
		case tt.wantErr != "" && err == nil:
			t.Errorf("%s %s: supported, want error %q", r.GVR, tt.label, tt.wantErr)
		case tt.wantErr != "":
			if err.Error() != tt.wantErr {
				t.Errorf("%s %s: error %q, want %q", r.GVR, tt.label, err, tt.wantErr)
			}
			if !errors.Is(err, ErrFieldLabelNotSupported) {
				t.Errorf("%s %s: errors.Is(err, ErrFieldLabelNotSupported) = false", r.GVR, tt.label)
			}
			var fle *FieldLabelError
			if !errors.As(err, &fle) || fle.Label != tt.label || fle.Resource != r.GVR {
				t.Errorf("%s %s: error %#v does not carry the label and resource", r.GVR, tt.label, err)
			}
		}
	}
	if !FieldLabelSupported(nil, "metadata.name") || FieldLabelSupported(nil, "spec.x") {
		t.Error("a nil resource supports exactly the metadata labels")
	}
}

// TestFieldsOfEveryResource: Fields never panics on an empty object, and
// every label a resource accepts (but status.podIPs) is in its field set.
func TestFieldsOfEveryResource(t *testing.T) {
	for _, r := range NewRegistry().All() {
		spec := fieldsSpecFor(r.GVR)
		if r.Fields == nil {
			if len(spec.labels) != 0 {
				t.Errorf("%s accepts %v but has no Fields", r.GVR, spec.labels)
			}
			continue
		}
		set := r.Fields(r.New())
		for _, label := range spec.labels {
			if _, ok := set[label]; !ok && label != "status.podIPs" {
				t.Errorf("%s accepts %q but Fields does not set it", r.GVR, label)
			}
		}
		keys := slices.Sorted(maps.Keys(set))
		for _, k := range keys {
			if !FieldLabelSupported(r, k) {
				t.Errorf("%s sets unsupported field %q", r.GVR, k)
			}
		}
		if got := r.Fields(r.NewList()); got != nil {
			t.Errorf("%s: Fields of a list = %v, want nil", r.GVR, got)
		}
	}
}
