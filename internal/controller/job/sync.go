package job

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/controller"
)

// removeFinalizerPatch drops the tracking finalizer, as Kubernetes' patch does.
var removeFinalizerPatch = []byte(`{"metadata":{"$deleteFromPrimitiveList/finalizers":["` + trackingFinalizer + `"]}}`)

// Reconcile converges the Job "namespace/name" (see the package comment).
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, ok := splitKey(key)
	if !ok {
		return controller.Result{}, nil
	}
	cached, err := c.jobLister.Jobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		c.backoff.forget(key)
		// The Job is gone: its pods must not stay held by our finalizer.
		return controller.Result{}, c.releaseFinalizers(ctx, c.podsByKey(key, func(*corev1.Pod) bool { return true }))
	}
	if err != nil {
		return controller.Result{}, err
	}
	job := cached.DeepCopy()
	// Pods of an older Job of the same name are released too.
	if err := c.releaseFinalizers(ctx, c.podsByKey(key, func(p *corev1.Pod) bool { return jobRef(p).UID != job.UID })); err != nil {
		return controller.Result{}, err
	}
	pods := c.podsByKey(key, func(p *corev1.Pod) bool { return jobRef(p).UID == job.UID })
	if job.DeletionTimestamp != nil {
		return controller.Result{}, c.releaseFinalizers(ctx, pods)
	}
	if _, finished := finishedAt(job); finished {
		if err := c.releaseFinalizers(ctx, pods); err != nil {
			return controller.Result{}, err
		}
		return c.expireIfDue(ctx, job)
	}
	return c.sync(ctx, key, job, pods)
}

func splitKey(key string) (ns, name string, ok bool) {
	for i := 0; i < len(key); i++ {
		if key[i] == '/' {
			return key[:i], key[i+1:], i > 0 && i < len(key)-1
		}
	}
	return "", "", false
}

