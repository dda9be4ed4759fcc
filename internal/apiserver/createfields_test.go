package apiserver_test

import (
	"bytes"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/apiserver"
)

// TestCreateFieldsMemo shows that creates of identical objects (differing
// only in what the field manager ignores: name, uid, …) take their managed
// fields from the memo, with the same fields the field manager computed for
// the first and a fresh time, and that an object differing in any tracked
// field, or another manager, gets its own.
func TestCreateFieldsMemo(t *testing.T) {
	e := startEnv(t)
	srv := e.handler.(*apiserver.Server)
	pods := e.client.CoreV1().Pods(metav1.NamespaceDefault)
	pod := func(labels map[string]string) *corev1.Pod {
		return &corev1.Pod{
			ObjectMeta: metav1.ObjectMeta{GenerateName: "web-", Labels: labels},
			Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web:1"}}},
		}
	}
	create := func(p *corev1.Pod, manager string) metav1.ManagedFieldsEntry {
		t.Helper()
		created, err := pods.Create(t.Context(), p, metav1.CreateOptions{FieldManager: manager})
		if err != nil {
			t.Fatal(err)
		}
		if len(created.ManagedFields) != 1 {
			t.Fatalf("%s: managed fields %+v, want one entry", created.Name, created.ManagedFields)
		}
		return created.ManagedFields[0]
	}
	fields := func(e metav1.ManagedFieldsEntry) string { return string(e.FieldsV1.Raw) }

	hits := srv.CreateFieldsHits()
	first := create(pod(map[string]string{"app": "web"}), "rs")
	if got := srv.CreateFieldsHits(); got != hits {
		t.Fatalf("first create hit the memo (%d hits, were %d)", got, hits)
	}
	second := create(pod(map[string]string{"app": "web"}), "rs")
	if got := srv.CreateFieldsHits(); got != hits+1 {
		t.Fatalf("identical create: %d hits, want %d", got, hits+1)
	}
	if fields(second) != fields(first) || second.Manager != "rs" || second.Operation != metav1.ManagedFieldsOperationUpdate || second.APIVersion != "v1" {
		t.Fatalf("memoised entry %+v (%s), want the computed %+v (%s)", second, fields(second), first, fields(first))
	}
	if second.Time == nil || second.Time.Before(first.Time) {
		t.Fatalf("memoised entry's time %v, want one not before the first's %v", second.Time, first.Time)
	}

	// Another label key is another tracked field; another value is not,
	// but the memo is keyed on the whole object and computes it afresh.
	other := create(pod(map[string]string{"app": "web", "tier": "front"}), "rs")
	if fields(other) == fields(first) {
		t.Fatalf("a pod with another label has the first pod's fields %s", fields(other))
	}
	if !bytes.Contains(other.FieldsV1.Raw, []byte(`"f:tier"`)) {
		t.Fatalf("fields %s lack the tier label", fields(other))
	}
	otherValue := create(pod(map[string]string{"app": "db"}), "rs")
	if fields(otherValue) != fields(first) {
		t.Fatalf("fields of a pod differing in a label value: %s, want %s", fields(otherValue), fields(first))
	}
	byOther := create(pod(map[string]string{"app": "web"}), "someone-else")
	if byOther.Manager != "someone-else" {
		t.Fatalf("entry of another manager: %+v", byOther)
	}
	if got := srv.CreateFieldsHits(); got != hits+1 {
		t.Fatalf("%d hits after creates of different objects or by another manager, want %d", got, hits+1)
	}
}
