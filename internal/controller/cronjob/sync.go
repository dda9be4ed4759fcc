package cronjob

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/controller"
)

// Reconcile converges the CronJob "namespace/name" (see the package comment).
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return controller.Result{}, nil
	}
	cached, err := c.cjLister.CronJobs(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil // its Jobs are the garbage collector's
	}
	if err != nil {
		return controller.Result{}, err
	}
	cj := cached.DeepCopy()
	orig := cj.Status.DeepCopy()
	jobs := c.ownedJobs(key, cj.UID)
	if c.unknownActive(cj, jobs) {
		// The cached CronJob may predate our own status write: read it live
		// before calling a Job unexpected.
		live, err := c.kube.BatchV1().CronJobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil && !apierrors.IsNotFound(err) {
			return controller.Result{}, err
		}
		if err == nil && live.UID == cj.UID {
			cj, orig = live, live.Status.DeepCopy()
		}
	}

	// 1. Active list and lastSuccessfulTime from the owned Jobs.
	if err := c.reconcileActive(ctx, cj, jobs); err != nil {
		return controller.Result{}, err
	}
	if cj.DeletionTimestamp != nil {
		return controller.Result{}, c.writeStatus(ctx, cj, orig)
	}

	// 2. Start the Job of the most recent unmet schedule time.
	res, syncErr := c.schedule(ctx, cj, jobs)

	// 3. Status, then history.
	if err := c.writeStatus(ctx, cj, orig); err != nil {
		return controller.Result{}, err
	}
	cleanErr := c.cleanupHistory(ctx, cj, c.ownedJobs(key, cj.UID))
	if err := errors.Join(syncErr, cleanErr); err != nil {
		return controller.Result{}, err
	}
	return res, nil
}

func (c *Controller) ownedJobs(key string, uid types.UID) []*batchv1.Job {
	objs, err := c.jobIndex.ByIndex(jobOwnerIndex, key)
	if err != nil {
		return nil
	}
	var out []*batchv1.Job
	for _, o := range objs {
		if j, ok := o.(*batchv1.Job); ok && cronJobRef(j).UID == uid {
			out = append(out, j)
		}
	}
	return out
}

// reconcileActive drops finished and vanished Jobs from status.active and
// records the latest completion as lastSuccessfulTime, as Kubernetes does.
func (c *Controller) reconcileActive(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	byUID := map[types.UID]*batchv1.Job{}
	for _, j := range jobs {
		byUID[j.UID] = j
		cond, finished := jobFinished(j)
		inActive := activeIndex(cj, j.UID) >= 0
		switch {
		case !inActive && !finished:
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "UnexpectedJob", "Saw a job that the controller did not create or forgot: %s", j.Name)
		case inActive && finished:
			removeActive(cj, j.UID)
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "SawCompletedJob", "Saw completed job: %s, condition: %v", j.Name, cond)
		}
		if cond == batchv1.JobComplete && j.Status.CompletionTime != nil &&
			(cj.Status.LastSuccessfulTime == nil || j.Status.CompletionTime.After(cj.Status.LastSuccessfulTime.Time)) {
			t := *j.Status.CompletionTime
			cj.Status.LastSuccessfulTime = &t
		}
	}
	for _, ref := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
		if _, ok := byUID[ref.UID]; ok {
			continue
		}
		// Not in the cache: ask the API server before forgetting it.
		j, err := c.kube.BatchV1().Jobs(ref.Namespace).Get(ctx, ref.Name, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err), err == nil && j.UID != ref.UID:
			removeActive(cj, ref.UID)
		case err != nil:
			return fmt.Errorf("get job %s: %w", ref.Name, err)
		}
	}
	return nil
}

// unknownActive reports whether an unfinished owned Job is missing from
// status.active.
func (c *Controller) unknownActive(cj *batchv1.CronJob, jobs []*batchv1.Job) bool {
	for _, j := range jobs {
		if _, finished := jobFinished(j); !finished && activeIndex(cj, j.UID) < 0 {
			return true
		}
	}
	return false
}

func activeIndex(cj *batchv1.CronJob, uid types.UID) int {
	for i, r := range cj.Status.Active {
		if r.UID == uid {
			return i
		}
	}
	return -1
}

func removeActive(cj *batchv1.CronJob, uid types.UID) {
	if i := activeIndex(cj, uid); i >= 0 {
		cj.Status.Active = append(cj.Status.Active[:i], cj.Status.Active[i+1:]...)
	}
}

func jobReference(j *batchv1.Job) corev1.ObjectReference {
	return corev1.ObjectReference{
		Kind: "Job", APIVersion: batchv1.SchemeGroupVersion.String(),
		Namespace: j.Namespace, Name: j.Name, UID: j.UID, ResourceVersion: j.ResourceVersion,
	}
}

// requeueAt returns a Result that looks at the CronJob again just after t.
func (c *Controller) requeueAt(t time.Time) controller.Result {
	if t.IsZero() {
		return controller.Result{}
	}
	return controller.Result{RequeueAfter: max(t.Sub(c.cfg.Now()), 0) + nextScheduleDelta}
}