// podsByKey returns the cached pods whose controller reference names the
// Job key and that keep passes.
func (c *Controller) podsByKey(key string, keep func(*corev1.Pod) bool) []*corev1.Pod {
	objs, err := c.podIndex.ByIndex(podJobIndex, key)
	if err != nil {
		return nil
	}
	out := make([]*corev1.Pod, 0, len(objs))
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

func hasFinalizer(p *corev1.Pod) bool {
	for _, f := range p.Finalizers {
		if f == trackingFinalizer {
			return true
		}
	}
	return false
}

// releaseFinalizers removes the tracking finalizer from those pods that
// have it; it returns the UIDs released (or already gone).
func (c *Controller) releaseFinalizers(ctx context.Context, pods []*corev1.Pod) error {
	_, err := c.removeFinalizers(ctx, pods)
	return err
}

func (c *Controller) removeFinalizers(ctx context.Context, pods []*corev1.Pod) (map[types.UID]bool, error) {
	var (
		mu   sync.Mutex
		done = map[types.UID]bool{}
		errs []error
		wg   sync.WaitGroup
	)
	for _, p := range pods {
		if !hasFinalizer(p) {
			continue
		}
		wg.Go(func() {
			_, err := c.kube.CoreV1().Pods(p.Namespace).Patch(ctx, p.Name, types.StrategicMergePatchType, removeFinalizerPatch, metav1.PatchOptions{})
			mu.Lock()
			defer mu.Unlock()
			if err != nil && !apierrors.IsNotFound(err) {
				errs = append(errs, fmt.Errorf("remove finalizer of pod %s: %w", p.Name, err))
				return
			}
			done[p.UID] = true
			c.released.add(p.UID)
		})
	}
	wg.Wait()
	return done, errors.Join(errs...)
}

// expireIfDue deletes a finished Job once ttlSecondsAfterFinished passed,
// with background propagation, as Kubernetes' TTL-after-finished
// controller does.
func (c *Controller) expireIfDue(ctx context.Context, job *batchv1.Job) (controller.Result, error) {
	if job.Spec.TTLSecondsAfterFinished == nil {
		return controller.Result{}, nil
	}
	at, _ := finishedAt(job)
	if d := at.Add(time.Duration(*job.Spec.TTLSecondsAfterFinished) * time.Second).Sub(c.cfg.Now()); d > 0 {
		return controller.Result{RequeueAfter: d}, nil
	}
	policy := metav1.DeletePropagationBackground
	err := c.kube.BatchV1().Jobs(job.Namespace).Delete(ctx, job.Name, metav1.DeleteOptions{
		PropagationPolicy: &policy,
		Preconditions:     &metav1.Preconditions{UID: &job.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return controller.Result{}, fmt.Errorf("delete expired job: %w", err)
	}
	return controller.Result{}, nil
}

// tally is what one pass over a Job's pods found.
type tally struct {
	active, terminating []*corev1.Pod
	release             []*corev1.Pod // finalizer to remove after status write #1
	newSucceeded        int
	newFailed           int
	failJobMessage      string
}

func (c *Controller) sync(ctx context.Context, key string, job *batchv1.Job, pods []*corev1.Pod) (controller.Result, error) {
	now := c.cfg.Now()
	mnow := metav1.NewTime(now).Rfc3339Copy()
	st := &job.Status
	indexed := job.Spec.CompletionMode != nil && *job.Spec.CompletionMode == batchv1.IndexedCompletion
	var completions int32
	if job.Spec.Completions != nil {
		completions = *job.Spec.Completions
	}
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	suspended := job.Spec.Suspend != nil && *job.Spec.Suspend
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	unc := st.UncountedTerminatedPods
	orig := st.DeepCopy()
	completed, failedIdx := map[int]bool{}, map[int]bool{}
	perIndex := indexed && job.Spec.BackoffLimitPerIndex != nil
	if indexed {
		completed = parseIndexes(st.CompletedIndexes, completions)
	}
	if perIndex && st.FailedIndexes != nil {
		failedIdx = parseIndexes(*st.FailedIndexes, completions)
	}

	// 1. Classify pods; finished pods still holding the finalizer become
	//    uncounted (recorded in status before the finalizer goes).
	t := c.classify(job, pods, suspended, indexed, completions, completed, failedIdx)
	c.backoff.update(key, t.newSucceeded, t.newFailed, now)
	succeeded := st.Succeeded + int32(len(unc.Succeeded))
	failed := st.Failed + int32(len(unc.Failed))

	// 2. Start time and suspension.
	if suspended {
		if setCondition(&st.Conditions, batchv1.JobSuspended, corev1.ConditionTrue, reasonSuspended, msgSuspended, mnow) {
			c.recorder.Event(job, corev1.EventTypeNormal, "Suspended", msgSuspended)
		}
	} else {
		if conditionTrue(st.Conditions, batchv1.JobSuspended) {
			setCondition(&st.Conditions, batchv1.JobSuspended, corev1.ConditionFalse, reasonResumed, msgResumed, mnow)
			c.recorder.Event(job, corev1.EventTypeNormal, "Resumed", msgResumed)
			st.StartTime = &mnow // the active deadline restarts
		}
		if st.StartTime == nil {
			st.StartTime = &mnow
		}
	}

	// 3. Success or failure criteria.
	var res controller.Result
	finishing := conditionTrue(st.Conditions, batchv1.JobFailureTarget) || conditionTrue(st.Conditions, batchv1.JobSuccessCriteriaMet)
	if !finishing {
		backoffLimit := int32(6)
		if job.Spec.BackoffLimit != nil {
			backoffLimit = *job.Spec.BackoffLimit
		}
		var deadline time.Time
		if job.Spec.ActiveDeadlineSeconds != nil && st.StartTime != nil && !suspended {
			deadline = st.StartTime.Add(time.Duration(*job.Spec.ActiveDeadlineSeconds) * time.Second)
		}
		reason, message := "", ""
		spMsg, spMet := "", false
		if indexed {
			spMsg, spMet = matchSuccessPolicy(job.Spec.SuccessPolicy, completions, completed)
		}
		switch {
		case t.failJobMessage != "":
			reason, message = reasonPodFailurePolicy, t.failJobMessage
		case failed > backoffLimit || pastBackoffLimitOnFailure(job, t.active):
			reason, message = reasonBackoffLimit, msgBackoffLimit
		case perIndex && job.Spec.MaxFailedIndexes != nil && int32(len(failedIdx)) > *job.Spec.MaxFailedIndexes:
			reason, message = reasonMaxFailedIndexes, msgMaxFailedIndexes
		case !deadline.IsZero() && !now.Before(deadline):
			reason, message = reasonDeadline, msgDeadline
		case spMet:
			setCondition(&st.Conditions, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, reasonSuccessPolicy, spMsg, mnow)
			finishing = true
		case perIndex && len(failedIdx) > 0 && int32(len(completed)+len(failedIdx)) >= completions:
			reason, message = reasonFailedIndexes, msgFailedIndexes
		case indexed && int32(len(completed)) >= completions,
			!indexed && job.Spec.Completions != nil && succeeded >= completions,
			job.Spec.Completions == nil && succeeded > 0 && len(t.active) == 0:
			setCondition(&st.Conditions, batchv1.JobSuccessCriteriaMet, corev1.ConditionTrue, reasonCompletionsReached, msgCompletionsReached, mnow)
			finishing = true
		default:
			if !deadline.IsZero() {
				res.RequeueAfter = deadline.Sub(now)
			}
		}
		if reason != "" {
			setCondition(&st.Conditions, batchv1.JobFailureTarget, corev1.ConditionTrue, reason, message, mnow)
			finishing = true
		}
	}

	// 4. Pods: delete all when finishing or suspended, else create or
	//    delete to match parallelism. A FailureTarget or SuccessCriteriaMet
	//    reached in this sync is stored first; the pods go in the sync its
	//    write triggers. Deleted here and the write then lost to a
	//    conflict, they would look like failures of their own in the next
	//    sync (with backoffLimitPerIndex, failed indexes).
	newlyFinishing := finishing && !conditionTrue(orig.Conditions, batchv1.JobFailureTarget) && !conditionTrue(orig.Conditions, batchv1.JobSuccessCriteriaMet)
	var manageErr error
	switch {
	case newlyFinishing:
	case finishing || suspended:
		manageErr = c.deletePods(ctx, job, &t, t.active)
	case c.exp.Satisfied(key):
		var after time.Duration
		// Failed indexes are not run again.
		done := completed
		if len(failedIdx) > 0 {
			done = maps.Clone(completed)
			maps.Copy(done, failedIdx)
		}
		var failures map[int]int32
		if perIndex {
			failures = indexFailureCounts(job, pods, completions)
		}
		after, manageErr = c.managePods(ctx, key, job, &t, indexed, completions, parallelism, succeeded, done, failures)
		if after > 0 && (res.RequeueAfter == 0 || after < res.RequeueAfter) {
			res.RequeueAfter = after
		}
	}

	// 5. Status write #1: counters, conditions, newly uncounted pods.
	st.Active = int32(len(t.active))
	var ready int32
	for _, p := range t.active {
		if podReady(p) {
			ready++
		}
	}
	st.Ready = &ready
	terminating := int32(len(t.terminating))
	st.Terminating = &terminating
	if indexed {
		st.CompletedIndexes = formatIndexes(completed)
	}
	if perIndex {
		fi := formatIndexes(failedIdx)
		st.FailedIndexes = &fi
	}
	if err := c.writeStatus(ctx, job, orig); err != nil {
		return controller.Result{}, err
	}

	// 6. Release finalizers of recorded pods, then move them from uncounted
	//    to the counters.
	if st.UncountedTerminatedPods == nil {
		st.UncountedTerminatedPods = &batchv1.UncountedTerminatedPods{}
	}
	unc = st.UncountedTerminatedPods
	released, relErr := c.removeFinalizers(ctx, t.release)
	present := map[types.UID]*corev1.Pod{}
	for _, p := range pods {
		present[p.UID] = p
	}
	flushed := func(uids []types.UID) (keep []types.UID, n int32) {
		for _, u := range uids {
			if p, ok := present[u]; !ok || released[u] || !hasFinalizer(p) {
				n++
				continue
			}
			keep = append(keep, u)
		}
		return keep, n
	}
	orig = job.Status.DeepCopy()
	var n int32
	unc.Succeeded, n = flushed(unc.Succeeded)
	st.Succeeded += n
	unc.Failed, n = flushed(unc.Failed)
	st.Failed += n

	// 7. The terminal condition once no pod is left running or uncounted.
	if finishing && len(t.active) == 0 && len(t.terminating) == 0 && len(unc.Succeeded) == 0 && len(unc.Failed) == 0 {
		if target := findCondition(st.Conditions, batchv1.JobFailureTarget); target != nil && target.Status == corev1.ConditionTrue {
			setCondition(&st.Conditions, batchv1.JobFailed, corev1.ConditionTrue, target.Reason, target.Message, mnow)
		} else {
			reason, msg := reasonCompletionsReached, msgCompletionsReached
			if met := findCondition(st.Conditions, batchv1.JobSuccessCriteriaMet); met != nil && met.Status == corev1.ConditionTrue {
				reason, msg = met.Reason, met.Message
			}
			setCondition(&st.Conditions, batchv1.JobComplete, corev1.ConditionTrue, reason, msg, mnow)
			st.CompletionTime = &mnow
		}
	}
	wasComplete, wasFailed := conditionTrue(orig.Conditions, batchv1.JobComplete), conditionTrue(orig.Conditions, batchv1.JobFailed)
	if err := c.writeStatus(ctx, job, orig); err != nil {
		return controller.Result{}, err
	}
	if !wasComplete && conditionTrue(st.Conditions, batchv1.JobComplete) {
		c.recorder.Event(job, corev1.EventTypeNormal, "Completed", "Job completed")
	}
	if cond := findCondition(st.Conditions, batchv1.JobFailed); !wasFailed && cond != nil && cond.Status == corev1.ConditionTrue {
		c.recorder.Event(job, corev1.EventTypeWarning, cond.Reason, cond.Message)
	}
	if err := errors.Join(manageErr, relErr); err != nil {
		return controller.Result{}, err
	}
	if _, done := finishedAt(job); done {
		return c.expireIfDue(ctx, job)
	}
	return res, nil
}
