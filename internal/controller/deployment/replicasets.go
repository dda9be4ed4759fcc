package deployment

import (
	"sort"
	"strconv"
	"strings"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
)

// Annotations Kubernetes' deployment controller writes, read by kubectl.
const (
	// RevisionAnnotation is the revision of a Deployment and of each of its
	// ReplicaSets (kubectl rollout history/undo).
	RevisionAnnotation = "deployment.kubernetes.io/revision"
	// RevisionHistoryAnnotation lists the earlier revisions a ReplicaSet had
	// before a rollback made it the newest again.
	RevisionHistoryAnnotation = "deployment.kubernetes.io/revision-history"
	// DesiredReplicasAnnotation is the Deployment's replicas when the
	// ReplicaSet was last sized.
	DesiredReplicasAnnotation = "deployment.kubernetes.io/desired-replicas"
	// MaxReplicasAnnotation is replicas+maxSurge when the ReplicaSet was last
	// sized (used for proportional scaling).
	MaxReplicasAnnotation = "deployment.kubernetes.io/max-replicas"

	// maxRevisionHistoryChars bounds RevisionHistoryAnnotation.
	maxRevisionHistoryChars = 2000
)

// annotationsNotCopied are the Deployment annotations not copied to its
// ReplicaSets (and kept on the Deployment by a rollback).
var annotationsNotCopied = map[string]bool{
	corev1.LastAppliedConfigAnnotation: true,
	RevisionAnnotation:                 true,
	RevisionHistoryAnnotation:          true,
	DesiredReplicasAnnotation:          true,
	MaxReplicasAnnotation:              true,
	appsv1.DeprecatedRollbackTo:        true,
}

// equalIgnoreHash compares two templates ignoring the pod-template-hash label.
func equalIgnoreHash(a, b *corev1.PodTemplateSpec) bool {
	a, b = a.DeepCopy(), b.DeepCopy()
	delete(a.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	delete(b.Labels, appsv1.DefaultDeploymentUniqueLabelKey)
	return equality.Semantic.DeepEqual(a, b)
}

// byCreation orders ReplicaSets oldest first, then by name.
type byCreation []*appsv1.ReplicaSet

func (s byCreation) Len() int      { return len(s) }
func (s byCreation) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s byCreation) Less(i, j int) bool {
	if s[i].CreationTimestamp.Equal(&s[j].CreationTimestamp) {
		return s[i].Name < s[j].Name
	}
	return s[i].CreationTimestamp.Before(&s[j].CreationTimestamp)
}

// bySizeOlder orders larger ReplicaSets first, older first among equals
// (scale-down order).
type bySizeOlder []*appsv1.ReplicaSet

func (s bySizeOlder) Len() int      { return len(s) }
func (s bySizeOlder) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s bySizeOlder) Less(i, j int) bool {
	if rsReplicas(s[i]) == rsReplicas(s[j]) {
		return byCreation(s).Less(i, j)
	}
	return rsReplicas(s[i]) > rsReplicas(s[j])
}

// bySizeNewer orders larger ReplicaSets first, newer first among equals
// (scale-up order).
type bySizeNewer []*appsv1.ReplicaSet

func (s bySizeNewer) Len() int      { return len(s) }
func (s bySizeNewer) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s bySizeNewer) Less(i, j int) bool {
	if rsReplicas(s[i]) == rsReplicas(s[j]) {
		return byCreation(s).Less(j, i)
	}
	return rsReplicas(s[i]) > rsReplicas(s[j])
}

// byRevision orders ReplicaSets by revision, then by creation.
type byRevision []*appsv1.ReplicaSet

func (s byRevision) Len() int      { return len(s) }
func (s byRevision) Swap(i, j int) { s[i], s[j] = s[j], s[i] }
func (s byRevision) Less(i, j int) bool {
	ri, _ := revision(s[i])
	rj, _ := revision(s[j])
	if ri == rj {
		return byCreation(s).Less(i, j)
	}
	return ri < rj
}

// findNewReplicaSet returns the oldest ReplicaSet whose template equals the
// Deployment's, ignoring the hash label (several can exist after a hash
// collision; the oldest wins as in Kubernetes).
func findNewReplicaSet(d *appsv1.Deployment, rss []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	sorted := append([]*appsv1.ReplicaSet(nil), rss...)
	sort.Sort(byCreation(sorted))
	for _, rs := range sorted {
		if equalIgnoreHash(&rs.Spec.Template, &d.Spec.Template) {
			return rs
		}
	}
	return nil
}

// oldReplicaSets returns every ReplicaSet but newRS.
func oldReplicaSets(newRS *appsv1.ReplicaSet, rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if newRS == nil || rs.UID != newRS.UID {
			out = append(out, rs)
		}
	}
	return out
}

