package deployment

import (
	"context"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/controller"
)

// rolloutRolling takes one step of a rolling update: scale the new
// ReplicaSet up within maxSurge, else scale old ones down within
// maxUnavailable, else (complete) clean up the history; then write the
// status.
func (c *Controller) rolloutRolling(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (controller.Result, error) {
	newRS, olds, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, true)
	if err != nil {
		return controller.Result{}, err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)

	scaledUp, newRS, err := c.reconcileNewReplicaSet(ctx, all, newRS, d)
	if err != nil {
		return controller.Result{}, err
	}
	all[len(all)-1] = newRS
	if scaledUp {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	scaledDown, err := c.reconcileOldReplicaSets(ctx, all, activeReplicaSets(olds), newRS, d)
	if err != nil {
		return controller.Result{}, err
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return controller.Result{}, err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

// reconcileNewReplicaSet scales the new ReplicaSet towards the desired
// replicas as far as maxSurge allows (or down, if it has too many).
func (c *Controller) reconcileNewReplicaSet(ctx context.Context, all []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, *appsv1.ReplicaSet, error) {
	if rsReplicas(newRS) == replicas(d) {
		return false, newRS, nil
	}
	if rsReplicas(newRS) > replicas(d) {
		return c.scaleReplicaSetAndRecordEvent(ctx, newRS, replicas(d), d)
	}
	size, err := newRSNewReplicas(d, all, newRS)
	if err != nil {
		return false, newRS, err
	}
	return c.scaleReplicaSetAndRecordEvent(ctx, newRS, size, d)
}

// reconcileOldReplicaSets scales old ReplicaSets down as far as
// maxUnavailable allows: unhealthy replicas first (they block nothing), then
// available ones while enough stay available.
func (c *Controller) reconcileOldReplicaSets(ctx context.Context, all, olds []*appsv1.ReplicaSet, newRS *appsv1.ReplicaSet, d *appsv1.Deployment) (bool, error) {
	if specReplicas(olds) == 0 {
		return false, nil
	}
	minAvailable := replicas(d) - maxUnavailable(d)
	newUnavailable := rsReplicas(newRS) - newRS.Status.AvailableReplicas
	maxScaledDown := specReplicas(all) - minAvailable - newUnavailable
	if maxScaledDown <= 0 {
		return false, nil
	}
	olds, cleaned, err := c.cleanupUnhealthyReplicas(ctx, olds, d, maxScaledDown)
	if err != nil {
		return false, err
	}
	all = append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	scaled, err := c.scaleDownOldReplicaSets(ctx, all, olds, d)
	if err != nil {
		return false, err
	}
	return cleaned+scaled > 0, nil
}

// cleanupUnhealthyReplicas removes the unavailable replicas of old
// ReplicaSets, oldest first, at most maxCleanup.
func (c *Controller) cleanupUnhealthyReplicas(ctx context.Context, olds []*appsv1.ReplicaSet, d *appsv1.Deployment, maxCleanup int32) ([]*appsv1.ReplicaSet, int32, error) {
	olds = append([]*appsv1.ReplicaSet(nil), olds...)
	sort.Sort(byCreation(olds))
	var total int32
	for i, rs := range olds {
		if total >= maxCleanup {
			break
		}
		healthy := min(rs.Status.AvailableReplicas, rsReplicas(rs))
		if rsReplicas(rs) == 0 || rsReplicas(rs) == healthy {
			continue
		}
		n := min(maxCleanup-total, rsReplicas(rs)-healthy)
		_, updated, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, rsReplicas(rs)-n, d)
		if err != nil {
			return nil, total, err
		}
		total += n
		olds[i] = updated
	}
	return olds, total, nil
}

// scaleDownOldReplicaSets removes available old replicas, oldest
// ReplicaSets first, while more than replicas-maxUnavailable stay
// available.
func (c *Controller) scaleDownOldReplicaSets(ctx context.Context, all, olds []*appsv1.ReplicaSet, d *appsv1.Deployment) (int32, error) {
	minAvailable := replicas(d) - maxUnavailable(d)
	available := safeAvailableReplicas(all)
	if available <= minAvailable {
		return 0, nil
	}
	olds = append([]*appsv1.ReplicaSet(nil), olds...)
	sort.Sort(byCreation(olds))
	want := available - minAvailable
	var total int32
	for _, rs := range olds {
		if total >= want {
			break
		}
		if rsReplicas(rs) == 0 {
			continue
		}
		n := min(rsReplicas(rs), want-total)
		if _, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, rsReplicas(rs)-n, d); err != nil {
			return total, err
		}
		total += n
	}
	return total, nil
}

// rolloutRecreate: scale every old ReplicaSet to zero, wait until none of
// their pods runs, then create and scale up the new one.
func (c *Controller) rolloutRecreate(ctx context.Context, d *appsv1.Deployment, rsList []*appsv1.ReplicaSet) (controller.Result, error) {
	// No new ReplicaSet before the old pods are gone.
	newRS, olds, err := c.replicaSetsAndSyncRevision(ctx, d, rsList, false)
	if err != nil {
		return controller.Result{}, err
	}
	all := append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	scaledDown := false
	for _, rs := range activeReplicaSets(olds) {
		scaled, _, err := c.scaleReplicaSetAndRecordEvent(ctx, rs, 0, d)
		if err != nil {
			return controller.Result{}, err
		}
		scaledDown = scaledDown || scaled
	}
	if scaledDown {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if c.oldPodsRunning(newRS, olds) {
		return c.syncRolloutStatus(ctx, all, newRS, d)
	}
	if newRS == nil {
		newRS, olds, err = c.replicaSetsAndSyncRevision(ctx, d, rsList, true)
		if err != nil {
			return controller.Result{}, err
		}
		all = append(append([]*appsv1.ReplicaSet(nil), olds...), newRS)
	}
	_, newRS, err = c.scaleReplicaSetAndRecordEvent(ctx, newRS, replicas(d), d)
	if err != nil {
		return controller.Result{}, err
	}
	all[len(all)-1] = newRS
	if deploymentComplete(d, &d.Status) {
		if err := c.cleanup(ctx, d, olds); err != nil {
			return controller.Result{}, err
		}
	}
	return c.syncRolloutStatus(ctx, all, newRS, d)
}

// oldPodsRunning reports whether an old ReplicaSet still has pods that are
// not finished (terminating ones included: Recreate promises no overlap).
func (c *Controller) oldPodsRunning(newRS *appsv1.ReplicaSet, olds []*appsv1.ReplicaSet) bool {
	if statusReplicas(olds) > 0 {
		return true
	}
	for _, rs := range olds {
		if newRS != nil && rs.UID == newRS.UID {
			continue
		}
		objs, err := c.podIndex.ByIndex(podOwnerIndex, string(rs.UID))
		if err != nil {
			return true
		}
		for _, o := range objs {
			p := o.(*corev1.Pod)
			if p.Namespace != rs.Namespace {
				continue
			}
			if p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed {
				return true
			}
		}
	}
	return false
}
