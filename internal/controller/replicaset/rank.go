package replicaset

import (
	"math"
	"sort"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// PodDeletionCostAnnotation lets users say which pods of a ReplicaSet to
// delete first on scale-down: lower cost goes first (Kubernetes' annotation).
const PodDeletionCostAnnotation = "controller.kubernetes.io/pod-deletion-cost"

// podsToDelete returns the diff pods of pods that a scale-down removes
// first, ranked as Kubernetes ranks them (see rankedPods.Less). related are
// the active pods of every ReplicaSet of the same owner: a pod sharing its
// node with more of them goes earlier.
func podsToDelete(pods, related []*corev1.Pod, diff int, now time.Time) []*corev1.Pod {
	if diff >= len(pods) {
		return pods
	}
	onNode := map[string]int{}
	for _, p := range related {
		if isPodActive(p) {
			onNode[p.Spec.NodeName]++
		}
	}
	r := rankedPods{pods: append([]*corev1.Pod(nil), pods...), rank: make([]int, len(pods)), now: now}
	for i, p := range r.pods {
		r.rank[i] = onNode[p.Spec.NodeName]
	}
	sort.Sort(r)
	return r.pods[:diff]
}

// rankedPods sorts pods so that those to delete first come first.
type rankedPods struct {
	pods []*corev1.Pod
	rank []int // active related pods on the same node
	now  time.Time
}

func (r rankedPods) Len() int { return len(r.pods) }

func (r rankedPods) Swap(i, j int) {
	r.pods[i], r.pods[j] = r.pods[j], r.pods[i]
	r.rank[i], r.rank[j] = r.rank[j], r.rank[i]
}

var phaseOrdinal = map[corev1.PodPhase]int{corev1.PodPending: 0, corev1.PodUnknown: 1, corev1.PodRunning: 2}

// Less is Kubernetes' ActivePodsWithRanks order (with PodDeletionCost and
// LogarithmicScaleDown, both on by default):
//
//  1. unassigned < assigned
//  2. Pending < Unknown < Running
//  3. not ready < ready
//  4. lower pod-deletion-cost < higher
//  5. more related pods on the same node < fewer
//  6. ready for less time < longer (log2 buckets of the age)
//  7. more container restarts < fewer
//  8. newer < older (log2 buckets of the age), then by UID
func (r rankedPods) Less(i, j int) bool {
	pi, pj := r.pods[i], r.pods[j]
	if pi.Spec.NodeName != pj.Spec.NodeName && (pi.Spec.NodeName == "" || pj.Spec.NodeName == "") {
		return pi.Spec.NodeName == ""
	}
	if oi, oj := phaseOrdinal[pi.Status.Phase], phaseOrdinal[pj.Status.Phase]; oi != oj {
		return oi < oj
	}
	ri, rj := isPodReady(pi), isPodReady(pj)
	if ri != rj {
		return !ri
	}
	if ci, cj := deletionCost(pi), deletionCost(pj); ci != cj {
		return ci < cj
	}
	if r.rank[i] != r.rank[j] {
		return r.rank[i] > r.rank[j]
	}
	if ri && rj {
		ti, tj := readyTime(pi), readyTime(pj)
		if !ti.Equal(tj) {
			if r.now.IsZero() || ti.IsZero() || tj.IsZero() {
				return afterOrZero(ti, tj)
			}
			if d := logRankDiff(ti, tj, r.now); d != 0 {
				return d < 0
			}
			return pi.UID < pj.UID
		}
	}
	if res, ok := compareRestarts(pi, pj); ok {
		return res
	}
	ci, cj := pi.CreationTimestamp.Time, pj.CreationTimestamp.Time
	if !ci.Equal(cj) {
		if r.now.IsZero() || ci.IsZero() || cj.IsZero() {
			return afterOrZero(ci, cj)
		}
		if d := logRankDiff(ci, cj, r.now); d != 0 {
			return d < 0
		}
		return pi.UID < pj.UID
	}
	return false
}

// afterOrZero orders zero times first, then later times first.
func afterOrZero(a, b time.Time) bool {
	if a.IsZero() || b.IsZero() {
		return a.IsZero()
	}
	return a.After(b)
}

// logRankDiff compares the ages of a and b on a log2 scale of nanoseconds:
// pods of about the same age are treated alike (and then picked by UID, so
// scale-down spreads randomly over them instead of always hitting the newest).
func logRankDiff(a, b, now time.Time) int64 {
	rank := func(t time.Time) int64 {
		if d := now.Sub(t); d > 0 {
			return int64(math.Log2(float64(d)))
		}
		return -1
	}
	return rank(a) - rank(b)
}

func readyTime(p *corev1.Pod) time.Time {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime.Time
		}
	}
	return time.Time{}
}

// compareRestarts orders the pod whose containers restarted more often
// first: regular containers, then restartable init (sidecar) containers.
func compareRestarts(pi, pj *corev1.Pod) (less, ok bool) {
	ri, si := maxRestarts(pi)
	rj, sj := maxRestarts(pj)
	if ri != rj {
		return ri > rj, true
	}
	if si != sj {
		return si > sj, true
	}
	return false, false
}

func maxRestarts(p *corev1.Pod) (regular, sidecar int32) {
	for _, c := range p.Status.ContainerStatuses {
		regular = max(regular, c.RestartCount)
	}
	sidecars := map[string]bool{}
	for _, c := range p.Spec.InitContainers {
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sidecars[c.Name] = true
		}
	}
	for _, c := range p.Status.InitContainerStatuses {
		if sidecars[c.Name] {
			sidecar = max(sidecar, c.RestartCount)
		}
	}
	return regular, sidecar
}

// deletionCost reads PodDeletionCostAnnotation; a missing or malformed
// value counts as 0.
func deletionCost(p *corev1.Pod) int32 {
	v, ok := p.Annotations[PodDeletionCostAnnotation]
	if !ok {
		return 0
	}
	n, err := strconv.ParseInt(v, 10, 32)
	if err != nil {
		return 0
	}
	return int32(n)
}

// isPodActive reports whether p counts as a replica: not finished and not
// being deleted.
func isPodActive(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp == nil
}

// isPodTerminating reports whether p is being deleted but has not finished.
func isPodTerminating(p *corev1.Pod) bool {
	return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed && p.DeletionTimestamp != nil
}

func isPodReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// isPodAvailable reports whether p has been ready for at least
// minReadySeconds at now.
func isPodAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) bool {
	if !isPodReady(p) {
		return false
	}
	if minReadySeconds == 0 {
		return true
	}
	t := readyTime(p)
	return !t.IsZero() && t.Add(time.Duration(minReadySeconds)*time.Second).Before(now)
}

// untilAvailable returns how long until the ready pod p becomes available
// (zero if it already is or is not ready).
func untilAvailable(p *corev1.Pod, minReadySeconds int32, now time.Time) time.Duration {
	if !isPodReady(p) || minReadySeconds == 0 {
		return 0
	}
	t := readyTime(p)
	if t.IsZero() {
		return 0
	}
	return max(0, t.Add(time.Duration(minReadySeconds)*time.Second).Sub(now))
}
