package replicaset

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/validation"

	"github.com/gantry-dev/gantry/internal/controller"
)

// ErrOwnerChanged is returned when a ReplicaSet about to adopt pods turns
// out to be deleted or replaced (its live UID differs from the cached one).
var ErrOwnerChanged = errors.New("replicaset: owner deleted or replaced")

// Reconcile converges the ReplicaSet "namespace/name": it adopts and
// releases pods, creates or deletes pods to match spec.replicas, and writes
// the status.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, ok := splitKey(key)
	if !ok {
		return controller.Result{}, nil
	}
	cached, err := c.rsLister.ReplicaSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	rs := cached.DeepCopy()
	selector, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
	if err != nil {
		// Validation forbids this; retrying cannot help.
		c.log.Warn("invalid selector", "replicaSet", key, "err", err)
		return controller.Result{}, nil
	}
	// Read expectations before the pod list: pods created after this point
	// are either in the list or still expected.
	needsSync := c.exp.Satisfied(key) && rs.DeletionTimestamp == nil

	candidates, err := c.candidatePods(rs)
	if err != nil {
		return controller.Result{}, err
	}
	var active, terminating []*corev1.Pod
	for _, p := range candidates {
		switch {
		case isPodActive(p):
			active = append(active, p)
		case isPodTerminating(p):
			terminating = append(terminating, p)
		}
	}
	owned, err := c.claimPods(ctx, rs, selector, active)
	if err != nil {
		return controller.Result{}, err
	}
	var ownedTerminating []*corev1.Pod
	for _, p := range terminating {
		if ref := metav1.GetControllerOf(p); ref != nil && ref.UID == rs.UID && selector.Matches(labels.Set(p.Labels)) {
			ownedTerminating = append(ownedTerminating, p)
		}
	}

	var manageErr error
	if needsSync {
		manageErr = c.manageReplicas(ctx, rs, owned)
	}
	now := time.Now()
	status := calculateStatus(rs, owned, ownedTerminating, manageErr, now)
	updated, err := c.updateStatus(ctx, rs, status)
	if err != nil {
		return controller.Result{}, errors.Join(manageErr, err)
	}
	if manageErr != nil {
		return controller.Result{}, manageErr
	}
	// Look again when the next ready pod becomes available.
	if updated.Spec.MinReadySeconds > 0 && updated.Status.ReadyReplicas != updated.Status.AvailableReplicas {
		var next time.Duration
		for _, p := range owned {
			if d := untilAvailable(p, updated.Spec.MinReadySeconds, now); d > 0 && (next == 0 || d < next) {
				next = d
			}
		}
		if next > 0 {
			return controller.Result{RequeueAfter: next + 100*time.Millisecond}, nil
		}
	}
	return controller.Result{}, nil
}

func splitKey(key string) (namespace, name string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], true
		}
	}
	return "", "", false
}

// candidatePods returns the pods of rs's namespace that it owns or could
// adopt: those with its UID as controller, and orphans.
func (c *Controller) candidatePods(rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	var out []*corev1.Pod
	for _, key := range []string{string(rs.UID), orphanKey(rs.Namespace)} {
		objs, err := c.podIndex.ByIndex(podOwnerIndex, key)
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			if p := o.(*corev1.Pod); p.Namespace == rs.Namespace {
				out = append(out, p)
			}
		}
	}
	return out, nil
}

// claimPods returns the pods rs owns after adopting matching orphans and
// releasing owned pods that no longer match its selector. Adoption first
// confirms with a live read that rs is not being deleted.
func (c *Controller) claimPods(ctx context.Context, rs *appsv1.ReplicaSet, selector labels.Selector, pods []*corev1.Pod) ([]*corev1.Pod, error) {
	var (
		owned    []*corev1.Pod
		errs     []error
		canAdopt *bool
	)
	for _, p := range pods {
		matches := selector.Matches(labels.Set(p.Labels))
		ref := metav1.GetControllerOf(p)
		switch {
		case ref != nil && ref.UID != rs.UID:
			continue
		case ref != nil && matches:
			owned = append(owned, p)
		case ref != nil:
			if rs.DeletionTimestamp != nil {
				continue
			}
			if err := c.releasePod(ctx, rs, p); err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, err)
			}
		case !matches || rs.DeletionTimestamp != nil || p.DeletionTimestamp != nil:
			continue
		default:
			if canAdopt == nil {
				ok, err := c.ownerStillThere(ctx, rs)
				if err != nil {
					return nil, err
				}
				canAdopt = &ok
			}
			if !*canAdopt {
				continue
			}
			err := c.adoptPod(ctx, rs, p)
			switch {
			case apierrors.IsNotFound(err):
			case err != nil:
				errs = append(errs, err)
			default:
				owned = append(owned, p)
			}
		}
	}
	return owned, errors.Join(errs...)
}

