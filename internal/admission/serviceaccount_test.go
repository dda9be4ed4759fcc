package admission_test

import (
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/admission"
)

func TestServiceAccountTokenReusesVolume(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{ServiceAccountName: "default", Containers: []corev1.Container{{Name: "a"}}}}
	admission.ServiceAccountToken(pod, &corev1.ServiceAccount{})
	if len(pod.Spec.Volumes) != 1 || !strings.HasPrefix(pod.Spec.Volumes[0].Name, admission.ServiceAccountVolumePrefix) {
		t.Fatalf("volumes %+v", pod.Spec.Volumes)
	}
	// A pod made from another's spec (as `kubectl get -o yaml | kubectl
	// create -f -` does) keeps its volume and gets no second one.
	again := pod.DeepCopy()
	again.Spec.Containers = append(again.Spec.Containers, corev1.Container{Name: "b"})
	admission.ServiceAccountToken(again, &corev1.ServiceAccount{})
	if len(again.Spec.Volumes) != 1 || again.Spec.Volumes[0].Name != pod.Spec.Volumes[0].Name {
		t.Fatalf("volumes %+v", again.Spec.Volumes)
	}
	for _, c := range again.Spec.Containers {
		if len(c.VolumeMounts) != 1 || c.VolumeMounts[0].Name != pod.Spec.Volumes[0].Name || c.VolumeMounts[0].MountPath != admission.ServiceAccountTokenPath {
			t.Fatalf("container %s mounts %+v", c.Name, c.VolumeMounts)
		}
	}
}

func TestServiceAccountTokenSkipsMirrorPods(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "a"}}}}
	pod.Annotations = map[string]string{"kubernetes.io/config.mirror": "x"}
	admission.ServiceAccountToken(pod, nil)
	if len(pod.Spec.Volumes) != 0 {
		t.Fatalf("mirror pod got %+v", pod.Spec.Volumes)
	}
}
