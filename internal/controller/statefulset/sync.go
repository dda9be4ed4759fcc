package statefulset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantry-dev/gantry/internal/controller"
)

// Reconcile converges the StatefulSet "namespace/name" (see the package
// comment).
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return controller.Result{}, nil
	}
	cached, err := c.setLister.StatefulSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	set := cached.DeepCopy()
	if set.DeletionTimestamp != nil {
		return controller.Result{}, nil // the garbage collector removes the pods
	}
	pods := c.ownedPods(key, set)
	current, update, all, collisions, err := c.revisions(ctx, key, set)
	if err != nil {
		return controller.Result{}, err
	}
	currentSet, err := applyRevision(set, current)
	if err != nil {
		return controller.Result{}, fmt.Errorf("apply revision %s: %w", current.Name, err)
	}
	updateSet, err := applyRevision(set, update)
	if err != nil {
		return controller.Result{}, fmt.Errorf("apply revision %s: %w", update.Name, err)
	}

	var syncErr error
	if c.exp.Satisfied(key) {
		s := c.decide(set, pods, current.Name, update.Name)
		syncErr = c.apply(ctx, key, set, currentSet, updateSet, s, current.Name, update.Name)
	}
	if err := c.writeStatus(ctx, set, pods, current.Name, update.Name, collisions); err != nil {
		return controller.Result{}, err
	}
	live := map[string]bool{current.Name: true, update.Name: true}
	for _, p := range pods {
		live[p.Labels[revisionLabel]] = true
	}
	if err := errors.Join(syncErr, c.truncateHistory(ctx, set, all, live)); err != nil {
		return controller.Result{}, err
	}
	var res controller.Result
	if set.Spec.MinReadySeconds > 0 {
		for _, p := range pods {
			if runningAndReady(p) && !runningAndAvailable(p, set.Spec.MinReadySeconds, c.cfg.Now()) {
				res.RequeueAfter = minReadyDelay(set.Spec.MinReadySeconds)
			}
		}
	}
	return res, nil
}

func (c *Controller) ownedPods(key string, set *appsv1.StatefulSet) []*corev1.Pod {
	objs, _ := c.podIndex.ByIndex(ownerIndex, key)
	var out []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && ownerRef(p).UID == set.UID && ordinalOf(set, p) >= 0 {
			out = append(out, p)
		}
	}
	return out
}

// step is what one reconcile changes.
type step struct {
	create  []int // ordinals
	delete  []*corev1.Pod
	reasons map[string]string // pod name → event reason for deletes
}