// ownerStillThere reads rs live: adoption must not make a deleted
// ReplicaSet own pods that the garbage collector would then delete.
func (c *Controller) ownerStillThere(ctx context.Context, rs *appsv1.ReplicaSet) (bool, error) {
	live, err := c.kube.AppsV1().ReplicaSets(rs.Namespace).Get(ctx, rs.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return false, nil
	}
	if err != nil {
		return false, err
	}
	return live.UID == rs.UID && live.DeletionTimestamp == nil, nil
}

// ownerPatch is a strategic merge patch of metadata.ownerReferences; the
// pod's uid makes it fail if the pod was replaced by one of the same name.
type ownerPatch struct {
	Metadata struct {
		OwnerReferences []map[string]any `json:"ownerReferences"`
		UID             types.UID        `json:"uid"`
	} `json:"metadata"`
}

func (c *Controller) adoptPod(ctx context.Context, rs *appsv1.ReplicaSet, p *corev1.Pod) error {
	var patch ownerPatch
	patch.Metadata.UID = p.UID
	patch.Metadata.OwnerReferences = []map[string]any{{
		"apiVersion":         controllerKind.GroupVersion().String(),
		"kind":               controllerKind.Kind,
		"name":               rs.Name,
		"uid":                rs.UID,
		"controller":         true,
		"blockOwnerDeletion": true,
	}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := c.kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("adopt pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Debug("adopted pod", "replicaSet", rs.Name, "namespace", rs.Namespace, "pod", p.Name)
	return nil
}

func (c *Controller) releasePod(ctx context.Context, rs *appsv1.ReplicaSet, p *corev1.Pod) error {
	var patch ownerPatch
	patch.Metadata.UID = p.UID
	patch.Metadata.OwnerReferences = []map[string]any{{"$patch": "delete", "uid": rs.UID}}
	data, err := json.Marshal(patch)
	if err != nil {
		return err
	}
	if _, err := c.kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, data, metav1.PatchOptions{}); err != nil {
		return fmt.Errorf("release pod %s/%s: %w", p.Namespace, p.Name, err)
	}
	c.log.Debug("released pod", "replicaSet", rs.Name, "namespace", rs.Namespace, "pod", p.Name)
	return nil
}

// manageReplicas creates or deletes pods so that len(owned) converges to
// spec.replicas, at most BurstReplicas per call.
func (c *Controller) manageReplicas(ctx context.Context, rs *appsv1.ReplicaSet, owned []*corev1.Pod) error {
	key := keyOf(rs.Namespace, rs.Name)
	want := int(ptrValue(rs.Spec.Replicas, 1))
	diff := len(owned) - want
	switch {
	case diff < 0:
		n := min(-diff, c.cfg.BurstReplicas)
		c.exp.Expect(key, n, nil)
		successes, err := slowStartBatch(n, 1, func() error {
			return c.createPod(ctx, rs)
		})
		// Creations that were skipped will never be observed.
		for range n - successes {
			c.exp.CreationObserved(key)
		}
		return err
	case diff > 0:
		n := min(diff, c.cfg.BurstReplicas)
		related, err := c.relatedPods(rs)
		if err != nil {
			return err
		}
		victims := podsToDelete(owned, related, n, time.Now())
		podKeys := make([]string, len(victims))
		for i, p := range victims {
			podKeys[i] = keyOf(p.Namespace, p.Name)
		}
		c.exp.Expect(key, 0, podKeys)
		var (
			wg   sync.WaitGroup
			mu   sync.Mutex
			errs []error
		)
		for _, p := range victims {
			wg.Go(func() {
				err := c.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
				switch {
				case err == nil:
					c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %s", p.Name)
				case apierrors.IsNotFound(err) || apierrors.IsConflict(err):
					// Already gone (or replaced): nothing will be observed.
					c.exp.DeletionObserved(key, keyOf(p.Namespace, p.Name))
				default:
					c.exp.DeletionObserved(key, keyOf(p.Namespace, p.Name))
					c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
					mu.Lock()
					errs = append(errs, fmt.Errorf("delete pod %s/%s: %w", p.Namespace, p.Name, err))
					mu.Unlock()
				}
			})
		}
		wg.Wait()
		return errors.Join(errs...)
	}
	return nil
}

// relatedPods returns the pods owned by rs and by every other ReplicaSet
// with the same controller (the sibling ReplicaSets of a Deployment).
func (c *Controller) relatedPods(rs *appsv1.ReplicaSet) ([]*corev1.Pod, error) {
	owners := []types.UID{rs.UID}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		list, err := c.rsLister.ReplicaSets(rs.Namespace).List(labels.Everything())
		if err != nil {
			return nil, err
		}
		for _, other := range list {
			if r := metav1.GetControllerOf(other); other.UID != rs.UID && r != nil && r.UID == ref.UID {
				owners = append(owners, other.UID)
			}
		}
	}
	var out []*corev1.Pod
	for _, uid := range owners {
		objs, err := c.podIndex.ByIndex(podOwnerIndex, string(uid))
		if err != nil {
			return nil, err
		}
		for _, o := range objs {
			out = append(out, o.(*corev1.Pod))
		}
	}
	return out, nil
}

