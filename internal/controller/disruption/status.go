package disruption

import (
	"errors"
	"fmt"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// ErrNoController: a pod counted by a percentage budget (or any
// maxUnavailable budget) has a controller whose scale cannot be found.
var ErrNoController = errors.New("disruption: found no controllers for pod")

// Workloads looks up the controllers that own pods (from informer caches);
// a nil result with a nil error means not found.
type Workloads interface {
	ReplicaSet(namespace, name string) (*appsv1.ReplicaSet, error)
	Deployment(namespace, name string) (*appsv1.Deployment, error)
	StatefulSet(namespace, name string) (*appsv1.StatefulSet, error)
}

// scaleOf returns the UID and desired scale of the controller a pod
// reference names, as Kubernetes' finders do: a ReplicaSet owned by a
// Deployment counts as the Deployment. ok is false when ref names nothing
// known.
func scaleOf(w Workloads, namespace string, ref *metav1.OwnerReference) (uid types.UID, scale int32, ok bool, err error) {
	if !appsGroup(ref.APIVersion) {
		return "", 0, false, nil
	}
	switch ref.Kind {
	case "ReplicaSet":
		rs, err := w.ReplicaSet(namespace, ref.Name)
		if err != nil || rs == nil || rs.UID != ref.UID {
			return "", 0, false, err
		}
		if owner := metav1.GetControllerOf(rs); owner != nil && owner.Kind == "Deployment" {
			if !appsGroup(owner.APIVersion) {
				return "", 0, false, nil
			}
			d, err := w.Deployment(namespace, owner.Name)
			if err != nil || d == nil || d.UID != owner.UID {
				return "", 0, false, err
			}
			return d.UID, replicas(d.Spec.Replicas), true, nil
		}
		return rs.UID, replicas(rs.Spec.Replicas), true, nil
	case "StatefulSet":
		ss, err := w.StatefulSet(namespace, ref.Name)
		if err != nil || ss == nil || ss.UID != ref.UID {
			return "", 0, false, err
		}
		return ss.UID, replicas(ss.Spec.Replicas), true, nil
	}
	return "", 0, false, nil
}

// appsGroup reports whether apiVersion is in apps or extensions, the
// groups Kubernetes' finders accept.
func appsGroup(apiVersion string) bool {
	gv, err := schema.ParseGroupVersion(apiVersion)
	return err == nil && (gv.Group == "apps" || gv.Group == "extensions")
}

func replicas(p *int32) int32 {
	if p == nil {
		return 1
	}
	return *p
}

// expectedScale sums the scale of the controllers of pods (each counted
// once); unmanaged pods are returned by name and not counted.
func expectedScale(w Workloads, pods []*corev1.Pod) (int32, []string, error) {
	scales := map[types.UID]int32{}
	var unmanaged []string
	for _, pod := range pods {
		ref := metav1.GetControllerOf(pod)
		if ref == nil {
			unmanaged = append(unmanaged, pod.Name)
			continue
		}
		if _, ok := scales[ref.UID]; ok {
			continue
		}
		uid, scale, ok, err := scaleOf(w, pod.Namespace, ref)
		if err != nil {
			return 0, nil, err
		}
		if !ok {
			return 0, nil, fmt.Errorf("%w %q", ErrNoController, pod.Name)
		}
		scales[uid] = scale
	}
	var sum int32
	for _, s := range scales {
		sum += s
	}
	return sum, unmanaged, nil
}

// expectedCounts is Kubernetes' getExpectedPodCount: an integer
// minAvailable counts the matching pods; a percentage, or maxUnavailable,
// the summed scale of their controllers (percentages rounded up).
func expectedCounts(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, w Workloads) (expected, desired int32, unmanaged []string, err error) {
	switch {
	case pdb.Spec.MaxUnavailable != nil:
		expected, unmanaged, err = expectedScale(w, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		maxUnavailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MaxUnavailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = max(expected-int32(maxUnavailable), 0)
	case pdb.Spec.MinAvailable != nil && pdb.Spec.MinAvailable.Type == intstr.Int:
		desired = pdb.Spec.MinAvailable.IntVal
		expected = int32(len(pods))
	case pdb.Spec.MinAvailable != nil:
		expected, unmanaged, err = expectedScale(w, pods)
		if err != nil {
			return 0, 0, nil, err
		}
		minAvailable, err := intstr.GetScaledValueFromIntOrPercent(pdb.Spec.MinAvailable, int(expected), true)
		if err != nil {
			return 0, 0, nil, err
		}
		desired = int32(minAvailable)
	}
	return expected, desired, unmanaged, nil
}

// disruptedPodMap keeps the status.disruptedPods entries of pods that are
// still there, not terminating, and recorded less than timeout ago. It also
// returns the names of pods whose entry expired (they were not deleted) and
// the earliest time an entry kept will expire, if any.
func disruptedPodMap(pdb *policyv1.PodDisruptionBudget, pods []*corev1.Pod, now time.Time, timeout time.Duration) (map[string]metav1.Time, []string, *time.Time) {
	out := map[string]metav1.Time{}
	var expired []string
	var recheck *time.Time
	if pdb.Status.DisruptedPods == nil {
		return out, nil, nil
	}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		at, ok := pdb.Status.DisruptedPods[pod.Name]
		if !ok {
			continue
		}
		deadline := at.Add(timeout)
		if deadline.Before(now) {
			expired = append(expired, pod.Name)
			continue
		}
		if recheck == nil || deadline.Before(*recheck) {
			recheck = &deadline
		}
		out[pod.Name] = at
	}
	return out, expired, recheck
}

// countHealthy counts ready pods that are neither terminating nor about to
// be deleted by an eviction.
func countHealthy(pods []*corev1.Pod, disrupted map[string]metav1.Time, now time.Time, timeout time.Duration) int32 {
	var n int32
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil {
			continue
		}
		if at, ok := disrupted[pod.Name]; ok && at.Add(timeout).After(now) {
			continue
		}
		if podReady(pod) {
			n++
		}
	}
	return n
}

