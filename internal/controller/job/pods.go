package job

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strconv"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// classify sorts pods into active and terminating and records finished
// pods that still hold the tracking finalizer in the Job's
// uncountedTerminatedPods (and, for Indexed Jobs, completed), exactly once
// per pod UID.
//
// With backoffLimitPerIndex, a counted failure whose index has failed more
// than the limit (or that a FailIndex rule matched) adds its index to
// failedIdx.
func (c *Controller) classify(job *batchv1.Job, pods []*corev1.Pod, suspended, indexed bool, completions int32, completed, failedIdx map[int]bool) tally {
	var t tally
	unc := job.Status.UncountedTerminatedPods
	// Once the Job is finishing, every pod's finalizer goes (Kubernetes'
	// canRemoveFinalizer): the pods being deleted may never reach a
	// terminal phase; on the way to Failed they count as failures.
	failing := conditionTrue(job.Status.Conditions, batchv1.JobFailureTarget)
	finishing := failing || conditionTrue(job.Status.Conditions, batchv1.JobSuccessCriteriaMet)
	seen := map[types.UID]bool{}
	for _, u := range unc.Succeeded {
		seen[u] = true
	}
	for _, u := range unc.Failed {
		seen[u] = true
	}
	// Oldest first, so that of two pods with one index the first counts.
	sort.SliceStable(pods, func(i, j int) bool {
		return pods[i].CreationTimestamp.Before(&pods[j].CreationTimestamp)
	})
	for _, p := range pods {
		switch {
		case isTerminal(p):
		case p.DeletionTimestamp != nil:
			t.terminating = append(t.terminating, p)
		default:
			t.active = append(t.active, p)
		}
		if !hasFinalizer(p) || (!seen[p.UID] && c.released.pending(p.UID)) {
			continue // not tracked, or counted already and the cache lags
		}
		if seen[p.UID] {
			t.release = append(t.release, p)
			continue
		}
		switch {
		case p.Status.Phase == corev1.PodSucceeded:
			t.release = append(t.release, p)
			if indexed {
				ix := podIndex(p, completions)
				if ix < 0 || completed[ix] {
					continue // a duplicate or bad index does not count
				}
				completed[ix] = true
			}
			unc.Succeeded = append(unc.Succeeded, p.UID)
			t.newSucceeded++
		case suspended && p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodFailed:
			// Deleted because the Job was suspended: not a failure.
			t.release = append(t.release, p)
		case isPodFailed(p, job):
			t.release = append(t.release, p)
			v := matchPodFailurePolicy(job.Spec.PodFailurePolicy, p)
			if !v.countsAsFailure() {
				continue
			}
			if v.action == batchv1.PodFailurePolicyActionFailJob && t.failJobMessage == "" {
				t.failJobMessage = v.message
			}
			// Pods stopped because the Job is finishing fail no index.
			if limit := job.Spec.BackoffLimitPerIndex; indexed && limit != nil && !finishing {
				if ix := podIndex(p, completions); ix >= 0 && !completed[ix] &&
					(v.action == batchv1.PodFailurePolicyActionFailIndex || indexFailureCount(p)+1 > *limit) {
					failedIdx[ix] = true
				}
			}
			unc.Failed = append(unc.Failed, p.UID)
			t.newFailed++
		case finishing:
			t.release = append(t.release, p)
			if failing {
				unc.Failed = append(unc.Failed, p.UID)
				t.newFailed++
			}
		}
	}
	return t
}

// managePods creates or deletes pods to run what the Job still needs; it
// returns a delay when replacements wait for the failure back-off.
func (c *Controller) managePods(ctx context.Context, key string, job *batchv1.Job, t *tally, indexed bool, completions, parallelism, succeeded int32, completed map[int]bool, failures map[int]int32) (time.Duration, error) {
	// With podReplacementPolicy Failed, terminating pods still hold their place.
	occupying := t.active
	if onlyReplaceFailed(job) {
		occupying = append(append([]*corev1.Pod(nil), t.active...), t.terminating...)
	}
	var toCreate []int // indexes, or -1 for NonIndexed pods
	var toDelete []*corev1.Pod
	if indexed {
		running := map[int]bool{}
		for _, p := range occupying {
			ix := podIndex(p, completions)
			if p.DeletionTimestamp != nil {
				running[ix] = true
				continue
			}
			if ix < 0 || completed[ix] || running[ix] {
				toDelete = append(toDelete, p) // bad, finished or duplicate index
				continue
			}
			running[ix] = true
		}
		n := int(parallelism) - (len(occupying) - len(toDelete))
		toCreate = missingIndexes(completions, completed, running, max(0, n))
	} else {
		want := wantActive(job, succeeded, int32(len(t.active)))
		diff := int(want) - len(occupying)
		switch {
		case diff < 0 && len(t.active) > 0:
			toDelete = pickForDeletion(t.active, min(-diff, len(t.active)))
		case diff > 0:
			for range diff {
				toCreate = append(toCreate, -1)
			}
		}
	}
	err := c.deletePods(ctx, job, t, toDelete)
	if len(toCreate) == 0 {
		return 0, err
	}
	rec := c.backoff.get(key)
	if d := backoffDelay(rec, c.cfg.PodBackoffBase, c.cfg.PodBackoffMax); d > 0 {
		if wait := rec.last.Add(d).Sub(c.cfg.Now()); wait > 0 {
			return wait, err
		}
	}
	return 0, errors.Join(err, c.createPods(ctx, key, job, t, toCreate, failures))
}

