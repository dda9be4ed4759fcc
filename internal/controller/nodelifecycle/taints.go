package nodelifecycle

import (
	"slices"
	"time"

	"github.com/go-logr/logr"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// This file is the pure part: which taints a node's Ready condition calls
// for, and when a pod on a node with NoExecute taints must go.

// managedTaints are the taints this controller owns, by key and effect.
var managedTaints = []corev1.Taint{
	{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute},
	{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoSchedule},
	{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute},
}

func isManaged(t corev1.Taint) bool {
	return slices.ContainsFunc(managedTaints, func(m corev1.Taint) bool { return m.Key == t.Key && m.Effect == t.Effect })
}

// wantedTaintKey returns the key of the taints a Ready condition calls for:
// unreachable for Unknown, not-ready for False, none for True. ok is false
// when the node never reported readiness: its taints are then left alone.
func wantedTaintKey(ready *corev1.NodeCondition) (key string, ok bool) {
	if ready == nil {
		return "", false
	}
	switch ready.Status {
	case corev1.ConditionUnknown:
		return corev1.TaintNodeUnreachable, true
	case corev1.ConditionFalse:
		return corev1.TaintNodeNotReady, true
	default:
		return "", true
	}
}

// reconcileTaints returns the node's taints with the managed ones set to
// the NoSchedule and NoExecute pair of key (none when key is empty),
// keeping the TimeAdded of taints already there; changed reports whether
// anything differs. Other taints are kept as they are.
func reconcileTaints(taints []corev1.Taint, key string, now time.Time) (out []corev1.Taint, changed bool) {
	have := map[corev1.TaintEffect]bool{}
	for _, t := range taints {
		switch {
		case !isManaged(t):
			out = append(out, t)
		case t.Key == key:
			out = append(out, t)
			have[t.Effect] = true
		default:
			changed = true // a managed taint not wanted now
		}
	}
	if key == "" {
		return out, changed
	}
	for _, effect := range []corev1.TaintEffect{corev1.TaintEffectNoSchedule, corev1.TaintEffectNoExecute} {
		if have[effect] {
			continue
		}
		t := corev1.Taint{Key: key, Effect: effect}
		if effect == corev1.TaintEffectNoExecute {
			added := metav1.NewTime(now)
			t.TimeAdded = &added
		}
		out = append(out, t)
		changed = true
	}
	return out, changed
}

// evictionTime decides when a pod on a node with taints must be deleted,
// as Kubernetes' taint eviction does: not at all when no NoExecute taint is
// there or every one is tolerated without tolerationSeconds; at once when
// one is not tolerated; otherwise after the smallest tolerationSeconds of
// the tolerations used, counted from when the taint was added (or the pod
// created, if later). A pod without any toleration for the not-ready or
// unreachable taint is treated as tolerating it for defaultSeconds, which
// is what Kubernetes' DefaultTolerationSeconds admission adds to every pod.
func evictionTime(pod *corev1.Pod, taints []corev1.Taint, defaultSeconds int64) (at time.Time, evict bool) {
	for _, taint := range taints {
		if taint.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		start := pod.CreationTimestamp.Time
		if taint.TimeAdded != nil && taint.TimeAdded.After(start) {
			start = taint.TimeAdded.Time
		}
		var seconds *int64
		tolerated := false
		for i := range pod.Spec.Tolerations {
			tol := &pod.Spec.Tolerations[i]
			if !tol.ToleratesTaint(logr.Discard(), &taint, false) {
				continue
			}
			tolerated = true
			if tol.TolerationSeconds != nil && (seconds == nil || *tol.TolerationSeconds < *seconds) {
				seconds = tol.TolerationSeconds
			}
		}
		if !tolerated {
			if taint.Key != corev1.TaintNodeNotReady && taint.Key != corev1.TaintNodeUnreachable {
				return start, true
			}
			seconds = &defaultSeconds
		}
		if seconds == nil {
			continue // tolerated forever
		}
		when := start.Add(time.Duration(max(*seconds, 0)) * time.Second)
		if !evict || when.Before(at) {
			at, evict = when, true
		}
	}
	return at, evict
}
