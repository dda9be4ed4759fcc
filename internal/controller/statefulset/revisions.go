package statefulset

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"hash/fnv"
	"sort"
	"strconv"

	appsv1 "k8s.io/api/apps/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/rand"
	"k8s.io/apimachinery/pkg/util/strategicpatch"
)

// revisionHashLabel is the label Kubernetes' controller history puts on
// every ControllerRevision it creates.
const revisionHashLabel = "controller.kubernetes.io/hash"

// getPatch is the revision data Kubernetes stores and kubectl applies on
// undo: a strategic merge patch replacing spec.template.
func getPatch(set *appsv1.StatefulSet) ([]byte, error) {
	data, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	var raw map[string]any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, err
	}
	spec := raw["spec"].(map[string]any)
	template := spec["template"].(map[string]any)
	template["$patch"] = "replace"
	return json.Marshal(map[string]any{"spec": map[string]any{"template": template}})
}

// hashRevision is Kubernetes' HashControllerRevision: FNV-32 over the
// data, then the collision count in decimal, safe-encoded.
func hashRevision(data []byte, collisionCount int32) string {
	h := fnv.New32()
	h.Write(data)
	h.Write([]byte(strconv.FormatInt(int64(collisionCount), 10)))
	return rand.SafeEncodeString(fmt.Sprint(h.Sum32()))
}

// newRevision builds the ControllerRevision of the set's current template.
func newRevision(set *appsv1.StatefulSet, revision int64, collisionCount int32) (*appsv1.ControllerRevision, error) {
	patch, err := getPatch(set)
	if err != nil {
		return nil, err
	}
	lbls := map[string]string{}
	for k, v := range set.Spec.Template.Labels {
		lbls[k] = v
	}
	hash := hashRevision(patch, collisionCount)
	lbls[revisionHashLabel] = hash
	ann := map[string]string{}
	for k, v := range set.Annotations {
		ann[k] = v
	}
	name := set.Name
	if len(name) > 223 {
		name = name[:223]
	}
	return &appsv1.ControllerRevision{
		ObjectMeta: metav1.ObjectMeta{
			Name:            name + "-" + hash,
			Namespace:       set.Namespace,
			Labels:          lbls,
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(set, controllerKind)},
		},
		Data:     runtime.RawExtension{Raw: patch},
		Revision: revision,
	}, nil
}

func equalRevision(a, b *appsv1.ControllerRevision) bool {
	return a.Labels[revisionHashLabel] == b.Labels[revisionHashLabel] && bytes.Equal(a.Data.Raw, b.Data.Raw)
}

// applyRevision returns a copy of set with the template stored in rev.
func applyRevision(set *appsv1.StatefulSet, rev *appsv1.ControllerRevision) (*appsv1.StatefulSet, error) {
	data, err := json.Marshal(set)
	if err != nil {
		return nil, err
	}
	patched, err := strategicpatch.StrategicMergePatch(data, rev.Data.Raw, set)
	if err != nil {
		return nil, err
	}
	out := &appsv1.StatefulSet{}
	if err := json.Unmarshal(patched, out); err != nil {
		return nil, err
	}
	return out, nil
}

func (c *Controller) ownedRevisions(key string, set *appsv1.StatefulSet) []*appsv1.ControllerRevision {
	objs, _ := c.revIndex.ByIndex(ownerIndex, key)
	var out []*appsv1.ControllerRevision
	for _, o := range objs {
		if r, ok := o.(*appsv1.ControllerRevision); ok && ownerRef(r).UID == set.UID && r.DeletionTimestamp == nil {
			out = append(out, r)
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		if out[i].Revision == out[j].Revision {
			return out[i].CreationTimestamp.Before(&out[j].CreationTimestamp)
		}
		return out[i].Revision < out[j].Revision
	})
	return out
}

// revisions returns the current and update revisions as Kubernetes'
// getStatefulSetRevisions does: the update revision is the one equal to
// the template (the newest if it is already the last, else an older one
// renumbered — a rollback — else a new one); the current one is
// status.currentRevision, or the update revision at first.
func (c *Controller) revisions(ctx context.Context, key string, set *appsv1.StatefulSet) (current, update *appsv1.ControllerRevision, all []*appsv1.ControllerRevision, collisions int32, err error) {
	all = c.ownedRevisions(key, set)
	if set.Status.CollisionCount != nil {
		collisions = *set.Status.CollisionCount
	}
	next := int64(1)
	if n := len(all); n > 0 {
		next = all[n-1].Revision + 1
	}
	update, err = newRevision(set, next, collisions)
	if err != nil {
		return nil, nil, nil, 0, err
	}
	var equal []*appsv1.ControllerRevision
	for _, r := range all {
		if equalRevision(r, update) {
			equal = append(equal, r)
		}
	}
	revs := c.kube.AppsV1().ControllerRevisions(set.Namespace)
	switch {
	case len(equal) > 0 && equalRevision(all[len(all)-1], equal[len(equal)-1]):
		update = all[len(all)-1]
	case len(equal) > 0:
		upd := equal[len(equal)-1].DeepCopy()
		upd.Revision = next
		if update, err = revs.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
			return nil, nil, nil, 0, fmt.Errorf("update controller revision: %w", err)
		}
	default:
		for {
			created, err := revs.Create(ctx, update, metav1.CreateOptions{})
			if err == nil {
				update = created
				break
			}
			if !apierrors.IsAlreadyExists(err) {
				return nil, nil, nil, 0, fmt.Errorf("create controller revision: %w", err)
			}
			existing, getErr := revs.Get(ctx, update.Name, metav1.GetOptions{})
			if getErr != nil {
				return nil, nil, nil, 0, getErr
			}
			if bytes.Equal(existing.Data.Raw, update.Data.Raw) {
				update = existing // our cache lagged
				break
			}
			collisions++
			if update, err = newRevision(set, next, collisions); err != nil {
				return nil, nil, nil, 0, err
			}
		}
		all = append(all, update)
	}
	for _, r := range all {
		if r.Name == set.Status.CurrentRevision {
			current = r
			break
		}
	}
	if current == nil {
		current = update
	}
	return current, update, all, collisions, nil
}

// truncateHistory deletes the oldest revisions beyond
// revisionHistoryLimit that are neither current, update, nor run by a pod.
func (c *Controller) truncateHistory(ctx context.Context, set *appsv1.StatefulSet, all []*appsv1.ControllerRevision, live map[string]bool) error {
	limit := 10
	if set.Spec.RevisionHistoryLimit != nil {
		limit = int(*set.Spec.RevisionHistoryLimit)
	}
	var old []*appsv1.ControllerRevision
	for _, r := range all {
		if !live[r.Name] {
			old = append(old, r)
		}
	}
	for i := 0; i < len(old)-limit; i++ {
		err := c.kube.AppsV1().ControllerRevisions(set.Namespace).Delete(ctx, old[i].Name, metav1.DeleteOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return err
		}
	}
	return nil
}