// schedule starts the Job of the most recent schedule time not yet met,
// honouring suspend, startingDeadlineSeconds and concurrencyPolicy.
func (c *Controller) schedule(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) (controller.Result, error) {
	sched, err := parseSchedule(cj)
	if err != nil {
		// Validation should have caught it; retrying cannot help.
		reason := "UnparseableSchedule"
		if strings.Contains(err.Error(), "time zone") {
			reason = "UnknownTimeZone"
		}
		c.recorder.Eventf(cj, corev1.EventTypeWarning, reason, "%v", err)
		return controller.Result{}, nil
	}
	if cj.Spec.Suspend != nil && *cj.Spec.Suspend {
		return controller.Result{}, nil
	}
	now := c.cfg.Now()
	scheduled, missed, next := scheduleTimes(sched, earliestTime(cj, now), now)
	if scheduled.IsZero() {
		return c.requeueAt(next), nil
	}
	if missed > 100 {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "TooManyMissedTimes",
			"too many missed start times: %d. Set or decrease .spec.startingDeadlineSeconds or check clock skew", missed)
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil && scheduled.Add(time.Duration(*d)*time.Second).Before(now) {
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "MissSchedule", "Missed scheduled time to start a job: %s", scheduled.UTC().Format(time.RFC1123Z))
		return c.requeueAt(next), nil
	}
	name := jobName(cj, scheduled)
	if cj.Status.LastScheduleTime != nil && cj.Status.LastScheduleTime.Time.Equal(scheduled) {
		return c.requeueAt(next), nil // already done
	}
	for _, r := range cj.Status.Active {
		if r.Name == name {
			return c.requeueAt(next), nil
		}
	}
	switch cj.Spec.ConcurrencyPolicy {
	case batchv1.ForbidConcurrent:
		if len(cj.Status.Active) > 0 {
			c.recorder.Eventf(cj, corev1.EventTypeNormal, "JobAlreadyActive", "Not starting job because prior execution is running and concurrency policy is Forbid")
			return c.requeueAt(next), nil
		}
	case batchv1.ReplaceConcurrent:
		for _, r := range append([]corev1.ObjectReference(nil), cj.Status.Active...) {
			if err := c.deleteJob(ctx, cj, r.Name, r.UID); err != nil {
				return controller.Result{}, err
			}
			removeActive(cj, r.UID)
		}
	}

	created, err := c.kube.BatchV1().Jobs(cj.Namespace).Create(ctx, newJob(cj, scheduled), metav1.CreateOptions{})
	switch {
	case apierrors.IsAlreadyExists(err):
		// Created before a status write was lost: adopt it if it is ours.
		existing, getErr := c.kube.BatchV1().Jobs(cj.Namespace).Get(ctx, name, metav1.GetOptions{})
		if getErr != nil {
			return controller.Result{}, getErr
		}
		if ref := cronJobRef(existing); ref == nil || ref.UID != cj.UID {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
			return c.requeueAt(next), nil
		}
		created = existing
	case err != nil:
		if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedCreate", "Error creating job: %v", err)
		}
		return controller.Result{}, fmt.Errorf("create job: %w", err)
	default:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulCreate", "Created job %v", created.Name)
	}
	if _, finished := jobFinished(created); !finished && activeIndex(cj, created.UID) < 0 {
		cj.Status.Active = append(cj.Status.Active, jobReference(created))
	}
	t := metav1.NewTime(scheduled)
	cj.Status.LastScheduleTime = &t
	return c.requeueAt(next), nil
}

// deleteJob deletes a Job with background propagation.
func (c *Controller) deleteJob(ctx context.Context, cj *batchv1.CronJob, name string, uid types.UID) error {
	bg := metav1.DeletePropagationBackground
	opts := metav1.DeleteOptions{PropagationPolicy: &bg}
	if uid != "" {
		opts.Preconditions = &metav1.Preconditions{UID: &uid}
	}
	err := c.kube.BatchV1().Jobs(cj.Namespace).Delete(ctx, name, opts)
	switch {
	case err == nil:
		c.recorder.Eventf(cj, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted job %v", name)
	case apierrors.IsNotFound(err), apierrors.IsConflict(err):
	default:
		c.recorder.Eventf(cj, corev1.EventTypeWarning, "FailedDelete", "Deleted job: %v", err)
		return fmt.Errorf("delete job %s: %w", name, err)
	}
	return nil
}

// cleanupHistory deletes finished Jobs beyond the history limits.
func (c *Controller) cleanupHistory(ctx context.Context, cj *batchv1.CronJob, jobs []*batchv1.Job) error {
	var errs []error
	for _, j := range historyToDelete(jobs, cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit) {
		if j.DeletionTimestamp != nil {
			continue
		}
		errs = append(errs, c.deleteJob(ctx, cj, j.Name, j.UID))
	}
	return errors.Join(errs...)
}

func (c *Controller) writeStatus(ctx context.Context, cj *batchv1.CronJob, orig *batchv1.CronJobStatus) error {
	if equality.Semantic.DeepEqual(orig, &cj.Status) {
		return nil
	}
	updated, err := c.kube.BatchV1().CronJobs(cj.Namespace).UpdateStatus(ctx, cj, metav1.UpdateOptions{})
	if err != nil {
		return fmt.Errorf("update cronjob status: %w", err)
	}
	*cj = *updated
	return nil
}
