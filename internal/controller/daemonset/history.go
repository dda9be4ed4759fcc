package daemonset

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"sort"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/utils/dump"
)

// ErrHashCollision is returned when a ControllerRevision named after the
// template's hash holds another template; status.collisionCount was bumped.
var ErrHashCollision = errors.New("daemonset: controller revision hash collision")

// computeHash is Kubernetes' controller.ComputeHash: FNV-32a over
// dump.ForHash(template) plus collisionCount, safe-encoded.
func computeHash(template *corev1.PodTemplateSpec, collisionCount *int32) string {
	h := fnv.New32a()
	fmt.Fprintf(h, "%v", dump.ForHash(*template))
	if collisionCount != nil {
		b := make([]byte, 8)
		binary.LittleEndian.PutUint32(b, uint32(*collisionCount))
		h.Write(b)
	}
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// getPatch is the revision data Kubernetes stores and kubectl applies on
// undo: a strategic merge patch replacing spec.template. kubectl compares
// it byte for byte, so it must be built exactly this way.
func getPatch(ds *appsv1.DaemonSet) ([]byte, error) {
	dsBytes, err := json.Marshal(ds)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(dsBytes, &raw); err != nil {
		return nil, err
	}
	spec := raw["spec"].(map[string]any)
	template := spec["template"].(map[string]any)
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

func (c *Controller) ownedRevisions(key string, ds *appsv1.DaemonSet) []*appsv1.ControllerRevision {
	objs, _ := c.revIndex.ByIndex(ownerIndex, key)
	var out []*appsv1.ControllerRevision
	for _, o := range objs {
		if r, ok := o.(*appsv1.ControllerRevision); ok && ownerRef(r).UID == ds.UID && r.DeletionTimestamp == nil {
			out = append(out, r)
		}
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Revision < out[j].Revision })
	return out
}

// constructHistory returns the ControllerRevision of the current template
// (creating it, or bumping its revision number to the newest) and the old
// ones, as Kubernetes does.
func (c *Controller) constructHistory(ctx context.Context, key string, ds *appsv1.DaemonSet) (cur *appsv1.ControllerRevision, old []*appsv1.ControllerRevision, err error) {
	patch, err := getPatch(ds)
	if err != nil {
		return nil, nil, err
	}
	var maxOld int64
	for _, r := range c.ownedRevisions(key, ds) {
		if bytes.Equal(r.Data.Raw, patch) && (cur == nil || r.Revision > cur.Revision) {
			if cur != nil {
				old = append(old, cur)
			}
			cur = r
			continue
		}
		old = append(old, r)
	}
	for _, r := range old {
		maxOld = max(maxOld, r.Revision)
	}
	next := maxOld + 1
	revisions := c.kube.AppsV1().ControllerRevisions(ds.Namespace)
	if cur != nil {
		if cur.Revision < next {
			upd := cur.DeepCopy()
			upd.Revision = next
			if cur, err = revisions.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				return nil, nil, fmt.Errorf("update controller revision: %w", err)
			}
		}
		return cur, old, nil
	}
	hash := computeHash(&ds.Spec.Template, ds.Status.CollisionCount)
	lbls := map[string]string{}
	for k, v := range ds.Spec.Template.Labels {
		lbls[k] = v
	}
	lbls[appsv1.DefaultDaemonSetUniqueLabelKey] = hash
	rev := &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            ds.Name + "-" + hash,
			Namespace:       ds.Namespace,
			Labels:          lbls,
			Annotations:     ds.Annotations,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(ds, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: next,
	}
	created, err := revisions.Create(ctx, rev, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		existing, getErr := revisions.Get(ctx, rev.Name, metav1.GetOptions{})
		if getErr != nil {
			return nil, nil, getErr
		}
		if ref := metav1.GetControllerOf(existing); ref != nil && ref.UID == ds.UID && bytes.Equal(existing.Data.Raw, patch) {
			return existing, old, nil // our cache lagged
		}
		n := int32(0)
		if ds.Status.CollisionCount != nil {
			n = *ds.Status.CollisionCount
		}
		n++
		upd := ds.DeepCopy()
		upd.Status.CollisionCount = &n
		if _, err := c.kube.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, err
		}
		return nil, nil, ErrHashCollision
	}
	if err != nil {
		return nil, nil, fmt.Errorf("create controller revision: %w", err)
	}
	return created, old, nil
}

// cleanupHistory deletes the oldest old revisions beyond
// revisionHistoryLimit that no live pod still runs.
func (c *Controller) cleanupHistory(ctx context.Context, ds *appsv1.DaemonSet, old []*appsv1.ControllerRevision, pods []*corev1.Pod) error {
	limit := 10
	if ds.Spec.RevisionHistoryLimit != nil {
		limit = int(*ds.Spec.RevisionHistoryLimit)
	}
	if len(old) <= limit {
		return nil
	}
	live := map[string]bool{}
	for _, p := range pods {
		if h := p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]; h != "" {
			live[h] = true
		}
	}
	sort.Slice(old, func(i, j int) bool { return old[i].Revision < old[j].Revision })
	toDelete := len(old) - limit
	var errs []error
	for _, r := range old {
		if toDelete == 0 {
			break
		}
		if live[r.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]] {
			continue
		}
		err := c.kube.AppsV1().ControllerRevisions(ds.Namespace).Delete(ctx, r.Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, err)
		}
		toDelete--
	}
	return errors.Join(errs...)
}
