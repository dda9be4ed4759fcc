package cronjob

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// nextScheduleDelta is added to requeue delays, as Kubernetes does, so the
// controller wakes just after a schedule time rather than just before.
const nextScheduleDelta = 100 * time.Millisecond

// parseSchedule parses spec.schedule (standard five fields or a
// descriptor such as @hourly) in spec.timeZone (UTC when unset), as
// Kubernetes does by prefixing "TZ=<zone> ".
func parseSchedule(cj *batchv1.CronJob) (cron.Schedule, error) {
	s := cj.Spec.Schedule
	if cj.Spec.TimeZone != nil && !strings.Contains(s, "TZ=") {
		if _, err := time.LoadLocation(*cj.Spec.TimeZone); err != nil {
			return nil, fmt.Errorf("unknown time zone %q: %w", *cj.Spec.TimeZone, err)
		}
		s = "TZ=" + *cj.Spec.TimeZone + " " + s
	}
	return cron.ParseStandard(s)
}

// scheduleTimes finds the most recent schedule time in (earliest, now]
// (zero if none), how many were missed in that window, and the next one
// after now (zero if the schedule never fires again).
func scheduleTimes(sched cron.Schedule, earliest, now time.Time) (recent time.Time, missed int, next time.Time) {
	t := sched.Next(earliest)
	for !t.IsZero() && !t.After(now) {
		recent = t
		missed++
		t = sched.Next(t)
	}
	return recent, missed, t
}

// earliestTime is where scheduleTimes starts: the last schedule time, or
// the creation time, but no further back than startingDeadlineSeconds.
func earliestTime(cj *batchv1.CronJob, now time.Time) time.Time {
	earliest := cj.CreationTimestamp.Time
	if cj.Status.LastScheduleTime != nil {
		earliest = cj.Status.LastScheduleTime.Time
	}
	if d := cj.Spec.StartingDeadlineSeconds; d != nil {
		if limit := now.Add(-time.Duration(*d) * time.Second); limit.After(earliest) {
			earliest = limit
		}
	}
	return earliest
}

// jobName is Kubernetes' name for the Job of one schedule time:
// "<cronjob>-<minutes since the epoch>".
func jobName(cj *batchv1.CronJob, scheduled time.Time) string {
	return fmt.Sprintf("%s-%d", cj.Name, scheduled.Unix()/60)
}

// newJob builds the Job for scheduled from the CronJob's template.
func newJob(cj *batchv1.CronJob, scheduled time.Time) *batchv1.Job {
	j := &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{
			Name:            jobName(cj, scheduled),
			Namespace:       cj.Namespace,
			Labels:          map[string]string{},
			Annotations:     map[string]string{},
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(cj, controllerKind)},
		},
	}
	for k, v := range cj.Spec.JobTemplate.Labels {
		j.Labels[k] = v
	}
	for k, v := range cj.Spec.JobTemplate.Annotations {
		j.Annotations[k] = v
	}
	loc := time.UTC
	if cj.Spec.TimeZone != nil {
		if l, err := time.LoadLocation(*cj.Spec.TimeZone); err == nil {
			loc = l
		}
	}
	j.Annotations[batchv1.CronJobScheduledTimestampAnnotation] = scheduled.In(loc).Format(time.RFC3339)
	cj.Spec.JobTemplate.Spec.DeepCopyInto(&j.Spec)
	return j
}

// jobFinished returns the Job's Complete or Failed condition type, if any.
func jobFinished(j *batchv1.Job) (batchv1.JobConditionType, bool) {
	for _, c := range j.Status.Conditions {
		if (c.Type == batchv1.JobComplete || c.Type == batchv1.JobFailed) && c.Status == corev1.ConditionTrue {
			return c.Type, true
		}
	}
	return "", false
}

// historyToDelete returns the finished Jobs beyond the history limits,
// oldest first by start time (Kubernetes' byJobStartTime order).
func historyToDelete(jobs []*batchv1.Job, successLimit, failedLimit *int32) []*batchv1.Job {
	var ok, failed []*batchv1.Job
	for _, j := range jobs {
		switch t, done := jobFinished(j); {
		case !done:
		case t == batchv1.JobComplete:
			ok = append(ok, j)
		default:
			failed = append(failed, j)
		}
	}
	var out []*batchv1.Job
	for _, g := range []struct {
		jobs  []*batchv1.Job
		limit *int32
	}{{ok, successLimit}, {failed, failedLimit}} {
		if g.limit == nil || len(g.jobs) <= int(*g.limit) {
			continue
		}
		sort.Slice(g.jobs, func(a, b int) bool { return startedBefore(g.jobs[a], g.jobs[b]) })
		out = append(out, g.jobs[:len(g.jobs)-int(*g.limit)]...)
	}
	return out
}

func startedBefore(a, b *batchv1.Job) bool {
	sa, sb := a.Status.StartTime, b.Status.StartTime
	switch {
	case sa == nil && sb != nil:
		return false
	case sa != nil && sb == nil:
		return true
	case sa == nil && sb == nil, sa.Equal(sb):
		return a.Name < b.Name
	}
	return sa.Before(sb)
}