// pickForDeletion prefers pods that are not ready, then the newest.
func pickForDeletion(active []*corev1.Pod, n int) []*corev1.Pod {
	ps := append([]*corev1.Pod(nil), active...)
	sort.SliceStable(ps, func(i, j int) bool {
		ri, rj := podReady(ps[i]), podReady(ps[j])
		if ri != rj {
			return !ri
		}
		return ps[j].CreationTimestamp.Before(&ps[i].CreationTimestamp)
	})
	return ps[:n]
}

// deletePods deletes pods (those not already being deleted) and moves them
// from active to terminating in t.
func (c *Controller) deletePods(ctx context.Context, job *batchv1.Job, t *tally, pods []*corev1.Pod) error {
	var (
		mu   sync.Mutex
		errs []error
		gone = map[types.UID]bool{}
		wg   sync.WaitGroup
	)
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		wg.Go(func() {
			err := c.kube.CoreV1().Pods(p.Namespace).Delete(ctx, p.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &p.UID}})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("delete pod %s: %w", p.Name, err))
				return
			}
			gone[p.UID] = true
			if err == nil {
				c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", p.Name)
			}
		})
	}
	wg.Wait()
	if len(gone) > 0 {
		var keep []*corev1.Pod
		for _, p := range t.active {
			if gone[p.UID] {
				t.terminating = append(t.terminating, p)
			} else {
				keep = append(keep, p)
			}
		}
		t.active = keep
	}
	return errors.Join(errs...)
}

// createPods creates one pod per entry of indexes (-1: NonIndexed);
// failures holds each index's failure count so far (backoffLimitPerIndex).
func (c *Controller) createPods(ctx context.Context, key string, job *batchv1.Job, t *tally, indexes []int, failures map[int]int32) error {
	c.exp.Expect(key, len(indexes), nil)
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, ix := range indexes {
		wg.Go(func() {
			pod := newPod(job, ix)
			if job.Spec.BackoffLimitPerIndex != nil && ix >= 0 {
				pod.Annotations[batchv1.JobIndexFailureCountAnnotation] = strconv.Itoa(int(failures[ix]))
			}
			created, err := c.kube.CoreV1().Pods(job.Namespace).Create(ctx, pod, metav1.CreateOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				c.exp.CreationObserved(key)
				if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					c.recorder.Eventf(job, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				}
				errs = append(errs, fmt.Errorf("create pod: %w", err))
				return
			}
			c.recorder.Eventf(job, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
			t.active = append(t.active, created)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// newPod builds a pod from the Job's template: controller reference,
// tracking finalizer and, for Indexed Jobs, the completion index as label,
// annotation, JOB_COMPLETION_INDEX env var and hostname "<job>-<index>".
func newPod(job *batchv1.Job, index int) *corev1.Pod {
	t := job.Spec.Template.DeepCopy()
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    job.Name + "-",
			Namespace:       job.Namespace,
			Labels:          t.Labels,
			Annotations:     t.Annotations,
			Finalizers:      append(t.Finalizers, trackingFinalizer),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(job, controllerKind)},
		},
		Spec: t.Spec,
	}
	if index < 0 {
		return pod
	}
	s := strconv.Itoa(index)
	pod.GenerateName = fmt.Sprintf("%s-%d-", job.Name, index)
	if pod.Labels == nil {
		pod.Labels = map[string]string{}
	}
	if pod.Annotations == nil {
		pod.Annotations = map[string]string{}
	}
	pod.Labels[indexKey], pod.Annotations[indexKey] = s, s
	if pod.Spec.Hostname == "" {
		pod.Spec.Hostname = fmt.Sprintf("%s-%d", job.Name, index)
	}
	env := corev1.EnvVar{Name: indexEnv, ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{
		APIVersion: "v1", FieldPath: fmt.Sprintf("metadata.annotations['%s']", indexKey),
	}}}
	for _, list := range [][]corev1.Container{pod.Spec.InitContainers, pod.Spec.Containers} {
		for i := range list {
			if !hasEnv(list[i].Env, indexEnv) {
				list[i].Env = append(list[i].Env, env)
			}
		}
	}
	return pod
}

func hasEnv(env []corev1.EnvVar, name string) bool {
	for _, e := range env {
		if e.Name == name {
			return true
		}
	}
	return false
}

// writeStatus writes job.Status if it differs from orig and refreshes job
// from the response.
func (c *Controller) writeStatus(ctx context.Context, job *batchv1.Job, orig *batchv1.JobStatus) error {
	if equality.Semantic.DeepEqual(orig, &job.Status) {
		return nil
	}
	updated, err := c.kube.BatchV1().Jobs(job.Namespace).UpdateStatus(ctx, job, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update job status: %w", err)
	}
	*job = *updated
	return nil
}
