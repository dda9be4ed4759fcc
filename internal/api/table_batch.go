package api

import (
	"fmt"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	batchv1beta1 "k8s.io/api/batch/v1beta1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/duration"
)

func printJobTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Status", "string", "Status of the job."),
			printCol("Completions", "string", batchv1.JobStatus{}.SwaggerDoc()["succeeded"]),
			printCol("Duration", "string", "Time required to complete the job."),
			printAgeColumn(),
			printWideCol("Containers", "string", printContainersDoc),
			printWideCol("Images", "string", printImagesDoc),
			printWideCol("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
		},
		printJobRow,
	)
}

// printJobRow renders STATUS (Complete, Failed, Terminating, Suspended,
// FailureTarget or Running), COMPLETIONS ("2/3", or "1/1 of 4" for a work
// queue with parallelism) and DURATION (start to completion, or to now).
func printJobRow(job *batchv1.Job, now time.Time) []interface{} {
	var completions string
	if job.Spec.Completions != nil {
		completions = fmt.Sprintf("%d/%d", job.Status.Succeeded, *job.Spec.Completions)
	} else {
		parallelism := int32(0)
		if job.Spec.Parallelism != nil {
			parallelism = *job.Spec.Parallelism
		}
		if parallelism > 1 {
			completions = fmt.Sprintf("%d/1 of %d", job.Status.Succeeded, parallelism)
		} else {
			completions = fmt.Sprintf("%d/1", job.Status.Succeeded)
		}
	}

	var jobDuration string
	switch {
	case job.Status.StartTime == nil:
	case job.Status.CompletionTime == nil:
		jobDuration = duration.HumanDuration(now.Sub(job.Status.StartTime.Time))
	default:
		jobDuration = duration.HumanDuration(job.Status.CompletionTime.Sub(job.Status.StartTime.Time))
	}

	var status string
	switch {
	case printJobCondition(job.Status.Conditions, batchv1.JobComplete):
		status = "Complete"
	case printJobCondition(job.Status.Conditions, batchv1.JobFailed):
		status = "Failed"
	case job.DeletionTimestamp != nil:
		status = "Terminating"
	case printJobCondition(job.Status.Conditions, batchv1.JobSuspended):
		status = "Suspended"
	case printJobCondition(job.Status.Conditions, batchv1.JobFailureTarget):
		status = "FailureTarget"
	default:
		status = "Running"
	}

	names, images := printContainers(job.Spec.Template.Spec.Containers)
	return []interface{}{
		job.Name, status, completions, jobDuration, printAge(job.CreationTimestamp, now),
		names, images, metav1.FormatLabelSelector(job.Spec.Selector),
	}
}

// printJobCondition reports whether the first job condition of type t is True.
func printJobCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	for _, c := range conds {
		if c.Type == t {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func printCronJobTable() *TableConvertor {
	spec := batchv1beta1.CronJobSpec{}.SwaggerDoc()
	status := batchv1beta1.CronJobStatus{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Schedule", "string", spec["schedule"]),
			printCol("Timezone", "string", spec["timeZone"]),
			printCol("Suspend", "boolean", spec["suspend"]),
			printCol("Active", "integer", status["active"]),
			printCol("Last Schedule", "string", status["lastScheduleTime"]),
			printAgeColumn(),
			printWideCol("Containers", "string", printContainersDoc),
			printWideCol("Images", "string", printImagesDoc),
			printWideCol("Selector", "string", batchv1.JobSpec{}.SwaggerDoc()["selector"]),
		},
		func(cj *batchv1.CronJob, now time.Time) []interface{} {
			lastSchedule := "<none>"
			if cj.Status.LastScheduleTime != nil {
				lastSchedule = printAge(*cj.Status.LastScheduleTime, now)
			}
			timeZone := "<none>"
			if cj.Spec.TimeZone != nil {
				timeZone = *cj.Spec.TimeZone
			}
			jobSpec := cj.Spec.JobTemplate.Spec
			names, images := printContainers(jobSpec.Template.Spec.Containers)
			return []interface{}{
				cj.Name, cj.Spec.Schedule, timeZone, printBoolPtr(cj.Spec.Suspend), int64(len(cj.Status.Active)),
				lastSchedule, printAge(cj.CreationTimestamp, now),
				names, images, metav1.FormatLabelSelector(jobSpec.Selector),
			}
		},
	)
}
