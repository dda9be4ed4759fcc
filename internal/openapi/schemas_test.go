package openapi_test

import (
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"sigs.k8s.io/structured-merge-diff/v6/fieldpath"
)

// typeConverter builds the server-side apply type converter the API server
// builds from Schemas.
func typeConverter(t *testing.T) managedfields.TypeConverter {
	t.Helper()
	docs, err := sharedDocs()
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	schemas, err := docs.Schemas()
	if err != nil {
		t.Fatalf("Schemas: %v", err)
	}
	for _, name := range []string{"io.k8s.api.core.v1.Pod", "io.k8s.api.apps.v1.Deployment", "io.k8s.api.autoscaling.v1.Scale"} {
		s := schemas[name]
		if s == nil || s.Extensions["x-kubernetes-group-version-kind"] == nil {
			t.Errorf("Schemas()[%s] missing or without x-kubernetes-group-version-kind", name)
		}
	}
	tc, err := managedfields.NewTypeConverter(schemas, false)
	if err != nil {
		t.Fatalf("NewTypeConverter: %v", err)
	}
	return tc
}

func TestSchemasMakeTypeConverter(t *testing.T) {
	tc := typeConverter(t)
	containers := []corev1.Container{{Name: "app", Image: "app:1"}, {Name: "sidecar", Image: "proxy:1"}}
	replicas := int32(2)
	tests := []struct {
		name string
		obj  runtime.Object
		want []fieldpath.Path // fields the typed value must contain, list items keyed as SSA keys them
	}{
		{
			name: "Pod",
			obj: &corev1.Pod{
				TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
				ObjectMeta: metav1.ObjectMeta{Name: "p", Namespace: "default", Labels: map[string]string{"app": "p"}},
				Spec:       corev1.PodSpec{Containers: containers},
			},
			want: []fieldpath.Path{
				fieldpath.MakePathOrDie("metadata", "labels", "app"),
				fieldpath.MakePathOrDie("spec", "containers", fieldpath.KeyByFields("name", "sidecar"), "image"),
			},
		},
		{
			name: "Deployment",
			obj: &appsv1.Deployment{
				TypeMeta:   metav1.TypeMeta{APIVersion: "apps/v1", Kind: "Deployment"},
				ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "default"},
				Spec: appsv1.DeploymentSpec{
					Replicas: &replicas,
					Selector: &metav1.LabelSelector{MatchLabels: map[string]string{"app": "d"}},
					Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{Containers: containers}},
				},
			},
			want: []fieldpath.Path{
				fieldpath.MakePathOrDie("spec", "replicas"),
				fieldpath.MakePathOrDie("spec", "template", "spec", "containers", fieldpath.KeyByFields("name", "app"), "image"),
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tv, err := tc.ObjectToTyped(tt.obj)
			if err != nil {
				t.Fatalf("ObjectToTyped: %v", err)
			}
			set, err := tv.ToFieldSet()
			if err != nil {
				t.Fatalf("ToFieldSet: %v", err)
			}
			for _, p := range tt.want {
				if !set.Has(p) {
					t.Errorf("field set lacks %s:\n%s", p, set)
				}
			}
		})
	}

	t.Run("unknown field is rejected", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]interface{}{
			"apiVersion": "apps/v1", "kind": "Deployment",
			"metadata": map[string]interface{}{"name": "d"},
			"spec":     map[string]interface{}{"replicaz": int64(3)},
		}}
		if _, err := tc.ObjectToTyped(u); err == nil || !strings.Contains(err.Error(), "replicaz") {
			t.Errorf("ObjectToTyped accepted an unknown field: %v", err)
		}
	})

	t.Run("unserved kind has no type", func(t *testing.T) {
		u := &unstructured.Unstructured{Object: map[string]interface{}{"apiVersion": "example.com/v1", "kind": "Widget"}}
		if _, err := tc.ObjectToTyped(u); err == nil {
			t.Error("ObjectToTyped found a type for a kind that is not served")
		}
	})
}