// activeReplicaSets keeps the ReplicaSets with spec.replicas > 0.
func activeReplicaSets(rss []*appsv1.ReplicaSet) []*appsv1.ReplicaSet {
	var out []*appsv1.ReplicaSet
	for _, rs := range rss {
		if rs != nil && rsReplicas(rs) > 0 {
			out = append(out, rs)
		}
	}
	return out
}

// findActiveOrLatest returns the only active ReplicaSet, or the newest one
// if none is active; nil when several are active.
func findActiveOrLatest(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) *appsv1.ReplicaSet {
	if newRS == nil && len(olds) == 0 {
		return nil
	}
	sorted := append([]*appsv1.ReplicaSet(nil), olds...)
	sort.Sort(sort.Reverse(byCreation(sorted)))
	active := activeReplicaSets(append(sorted, newRS))
	switch len(active) {
	case 0:
		if newRS != nil {
			return newRS
		}
		return sorted[0]
	case 1:
		return active[0]
	default:
		return nil
	}
}

func revision(rs *appsv1.ReplicaSet) (int64, error) {
	v, ok := rs.Annotations[RevisionAnnotation]
	if !ok {
		return 0, nil
	}
	return strconv.ParseInt(v, 10, 64)
}

// maxRevision is the highest revision among rss (unparsable ones skipped).
func maxRevision(rss []*appsv1.ReplicaSet) int64 {
	var m int64
	for _, rs := range rss {
		if v, err := revision(rs); err == nil && v > m {
			m = v
		}
	}
	return m
}

// setNewReplicaSetAnnotations copies the Deployment's annotations to the
// new ReplicaSet, raises its revision to newRevision (recording the
// revision it had in the revision history, which is how a rollback shows),
// and, for a ReplicaSet about to be created, sets the replica annotations.
// It reports whether anything changed.
func setNewReplicaSetAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet, newRevision string, exists bool) bool {
	changed := copyDeploymentAnnotations(d, rs)
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	oldRevision, had := rs.Annotations[RevisionAnnotation]
	oldInt, err := strconv.ParseInt(oldRevision, 10, 64)
	if err != nil {
		if oldRevision != "" {
			return false
		}
		oldInt = 0
	}
	newInt, err := strconv.ParseInt(newRevision, 10, 64)
	if err != nil {
		return false
	}
	if oldInt < newInt {
		rs.Annotations[RevisionAnnotation] = newRevision
		changed = true
	}
	if had && oldInt < newInt {
		history := rs.Annotations[RevisionHistoryAnnotation]
		olds := strings.Split(history, ",")
		if olds[0] == "" {
			rs.Annotations[RevisionHistoryAnnotation] = oldRevision
		} else {
			total := len(history) + len(oldRevision) + 1
			start := 0
			for total > maxRevisionHistoryChars && start < len(olds) {
				total -= len(olds[start]) + 1
				start++
			}
			if total <= maxRevisionHistoryChars {
				rs.Annotations[RevisionHistoryAnnotation] = strings.Join(append(olds[start:], oldRevision), ",")
			}
		}
	}
	if !exists && setReplicasAnnotations(rs, replicas(d), replicas(d)+maxSurge(d)) {
		changed = true
	}
	return changed
}

func copyDeploymentAnnotations(d *appsv1.Deployment, rs *appsv1.ReplicaSet) bool {
	changed := false
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	for k, v := range d.Annotations {
		if cur, ok := rs.Annotations[k]; annotationsNotCopied[k] || (ok && cur == v) {
			continue
		}
		rs.Annotations[k] = v
		changed = true
	}
	return changed
}

// setReplicasAnnotations records the sizes a ReplicaSet was scaled for.
func setReplicasAnnotations(rs *appsv1.ReplicaSet, desired, maxReplicas int32) bool {
	if rs.Annotations == nil {
		rs.Annotations = map[string]string{}
	}
	d, m := strconv.Itoa(int(desired)), strconv.Itoa(int(maxReplicas))
	if rs.Annotations[DesiredReplicasAnnotation] == d && rs.Annotations[MaxReplicasAnnotation] == m {
		return false
	}
	rs.Annotations[DesiredReplicasAnnotation] = d
	rs.Annotations[MaxReplicasAnnotation] = m
	return true
}

// setDeploymentRevision sets the Deployment's revision annotation.
func setDeploymentRevision(d *appsv1.Deployment, rev string) bool {
	if d.Annotations == nil {
		d.Annotations = map[string]string{}
	}
	if d.Annotations[RevisionAnnotation] == rev {
		return false
	}
	d.Annotations[RevisionAnnotation] = rev
	return true
}