// decide is Kubernetes' StatefulSet update algorithm for one pass:
//
//	replicas in ascending ordinal: recreate terminal pods, create missing
//	  ones; OrderedReady stops at the first change or at a pod that is
//	  not Running, Ready (for minReadySeconds) and alive
//	condemned (ordinal ≥ replicas) in descending ordinal: delete;
//	  OrderedReady one at a time, only once the others are healthy
//	RollingUpdate: from the highest ordinal down to the partition,
//	  delete pods not at the update revision while fewer than
//	  maxUnavailable (default 1) replicas are unhealthy
func (c *Controller) decide(set *appsv1.StatefulSet, pods []*corev1.Pod, currentRev, updateRev string) step {
	s := step{reasons: map[string]string{}}
	now := c.cfg.Now()
	minReady := set.Spec.MinReadySeconds
	start, n := startOrdinal(set), replicasOf(set)
	replicas := make([]*corev1.Pod, n)
	var condemned []*corev1.Pod
	for _, p := range pods {
		o := ordinalOf(set, p)
		if o >= start && o < start+n {
			replicas[o-start] = p
		} else {
			condemned = append(condemned, p)
		}
	}
	sort.Slice(condemned, func(i, j int) bool { return ordinalOf(set, condemned[i]) < ordinalOf(set, condemned[j]) })
	healthy := func(p *corev1.Pod) bool {
		return p != nil && runningAndAvailable(p, minReady, now) && !terminating(p)
	}
	var firstUnhealthy *corev1.Pod
	for _, p := range append(append([]*corev1.Pod(nil), replicas...), condemned...) {
		if p != nil && !healthy(p) && firstUnhealthy == nil {
			firstUnhealthy = p
		}
	}
	monotonic := set.Spec.PodManagementPolicy != appsv1.ParallelPodManagement

	for i, p := range replicas {
		switch {
		case p == nil:
			s.create = append(s.create, start+i)
		case terminal(p) && !terminating(p):
			s.delete = append(s.delete, p)
			s.reasons[p.Name] = "RecreatingFailedPod"
		case monotonic && (terminating(p) || !healthy(p)):
			return s // wait for it
		default:
			continue
		}
		if monotonic {
			return s
		}
	}
	for t := len(condemned) - 1; t >= 0; t-- {
		p := condemned[t]
		if terminating(p) {
			if monotonic {
				return s
			}
			continue
		}
		if monotonic && !runningAndReady(p) && p != firstUnhealthy {
			return s
		}
		s.delete = append(s.delete, p)
		s.reasons[p.Name] = "SuccessfulDelete"
		if monotonic {
			return s
		}
	}
	if set.Spec.UpdateStrategy.Type != appsv1.RollingUpdateStatefulSetStrategyType || len(s.create) > 0 || len(s.delete) > 0 {
		return s
	}
	updateMin := 0
	if ru := set.Spec.UpdateStrategy.RollingUpdate; ru != nil && ru.Partition != nil {
		updateMin = int(*ru.Partition)
	}
	// At most maxUnavailable replicas may be unavailable (Kubernetes'
	// MaxUnavailableStatefulSet, beta and on by default since 1.35): count
	// the unhealthy ones, then delete outdated pods from the highest
	// ordinal down to the partition until that many are down.
	unavailable := 0
	for _, p := range replicas {
		if !healthy(p) {
			unavailable++
		}
	}
	budget := maxUnavailable(set, n) - unavailable
	for t := n - 1; t >= updateMin && t >= 0 && budget > 0; t-- {
		p := replicas[t]
		if p != nil && p.Labels[revisionLabel] != updateRev && !terminating(p) {
			s.delete = append(s.delete, p)
			s.reasons[p.Name] = "SuccessfulDelete"
			budget--
		}
	}
	return s
}

// maxUnavailable is spec.updateStrategy.rollingUpdate.maxUnavailable
// scaled to replicas (a percentage rounds down), at least 1; 1 when unset.
func maxUnavailable(set *appsv1.StatefulSet, replicas int) int {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	if ru == nil || ru.MaxUnavailable == nil {
		return 1
	}
	v, err := intstr.GetScaledValueFromIntOrPercent(ru.MaxUnavailable, replicas, false)
	if err != nil || v < 1 {
		return 1
	}
	return v
}

// versionedPod is Kubernetes' newVersionedStatefulSetPod: ordinals below
// the partition (or below currentReplicas without a rolling update
// configuration) keep the current revision, the others get the update one.
func versionedPod(set, currentSet, updateSet *appsv1.StatefulSet, ordinal int, currentRev, updateRev string) *corev1.Pod {
	ru := set.Spec.UpdateStrategy.RollingUpdate
	start := startOrdinal(set)
	isRolling := set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType
	if (isRolling && ru == nil && ordinal < start+int(set.Status.CurrentReplicas)) ||
		(ru != nil && ru.Partition != nil && ordinal < start+int(*ru.Partition)) {
		return newPod(currentSet, ordinal, currentRev)
	}
	return newPod(updateSet, ordinal, updateRev)
}

