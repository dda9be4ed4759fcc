package apiserver_test

import (
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// TestEphemeralContainers covers pods/ephemeralcontainers, through which
// kubectl debug adds a container to a running pod: only ephemeral
// containers change there, existing ones stay as they are, and the main
// resource cannot add them.
func TestEphemeralContainers(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	pods := c.Client.CoreV1().Pods(ns)
	pod := must[*corev1.Pod](t)(pods.Create(ctx(t), testPod(metav1.ObjectMeta{Name: "p", Labels: map[string]string{"app": "p"}}), metav1.CreateOptions{}))

	debugger := corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "debugger", Image: "busybox", Stdin: true, TTY: true},
		TargetContainerName:      "c",
	}
	// kubectl debug sends a strategic merge patch to the subresource.
	patch := `{"spec":{"ephemeralContainers":[{"name":"debugger","image":"busybox","stdin":true,"tty":true,"targetContainerName":"c"}]},"metadata":{"labels":{"app":"changed"}}}`
	got := must[*corev1.Pod](t)(pods.Patch(ctx(t), "p", types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{}, "ephemeralcontainers"))
	if len(got.Spec.EphemeralContainers) != 1 || got.Spec.EphemeralContainers[0].TargetContainerName != "c" ||
		got.Spec.EphemeralContainers[0].ImagePullPolicy != corev1.PullAlways || got.Spec.EphemeralContainers[0].TerminationMessagePolicy != corev1.TerminationMessageReadFile {
		t.Fatalf("ephemeral containers after the patch (defaulted): %+v", got.Spec.EphemeralContainers)
	}
	if got.Labels["app"] != "p" {
		t.Errorf("the subresource changed labels: %v", got.Labels)
	}
	if got.Generation != pod.Generation+1 {
		t.Errorf("generation %d, want %d: adding an ephemeral container changes the spec", got.Generation, pod.Generation+1)
	}
	if !slices.ContainsFunc(got.ManagedFields, func(m metav1.ManagedFieldsEntry) bool { return m.Subresource == "ephemeralcontainers" }) {
		t.Errorf("no managed fields entry for the subresource: %+v", got.ManagedFields)
	}
	if g := must[*corev1.Pod](t)(pods.Get(ctx(t), "p", metav1.GetOptions{})); len(g.Spec.EphemeralContainers) != 1 {
		t.Errorf("stored pod has %d ephemeral containers", len(g.Spec.EphemeralContainers))
	}

	// UpdateEphemeralContainers (PUT) adds another one.
	got.Spec.EphemeralContainers = append(got.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "second", Image: "busybox", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile},
	})
	got = must[*corev1.Pod](t)(pods.UpdateEphemeralContainers(ctx(t), "p", got, metav1.UpdateOptions{}))
	if len(got.Spec.EphemeralContainers) != 2 {
		t.Fatalf("after the update: %d ephemeral containers", len(got.Spec.EphemeralContainers))
	}

	changed := got.DeepCopy()
	changed.Spec.EphemeralContainers[0].Image = "other"
	_, err := pods.UpdateEphemeralContainers(ctx(t), "p", changed, metav1.UpdateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid, `existing ephemeral containers "debugger" may not be changed`)
	removed := got.DeepCopy()
	removed.Spec.EphemeralContainers = removed.Spec.EphemeralContainers[1:]
	_, err = pods.UpdateEphemeralContainers(ctx(t), "p", removed, metav1.UpdateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid, `existing ephemeral containers "debugger" may not be removed`)

	bad := got.DeepCopy()
	bad.Spec.EphemeralContainers = append(bad.Spec.EphemeralContainers, corev1.EphemeralContainer{
		EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: "third", Image: "busybox", Ports: []corev1.ContainerPort{{ContainerPort: 80}}},
		TargetContainerName:      "nope",
	})
	_, err = pods.UpdateEphemeralContainers(ctx(t), "p", bad, metav1.UpdateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid,
		"spec.ephemeralContainers[2].targetContainerName: Not found: \"nope\"",
		"spec.ephemeralContainers[2].ports: Forbidden: cannot be set for an Ephemeral Container")

	// The main resource can neither add nor change them.
	main := got.DeepCopy()
	main.Spec.EphemeralContainers = append(main.Spec.EphemeralContainers, debugger)
	main.Spec.EphemeralContainers[2].Name = "via-update"
	_, err = pods.Update(ctx(t), main, metav1.UpdateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "pod updates may not change fields other than")
	_, err = pods.Create(ctx(t), &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "born-with-one"},
		Spec:       corev1.PodSpec{Containers: pod.Spec.Containers, EphemeralContainers: []corev1.EphemeralContainer{debugger}},
	}, metav1.CreateOptions{})
	wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "spec.ephemeralContainers: Forbidden: cannot be set on create")

	// Discovery lists the subresource, as kubectl debug checks.
	list := must[*metav1.APIResourceList](t)(c.Client.Discovery().ServerResourcesForGroupVersion("v1"))
	if !slices.ContainsFunc(list.APIResources, func(r metav1.APIResource) bool {
		return r.Name == "pods/ephemeralcontainers" && slices.Equal(r.Verbs, metav1.Verbs{"get", "patch", "update"})
	}) {
		t.Error("discovery lacks pods/ephemeralcontainers with get, patch and update")
	}
}