func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// newStatus returns the status pdb should have, and whether it differs
// from the current one (Kubernetes' updatePdbStatus).
func newStatus(pdb *policyv1.PodDisruptionBudget, healthy, desired, expected int32, disrupted map[string]metav1.Time) (policyv1.PodDisruptionBudgetStatus, bool) {
	allowed := healthy - desired
	if expected <= 0 || allowed <= 0 {
		// A budget matching no pods yet stays safe when its first pods
		// appear before the next sync.
		allowed = 0
	}
	s := pdb.Status
	if s.CurrentHealthy == healthy && s.DesiredHealthy == desired && s.ExpectedPods == expected &&
		s.DisruptionsAllowed == allowed && apiequality.Semantic.DeepEqual(s.DisruptedPods, disrupted) &&
		s.ObservedGeneration == pdb.Generation && conditionsUpToDate(pdb) {
		return s, false
	}
	next := policyv1.PodDisruptionBudgetStatus{
		CurrentHealthy:     healthy,
		DesiredHealthy:     desired,
		ExpectedPods:       expected,
		DisruptionsAllowed: allowed,
		DisruptedPods:      disrupted,
		ObservedGeneration: pdb.Generation,
		Conditions:         append([]metav1.Condition(nil), s.Conditions...),
	}
	setAllowedCondition(&next)
	return next, true
}

// setAllowedCondition sets DisruptionAllowed from disruptionsAllowed.
func setAllowedCondition(s *policyv1.PodDisruptionBudgetStatus) {
	c := metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.InsufficientPodsReason,
		ObservedGeneration: s.ObservedGeneration,
	}
	if s.DisruptionsAllowed > 0 {
		c.Status, c.Reason = metav1.ConditionTrue, policyv1.SufficientPodsReason
	}
	apimeta.SetStatusCondition(&s.Conditions, c)
}

func conditionsUpToDate(pdb *policyv1.PodDisruptionBudget) bool {
	c := apimeta.FindStatusCondition(pdb.Status.Conditions, policyv1.DisruptionAllowedCondition)
	if c == nil || pdb.Status.ObservedGeneration != pdb.Generation {
		return false
	}
	if pdb.Status.DisruptionsAllowed > 0 {
		return c.Status == metav1.ConditionTrue && c.Reason == policyv1.SufficientPodsReason
	}
	return c.Status == metav1.ConditionFalse && c.Reason == policyv1.InsufficientPodsReason
}

// failSafeStatus is the status written when the budget cannot be computed:
// no disruptions, DisruptionAllowed False with reason SyncFailed.
func failSafeStatus(pdb *policyv1.PodDisruptionBudget, err error) policyv1.PodDisruptionBudgetStatus {
	s := *pdb.Status.DeepCopy()
	s.DisruptionsAllowed = 0
	apimeta.SetStatusCondition(&s.Conditions, metav1.Condition{
		Type:               policyv1.DisruptionAllowedCondition,
		Status:             metav1.ConditionFalse,
		Reason:             policyv1.SyncFailedReason,
		Message:            err.Error(),
		ObservedGeneration: s.ObservedGeneration,
	})
	return s
}
