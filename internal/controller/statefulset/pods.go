package statefulset

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

// Kubernetes' StatefulSet pod labels.
const (
	podNameLabel  = appsv1.StatefulSetPodNameLabel        // statefulset.kubernetes.io/pod-name
	podIndexLabel = appsv1.PodIndexLabel                  // apps.kubernetes.io/pod-index
	revisionLabel = appsv1.ControllerRevisionHashLabelKey // controller-revision-hash
)

func podName(set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%d", set.Name, ordinal)
}

func claimName(claim string, set *appsv1.StatefulSet, ordinal int) string {
	return fmt.Sprintf("%s-%s-%d", claim, set.Name, ordinal)
}

// ordinalOf parses "<set>-<ordinal>"; -1 if the pod is not named so.
func ordinalOf(set *appsv1.StatefulSet, pod *corev1.Pod) int {
	rest, ok := strings.CutPrefix(pod.Name, set.Name+"-")
	if !ok {
		return -1
	}
	n, err := strconv.Atoi(rest)
	if err != nil || n < 0 || strconv.Itoa(n) != rest {
		return -1
	}
	return n
}

func startOrdinal(set *appsv1.StatefulSet) int {
	if set.Spec.Ordinals != nil {
		return int(set.Spec.Ordinals.Start)
	}
	return 0
}

func replicasOf(set *appsv1.StatefulSet) int {
	if set.Spec.Replicas != nil {
		return int(*set.Spec.Replicas)
	}
	return 1
}

// newPod builds pod <set>-<ordinal> from set's template at revision: the
// identity labels, hostname and subdomain, and the claims of the volume
// claim templates as volumes.
func newPod(set *appsv1.StatefulSet, ordinal int, revision string) *corev1.Pod {
	t := set.Spec.Template.DeepCopy()
	name := podName(set, ordinal)
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name,
			Namespace:       set.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Spec: t.Spec,
	}
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	pod.Labels[podNameLabel] = name
	pod.Labels[podIndexLabel] = strconv.Itoa(ordinal)
	pod.Labels[revisionLabel] = revision
	pod.Spec.Hostname = name
	pod.Spec.Subdomain = set.Spec.ServiceName
	for _, claim := range set.Spec.VolumeClaimTemplates {
		vol := corev1.Volume{Name: claim.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: claimName(claim.Name, set, ordinal)},
		}}
		replaced := false
		for i := range pod.Spec.Volumes {
			if pod.Spec.Volumes[i].Name == claim.Name {
				pod.Spec.Volumes[i], replaced = vol, true
			}
		}
		if !replaced {
			pod.Spec.Volumes = append(pod.Spec.Volumes, vol)
		}
	}
	return pod
}

// newClaims returns the claims pod ordinal needs, as Kubernetes names and
// labels them; with whenDeleted=Delete they are owned by the set.
func newClaims(set *appsv1.StatefulSet, ordinal int) []*corev1.PersistentVolumeClaim {
	var out []*corev1.PersistentVolumeClaim
	for _, tmpl := range set.Spec.VolumeClaimTemplates {
		claim := tmpl.DeepCopy()
		claim.Name = claimName(tmpl.Name, set, ordinal)
		claim.Namespace = set.Namespace
		claim.ResourceVersion, claim.UID = "", ""
		if claim.Labels == nil {
			claim.Labels = map[string]string{}
		}
		if set.Spec.Selector != nil {
			for k, v := range set.Spec.Selector.MatchLabels {
				claim.Labels[k] = v
			}
		}
		if p := set.Spec.PersistentVolumeClaimRetentionPolicy; p != nil && p.WhenDeleted == appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
			f := false
			claim.OwnerReferences = []metav1.OwnerReference{{
				APIVersion: controllerKind.GroupVersion().String(), Kind: controllerKind.Kind,
				Name: set.Name, UID: set.UID, Controller: &f, BlockOwnerDeletion: &f,
			}}
		}
		claim.Status = corev1.PersistentVolumeClaimStatus{}
		out = append(out, claim)
	}
	return out
}

// ensureClaims creates the missing claims of pod ordinal.
func (c *Controller) ensureClaims(ctx context.Context, set *appsv1.StatefulSet, ordinal int) error {
	for _, claim := range newClaims(set, ordinal) {
		if _, err := c.pvcLister.PersistentVolumeClaims(set.Namespace).Get(claim.Name); err == nil {
			continue
		}
		_, err := c.kube.CoreV1().PersistentVolumeClaims(set.Namespace).Create(ctx, claim, metav1.CreateOptions{})
		switch {
		case err == nil:
			c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Claim %s Pod %s in StatefulSet %s success", claim.Name, podName(set, ordinal), set.Name)
		case apierrors.IsAlreadyExists(err):
		default:
			c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Claim %s for Pod %s in StatefulSet %s failed error: %s", claim.Name, podName(set, ordinal), set.Name, err)
			return fmt.Errorf("create claim %s: %w", claim.Name, err)
		}
	}
	return nil
}

// ownClaimsByPod makes a condemned pod own its claims (whenScaled=Delete),
// so the garbage collector removes them with it.
func (c *Controller) ownClaimsByPod(ctx context.Context, set *appsv1.StatefulSet, pod *corev1.Pod, ordinal int) error {
	p := set.Spec.PersistentVolumeClaimRetentionPolicy
	if p == nil || p.WhenScaled != appsv1.DeletePersistentVolumeClaimRetentionPolicyType {
		return nil
	}
	for _, tmpl := range set.Spec.VolumeClaimTemplates {
		name := claimName(tmpl.Name, set, ordinal)
		patch := fmt.Sprintf(`{"metadata":{"ownerReferences":[{"apiVersion":"v1","kind":"Pod","name":%q,"uid":%q}]}}`, pod.Name, pod.UID)
		_, err := c.kube.CoreV1().PersistentVolumeClaims(set.Namespace).Patch(ctx, name, types.StrategicMergePatchType, []byte(patch), metav1.PatchOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return fmt.Errorf("claim %s owner: %w", name, err)
		}
	}
	return nil
}

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func runningAndReady(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodRunning && podReady(p)
}

// runningAndAvailable: running and ready for minReadySeconds.
func runningAndAvailable(p *corev1.Pod, minReady int32, now time.Time) bool {
	if !runningAndReady(p) {
		return false
	}
	if minReady == 0 {
		return true
	}
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return !c.LastTransitionTime.IsZero() && !c.LastTransitionTime.Add(time.Duration(minReady)*time.Second).After(now)
		}
	}
	return false
}

func terminating(p *corev1.Pod) bool { return p.DeletionTimestamp != nil }

func terminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodFailed || p.Status.Phase == corev1.PodSucceeded
}

func minReadyDelay(seconds int32) time.Duration {
	return time.Duration(seconds)*time.Second + time.Second
}
