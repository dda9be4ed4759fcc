package admission

import (
	"strings"

	corev1 "k8s.io/api/core/v1"
	utilrand "k8s.io/apimachinery/pkg/util/rand"
)

const (
	// ServiceAccountTokenPath is where containers find the token, ca.crt
	// and namespace files (client-go's in-cluster configuration reads it).
	ServiceAccountTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount"
	// ServiceAccountVolumePrefix starts the generated volume's name.
	ServiceAccountVolumePrefix = "kube-api-access-"
	// RootCAConfigMap is the ConfigMap every namespace has with the
	// cluster CA under the key "ca.crt".
	RootCAConfigMap = "kube-root-ca.crt"
	// tokenExpirationSeconds is what Kubernetes' admission asks for (an
	// hour and 7 s, which kube-apiserver recognises as the kubelet's).
	tokenExpirationSeconds = 3607
	// mirrorPodAnnotation marks static pods' mirrors, which get no token.
	mirrorPodAnnotation = "kubernetes.io/config.mirror"
)

// ServiceAccountToken mounts the service account's token into pod, as
// Kubernetes' ServiceAccount admission does, when the pod (or else the
// account sa) does not turn automount off and no container already mounts
// something at ServiceAccountTokenPath. pod.Spec.ServiceAccountName must
// already be defaulted; sa is that account. It changes pod in place.
func ServiceAccountToken(pod *corev1.Pod, sa *corev1.ServiceAccount) {
	if _, mirror := pod.Annotations[mirrorPodAnnotation]; mirror {
		return
	}
	automount := true
	switch {
	case pod.Spec.AutomountServiceAccountToken != nil:
		automount = *pod.Spec.AutomountServiceAccountToken
	case sa != nil && sa.AutomountServiceAccountToken != nil:
		automount = *sa.AutomountServiceAccountToken
	}
	if !automount {
		return
	}
	name := ""
	for _, v := range pod.Spec.Volumes {
		if isTokenVolume(v) {
			name = v.Name // already there (e.g. a pod re-created from another's spec)
			break
		}
	}
	if name == "" {
		name = freeVolumeName(pod)
		mode := corev1.ProjectedVolumeSourceDefaultMode
		exp := int64(tokenExpirationSeconds)
		pod.Spec.Volumes = append(pod.Spec.Volumes, corev1.Volume{
			Name: name,
			VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: &mode,
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{ExpirationSeconds: &exp, Path: "token"}},
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: RootCAConfigMap},
						Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
					}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
						Path:     "namespace",
						FieldRef: &corev1.ObjectFieldSelector{APIVersion: "v1", FieldPath: "metadata.namespace"},
					}}}},
				},
			}},
		})
	}
	mount := corev1.VolumeMount{Name: name, ReadOnly: true, MountPath: ServiceAccountTokenPath}
	for i := range pod.Spec.InitContainers {
		addMount(&pod.Spec.InitContainers[i].VolumeMounts, mount)
	}
	for i := range pod.Spec.Containers {
		addMount(&pod.Spec.Containers[i].VolumeMounts, mount)
	}
}

// isTokenVolume reports whether v is a kube-api-access volume this
// plugin made.
func isTokenVolume(v corev1.Volume) bool {
	if v.Projected == nil || !strings.HasPrefix(v.Name, ServiceAccountVolumePrefix) {
		return false
	}
	for _, s := range v.Projected.Sources {
		if s.ServiceAccountToken != nil && s.ServiceAccountToken.Path == "token" {
			return true
		}
	}
	return false
}

func freeVolumeName(pod *corev1.Pod) string {
	for {
		name := ServiceAccountVolumePrefix + utilrand.String(5)
		taken := false
		for _, v := range pod.Spec.Volumes {
			taken = taken || v.Name == name
		}
		if !taken {
			return name
		}
	}
}

// addMount adds m unless something is mounted at its path already.
func addMount(mounts *[]corev1.VolumeMount, m corev1.VolumeMount) {
	for _, have := range *mounts {
		if have.MountPath == m.MountPath {
			return
		}
	}
	*mounts = append(*mounts, m)
}
