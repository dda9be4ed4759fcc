package api

import (
	"math"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// defaultJob applies batch/v1 Job defaults and, when the API server has
// already assigned metadata.uid, generates the selector and template
// labels Kubernetes generates on create (unless manualSelector is true).
func defaultJob(job *batchv1.Job) {
	defaultJobSpec(&job.Spec)
	if job.UID != "" && (job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector) {
		generateJobSelector(job)
	}
	// Kubernetes copies the template labels to an unlabelled Job when it
	// decodes it, which (reading back) includes the generated ones.
	if job.Spec.Template.Labels != nil && len(job.Labels) == 0 {
		job.Labels = make(map[string]string, len(job.Spec.Template.Labels))
		for k, v := range job.Spec.Template.Labels {
			job.Labels[k] = v
		}
	}
}

func defaultJobSpec(spec *batchv1.JobSpec) {
	if spec.Completions == nil && spec.Parallelism == nil {
		spec.Completions = strategyPtr(int32(1))
		spec.Parallelism = strategyPtr(int32(1))
	}
	if spec.Parallelism == nil {
		spec.Parallelism = strategyPtr(int32(1))
	}
	if spec.BackoffLimit == nil {
		if spec.BackoffLimitPerIndex != nil {
			spec.BackoffLimit = strategyPtr(int32(math.MaxInt32))
		} else {
			spec.BackoffLimit = strategyPtr(int32(6))
		}
	}
	if spec.CompletionMode == nil {
		spec.CompletionMode = strategyPtr(batchv1.NonIndexedCompletion)
	}
	if spec.Suspend == nil {
		spec.Suspend = strategyPtr(false)
	}
	if spec.PodFailurePolicy != nil {
		for _, rule := range spec.PodFailurePolicy.Rules {
			for i := range rule.OnPodConditions {
				if rule.OnPodConditions[i].Status == "" {
					rule.OnPodConditions[i].Status = corev1.ConditionTrue
				}
			}
		}
	}
	if spec.PodReplacementPolicy == nil {
		if spec.PodFailurePolicy != nil {
			spec.PodReplacementPolicy = strategyPtr(batchv1.Failed)
		} else {
			spec.PodReplacementPolicy = strategyPtr(batchv1.TerminatingOrFailed)
		}
	}
	defaultPodTemplateSpec(&spec.Template)
}

// generateJobSelector adds the job-name and controller-uid template labels
// (new and legacy keys) and selects on the controller uid; values the user
// set are kept, so a conflicting one is reported by validation.
func generateJobSelector(job *batchv1.Job) {
	t := &job.Spec.Template
	if t.Labels == nil {
		t.Labels = map[string]string{}
	}
	for _, k := range []string{jobLegacyNameLabel, batchv1.JobNameLabel} {
		if _, ok := t.Labels[k]; !ok {
			t.Labels[k] = job.Name
		}
	}
	for _, k := range []string{jobLegacyControllerUIDLabel, batchv1.ControllerUidLabel} {
		if _, ok := t.Labels[k]; !ok {
			t.Labels[k] = string(job.UID)
		}
	}
	if job.Spec.Selector == nil {
		job.Spec.Selector = &metav1.LabelSelector{}
	}
	if job.Spec.Selector.MatchLabels == nil {
		job.Spec.Selector.MatchLabels = map[string]string{}
	}
	if _, ok := job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel]; !ok {
		job.Spec.Selector.MatchLabels[batchv1.ControllerUidLabel] = string(job.UID)
	}
}

func defaultCronJob(cj *batchv1.CronJob) {
	if cj.Spec.ConcurrencyPolicy == "" {
		cj.Spec.ConcurrencyPolicy = batchv1.AllowConcurrent
	}
	if cj.Spec.Suspend == nil {
		cj.Spec.Suspend = strategyPtr(false)
	}
	if cj.Spec.SuccessfulJobsHistoryLimit == nil {
		cj.Spec.SuccessfulJobsHistoryLimit = strategyPtr(int32(3))
	}
	if cj.Spec.FailedJobsHistoryLimit == nil {
		cj.Spec.FailedJobsHistoryLimit = strategyPtr(int32(1))
	}
	// The job template gets pod template defaults only, not Job defaults.
	defaultPodTemplateSpec(&cj.Spec.JobTemplate.Spec.Template)
}

// The unprefixed Job labels Kubernetes still sets for compatibility.
const (
	jobLegacyNameLabel          = "job-name"
	jobLegacyControllerUIDLabel = "controller-uid"
)