func (c *Controller) apply(ctx context.Context, key string, set, currentSet, updateSet *appsv1.StatefulSet, s step, currentRev, updateRev string) error {
	if len(s.create) == 0 && len(s.delete) == 0 {
		return nil
	}
	var delKeys []string
	for _, p := range s.delete {
		delKeys = append(delKeys, keyOf(p.Namespace, p.Name))
	}
	c.exp.Expect(key, len(s.create), delKeys)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	fail := func(err error) {
		mu.Lock()
		errs = append(errs, err)
		mu.Unlock()
	}
	for _, ord := range s.create {
		wg.Go(func() {
			pod := versionedPod(set, currentSet, updateSet, ord, currentRev, updateRev)
			pod.OwnerReferences = []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)}
			if err := c.ensureClaims(ctx, set, ord); err != nil {
				c.exp.CreationObserved(key)
				fail(err)
				return
			}
			_, err := c.kube.CoreV1().Pods(set.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			switch {
			case err == nil:
				c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulCreate", "create Pod %s in StatefulSet %s successful", pod.Name, set.Name)
			case apierrors.IsAlreadyExists(err):
				c.exp.CreationObserved(key)
			default:
				c.exp.CreationObserved(key)
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedCreate", "create Pod %s in StatefulSet %s failed error: %s", pod.Name, set.Name, err)
				fail(fmt.Errorf("create pod %s: %w", pod.Name, err))
			}
		})
	}
	for _, p := range s.delete {
		wg.Go(func() {
			if o := ordinalOf(set, p); o < startOrdinal(set) || o >= startOrdinal(set)+replicasOf(set) {
				if err := c.ownClaimsByPod(ctx, set, p, o); err != nil {
					c.exp.DeletionObserved(key, keyOf(p.Namespace, p.Name))
					fail(err)
					return
				}
			}
			err := c.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			switch {
			case err == nil:
				if s.reasons[p.Name] == "RecreatingFailedPod" {
					c.recorder.Eventf(set, corev1.EventTypeWarning, "RecreatingFailedPod", "StatefulSet %s/%s is recreating failed Pod %s", set.Namespace, set.Name, p.Name)
				}
				c.recorder.Eventf(set, corev1.EventTypeNormal, "SuccessfulDelete", "delete Pod %s in StatefulSet %s successful", p.Name, set.Name)
			case apierrors.IsNotFound(err), apierrors.IsConflict(err):
				c.exp.DeletionObserved(key, keyOf(p.Namespace, p.Name))
			default:
				c.exp.DeletionObserved(key, keyOf(p.Namespace, p.Name))
				c.recorder.Eventf(set, corev1.EventTypeWarning, "FailedDelete", "delete Pod %s in StatefulSet %s failed error: %s", p.Name, set.Name, err)
				fail(fmt.Errorf("delete pod %s: %w", p.Name, err))
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeStatus computes the status as Kubernetes does and writes it if it
// changed; a finished rolling update makes the update revision current.
func (c *Controller) writeStatus(ctx context.Context, set *appsv1.StatefulSet, pods []*corev1.Pod, currentRev, updateRev string, collisions int32) error {
	now := c.cfg.Now()
	st := appsv1.StatefulSetStatus{
		ObservedGeneration: set.Generation,
		CurrentRevision:    currentRev,
		UpdateRevision:     updateRev,
		CollisionCount:     &collisions,
		Conditions:         set.Status.Conditions,
	}
	for _, p := range pods {
		st.Replicas++
		if runningAndReady(p) {
			st.ReadyReplicas++
			if runningAndAvailable(p, set.Spec.MinReadySeconds, now) {
				st.AvailableReplicas++
			}
		}
		if !terminating(p) {
			if p.Labels[revisionLabel] == currentRev {
				st.CurrentReplicas++
			}
			if p.Labels[revisionLabel] == updateRev {
				st.UpdatedReplicas++
			}
		}
	}
	if set.Spec.UpdateStrategy.Type == appsv1.RollingUpdateStatefulSetStrategyType && st.UpdatedReplicas == st.Replicas && st.ReadyReplicas == st.Replicas {
		st.CurrentReplicas = st.UpdatedReplicas
		st.CurrentRevision = st.UpdateRevision
	}
	if equality.Semantic.DeepEqual(st, set.Status) {
		return nil
	}
	upd := set.DeepCopy()
	upd.Status = st
	if _, err := c.kube.AppsV1().StatefulSets(set.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update statefulset status: %w", err)
	}
	return nil
}