// createPod creates one pod from rs's template. A namespace being deleted
// refuses every create: that is not an error worth retrying.
func (c *Controller) createPod(ctx context.Context, rs *appsv1.ReplicaSet) error {
	pod := podFromTemplate(rs)
	created, err := c.kube.CoreV1().Pods(rs.Namespace).Create(ctx, pod, metav1.CreateOptions{})
	if err != nil {
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
		c.recorder.Eventf(rs, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
		return err
	}
	c.recorder.Eventf(rs, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %s", created.Name)
	return nil
}

// podFromTemplate builds a pod of rs as Kubernetes does: the template's
// labels, annotations, finalizers and spec; generateName "<rs>-"; rs as
// controller owner blocking its foreground deletion.
func podFromTemplate(rs *appsv1.ReplicaSet) *corev1.Pod {
	t := rs.Spec.Template.DeepCopy()
	prefix := rs.Name + "-"
	// As Kubernetes validates a generateName: its trailing dash masked.
	if len(validation.IsDNS1123Subdomain(rs.Name+"a")) != 0 {
		prefix = rs.Name
	}
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix,
			Namespace:       rs.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      t.Finalizers,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(rs, controllerKind)},
		},
		Spec: t.Spec,
	}
}

// slowStartBatch calls fn count times in batches of doubling size (1, 2,
// 4, …), stopping after the first batch with a failure, so a systematic
// failure (quota) costs few requests. It returns the successful calls and
// the errors of the failed batch.
func slowStartBatch(count, initial int, fn func() error) (int, error) {
	remaining := count
	successes := 0
	for batch := min(remaining, initial); batch > 0; batch = min(2*batch, remaining) {
		errCh := make(chan error, batch)
		var wg sync.WaitGroup
		for range batch {
			wg.Go(func() {
				if err := fn(); err != nil {
					errCh <- err
				}
			})
		}
		wg.Wait()
		close(errCh)
		failed := 0
		var errs []error
		for err := range errCh {
			failed++
			errs = append(errs, err)
		}
		successes += batch - failed
		if failed > 0 {
			return successes, errors.Join(errs...)
		}
		remaining -= batch
	}
	return successes, nil
}

func ptrValue(p *int32, def int32) int32 {
	if p == nil {
		return def
	}
	return *p
}
