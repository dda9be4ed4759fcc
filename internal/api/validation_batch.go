package api

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const maxParallelismForIndexedJob = 100000

// --- Job ---

func validateJob(job *batchv1.Job) field.ErrorList {
	allErrs := validateObjectMetaCreate(&job.ObjectMeta, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateJobSpecWithSelector(&job.Spec, specPath)...)
	if job.UID != "" && (job.Spec.ManualSelector == nil || !*job.Spec.ManualSelector) {
		allErrs = append(allErrs, validateGeneratedJobSelector(job)...)
	}
	return allErrs
}

// validateGeneratedJobSelector checks the labels generated from the Job's
// name and uid (see generateJobSelector).
func validateGeneratedJobSelector(job *batchv1.Job) field.ErrorList {
	var allErrs field.ErrorList
	tmeta := specPath.Child("template", "metadata")
	hasLabel := func(key, want string) {
		got, ok := job.Spec.Template.Labels[key]
		if !ok {
			allErrs = append(allErrs, field.Required(tmeta.Child("labels").Key(key), fmt.Sprintf("must be '%s'", want)))
		} else if got != want {
			allErrs = append(allErrs, field.Invalid(tmeta.Child("labels").Key(key), job.Spec.Template.Labels, fmt.Sprintf("must be '%s'", want)))
		}
	}
	hasLabel(jobLegacyControllerUIDLabel, string(job.UID))
	hasLabel(jobLegacyNameLabel, job.Name)
	hasLabel(batchv1.ControllerUidLabel, string(job.UID))
	hasLabel(batchv1.JobNameLabel, job.Name)
	if sel, err := metav1.LabelSelectorAsSelector(job.Spec.Selector); err == nil &&
		!sel.Matches(labels.Set{batchv1.ControllerUidLabel: string(job.UID)}) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("selector"), job.Spec.Selector, "`selector` not auto-generated"))
	}
	return allErrs
}

// validateJobSpecWithSelector is validateJobSpec plus the selector rules
// of a Job (a job template's selector is always generated).
func validateJobSpecWithSelector(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateJobSpec(spec, fldPath)
	if spec.Selector == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("selector"), ""))
	} else {
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, strictSelectorOpts, fldPath.Child("selector"))...)
	}
	if sel, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && !sel.Matches(labels.Set(spec.Template.Labels)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("template", "metadata", "labels"), spec.Template.Labels, msgSelectorMismatch))
	}
	return allErrs
}

func validateJobSpec(spec *batchv1.JobSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, f := range []struct {
		name string
		v    *int32
	}{{"parallelism", spec.Parallelism}, {"completions", spec.Completions}, {"backoffLimit", spec.BackoffLimit},
		{"ttlSecondsAfterFinished", spec.TTLSecondsAfterFinished}, {"backoffLimitPerIndex", spec.BackoffLimitPerIndex},
		{"maxFailedIndexes", spec.MaxFailedIndexes}} {
		if f.v != nil {
			allErrs = append(allErrs, validateNonnegative(int64(*f.v), fldPath.Child(f.name))...)
		}
	}
	if spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, validateNonnegative(*spec.ActiveDeadlineSeconds, fldPath.Child("activeDeadlineSeconds"))...)
	}
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if spec.CompletionMode != nil {
		switch *spec.CompletionMode {
		case batchv1.NonIndexedCompletion, batchv1.IndexedCompletion:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("completionMode"), *spec.CompletionMode,
				[]batchv1.CompletionMode{batchv1.NonIndexedCompletion, batchv1.IndexedCompletion}))
		}
		if indexed {
			if spec.Completions == nil {
				allErrs = append(allErrs, field.Required(fldPath.Child("completions"), "when completion mode is Indexed"))
			}
			if spec.Parallelism != nil && *spec.Parallelism > maxParallelismForIndexedJob {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("parallelism"), *spec.Parallelism,
					fmt.Sprintf("must be less than or equal to %d when completion mode is Indexed", maxParallelismForIndexedJob)))
			}
		}
	}
	if spec.BackoffLimitPerIndex != nil && !indexed {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("backoffLimitPerIndex"), *spec.BackoffLimitPerIndex, "requires indexed completion mode"))
	}
	if spec.MaxFailedIndexes != nil {
		if spec.BackoffLimitPerIndex == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("backoffLimitPerIndex"), "when maxFailedIndexes is specified"))
		}
		if spec.Completions != nil && *spec.MaxFailedIndexes > *spec.Completions {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("maxFailedIndexes"), *spec.MaxFailedIndexes, "must be less than or equal to completions"))
		}
	}
	if spec.SuccessPolicy != nil {
		allErrs = append(allErrs, validateSuccessPolicy(spec, indexed, fldPath.Child("successPolicy"))...)
	}
	if spec.PodReplacementPolicy != nil {
		switch *spec.PodReplacementPolicy {
		case batchv1.TerminatingOrFailed, batchv1.Failed:
		default:
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *spec.PodReplacementPolicy,
				[]batchv1.PodReplacementPolicy{batchv1.Failed, batchv1.TerminatingOrFailed}))
		}
		if spec.PodFailurePolicy != nil && *spec.PodReplacementPolicy != batchv1.Failed {
			allErrs = append(allErrs, field.NotSupported(fldPath.Child("podReplacementPolicy"), *spec.PodReplacementPolicy, []batchv1.PodReplacementPolicy{batchv1.Failed}))
		}
	}
	if pfp := spec.PodFailurePolicy; pfp != nil {
		for i, rule := range pfp.Rules {
			rp := fldPath.Child("podFailurePolicy", "rules").Index(i)
			switch rule.Action {
			case batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore, batchv1.PodFailurePolicyActionCount:
			case batchv1.PodFailurePolicyActionFailIndex:
				if spec.BackoffLimitPerIndex == nil {
					allErrs = append(allErrs, field.Invalid(rp.Child("action"), rule.Action, "requires the backoffLimitPerIndex to be set"))
				}
			default:
				allErrs = append(allErrs, field.NotSupported(rp.Child("action"), rule.Action, []batchv1.PodFailurePolicyAction{
					batchv1.PodFailurePolicyActionCount, batchv1.PodFailurePolicyActionFailIndex, batchv1.PodFailurePolicyActionFailJob, batchv1.PodFailurePolicyActionIgnore}))
			}
			switch {
			case rule.OnExitCodes != nil && len(rule.OnPodConditions) > 0:
				allErrs = append(allErrs, field.Invalid(rp, field.OmitValueType{}, "specifying both OnExitCodes and OnPodConditions is not supported"))
			case rule.OnExitCodes == nil && len(rule.OnPodConditions) == 0:
				allErrs = append(allErrs, field.Invalid(rp, field.OmitValueType{}, "specifying one of OnExitCodes and OnPodConditions is required"))
			}
			if ec := rule.OnExitCodes; ec != nil {
				switch ec.Operator {
				case batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn:
				default:
					allErrs = append(allErrs, field.NotSupported(rp.Child("onExitCodes", "operator"), ec.Operator, []batchv1.PodFailurePolicyOnExitCodesOperator{
						batchv1.PodFailurePolicyOnExitCodesOpIn, batchv1.PodFailurePolicyOnExitCodesOpNotIn}))
				}
				if len(ec.Values) == 0 {
					allErrs = append(allErrs, field.Invalid(rp.Child("onExitCodes", "values"), ec.Values, "at least one value is required"))
				}
			}
		}
	}
	tp := fldPath.Child("template")
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tp)...)
	switch rp := spec.Template.Spec.RestartPolicy; {
	case rp != corev1.RestartPolicyOnFailure && rp != corev1.RestartPolicyNever:
		allErrs = append(allErrs, field.NotSupported(tp.Child("spec", "restartPolicy"), rp,
			[]corev1.RestartPolicy{corev1.RestartPolicyOnFailure, corev1.RestartPolicyNever}))
	case rp == corev1.RestartPolicyOnFailure && spec.PodFailurePolicy != nil:
		allErrs = append(allErrs, field.Invalid(tp.Child("spec", "restartPolicy"), rp, `only "Never" is supported when podFailurePolicy is specified`))
	}
	return allErrs
}

func validateJobUpdate(job, old *batchv1.Job) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&job.ObjectMeta, &old.ObjectMeta)
	spec, oldSpec := &job.Spec, &old.Spec
	allErrs = append(allErrs, validateJobSpecWithSelector(spec, specPath)...)
	indexed := spec.CompletionMode != nil && *spec.CompletionMode == batchv1.IndexedCompletion
	if !indexed {
		allErrs = append(allErrs, validateImmutable(spec.Completions, oldSpec.Completions, specPath.Child("completions"))...)
	} else if !apiequality.Semantic.DeepEqual(spec.Completions, oldSpec.Completions) && spec.Completions != nil &&
		(spec.Parallelism == nil || *spec.Completions != *spec.Parallelism) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("completions"), spec.Completions, "can only be modified in tandem with spec.parallelism"))
	}
	allErrs = append(allErrs, validateImmutable(spec.Selector, oldSpec.Selector, specPath.Child("selector"))...)

	// A suspended Job that never started may change its scheduling directives.
	oldTemplate := oldSpec.Template.DeepCopy()
	if oldSpec.Suspend != nil && *oldSpec.Suspend && old.Status.StartTime == nil {
		t := &spec.Template
		if t.Spec.Affinity == nil {
			if oldTemplate.Spec.Affinity != nil {
				oldTemplate.Spec.Affinity.NodeAffinity = nil
				if apiequality.Semantic.DeepEqual(*oldTemplate.Spec.Affinity, corev1.Affinity{}) {
					oldTemplate.Spec.Affinity = nil
				}
			}
		} else if oldTemplate.Spec.Affinity == nil {
			oldTemplate.Spec.Affinity = &corev1.Affinity{NodeAffinity: t.Spec.Affinity.NodeAffinity}
		} else {
			oldTemplate.Spec.Affinity.NodeAffinity = t.Spec.Affinity.NodeAffinity
		}
		oldTemplate.Spec.NodeSelector = t.Spec.NodeSelector
		oldTemplate.Spec.Tolerations = t.Spec.Tolerations
		oldTemplate.Annotations = t.Annotations
		oldTemplate.Labels = t.Labels
		oldTemplate.Spec.SchedulingGates = t.Spec.SchedulingGates
	}
	allErrs = append(allErrs, validateImmutable(&spec.Template, oldTemplate, specPath.Child("template"))...)
	for _, f := range []struct {
		name     string
		now, was interface{}
	}{
		{"completionMode", spec.CompletionMode, oldSpec.CompletionMode},
		{"podFailurePolicy", spec.PodFailurePolicy, oldSpec.PodFailurePolicy},
		{"backoffLimitPerIndex", spec.BackoffLimitPerIndex, oldSpec.BackoffLimitPerIndex},
		{"managedBy", spec.ManagedBy, oldSpec.ManagedBy},
		{"successPolicy", spec.SuccessPolicy, oldSpec.SuccessPolicy},
		{"podReplacementPolicy", spec.PodReplacementPolicy, oldSpec.PodReplacementPolicy},
	} {
		allErrs = append(allErrs, validateImmutable(f.now, f.was, specPath.Child(f.name))...)
	}
	return allErrs
}

// --- CronJob ---

var validTimeZoneCharacters = regexp.MustCompile(`^[A-Za-z\.\-_0-9+]{1,14}$`)

func validateCronJob(cj *batchv1.CronJob) field.ErrorList {
	allErrs := validateObjectMetaCreate(&cj.ObjectMeta, true, nameIsDNSSubdomain)
	if len(cj.Name) > 52 {
		allErrs = append(allErrs, field.Invalid(metaPath.Child("name"), cj.Name, "must be no more than 52 characters"))
	}
	return append(allErrs, validateCronJobSpec(&cj.Spec, nil)...)
}

func validateCronJobUpdate(cj, old *batchv1.CronJob) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&cj.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateCronJobSpec(&cj.Spec, &old.Spec)...)
}

func validateCronJobSpec(spec, old *batchv1.CronJobSpec) field.ErrorList {
	var allErrs field.ErrorList
	sp := specPath.Child("schedule")
	if spec.Schedule == "" {
		allErrs = append(allErrs, field.Required(sp, ""))
	} else {
		allowTZ := old != nil && strings.Contains(old.Schedule, "TZ")
		if err := parseCronSchedule(spec.Schedule); err != nil {
			allErrs = append(allErrs, field.Invalid(sp, spec.Schedule, err.Error()))
		}
		switch {
		case allowTZ && strings.Contains(spec.Schedule, "TZ") && spec.TimeZone != nil:
			allErrs = append(allErrs, field.Invalid(sp, spec.Schedule, "cannot use both timeZone field and TZ or CRON_TZ in schedule"))
		case !allowTZ && strings.Contains(spec.Schedule, "TZ"):
			allErrs = append(allErrs, field.Invalid(sp, spec.Schedule, "cannot use TZ or CRON_TZ in schedule, use timeZone field instead"))
		}
	}
	if spec.StartingDeadlineSeconds != nil {
		allErrs = append(allErrs, validateNonnegative(*spec.StartingDeadlineSeconds, specPath.Child("startingDeadlineSeconds"))...)
	}
	if old == nil || !apiequality.Semantic.DeepEqual(old.TimeZone, spec.TimeZone) {
		allErrs = append(allErrs, validateTimeZone(spec.TimeZone, specPath.Child("timeZone"))...)
	}
	cp := specPath.Child("concurrencyPolicy")
	switch spec.ConcurrencyPolicy {
	case batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent:
	case "":
		allErrs = append(allErrs, field.Required(cp, ""))
	default:
		allErrs = append(allErrs, field.NotSupported(cp, spec.ConcurrencyPolicy,
			[]batchv1.ConcurrencyPolicy{batchv1.AllowConcurrent, batchv1.ForbidConcurrent, batchv1.ReplaceConcurrent}))
	}
	jt := specPath.Child("jobTemplate")
	allErrs = append(allErrs, validateTemplateMeta(&spec.JobTemplate.ObjectMeta, jt.Child("metadata"))...)
	allErrs = append(allErrs, validateJobSpec(&spec.JobTemplate.Spec, jt.Child("spec"))...)
	if spec.JobTemplate.Spec.Selector != nil {
		allErrs = append(allErrs, field.Invalid(jt.Child("spec", "selector"), spec.JobTemplate.Spec.Selector, "`selector` will be auto-generated"))
	}
	if m := spec.JobTemplate.Spec.ManualSelector; m != nil && *m {
		allErrs = append(allErrs, field.NotSupported(jt.Child("spec", "manualSelector"), m, []string{"nil", "false"}))
	}
	if spec.SuccessfulJobsHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.SuccessfulJobsHistoryLimit), specPath.Child("successfulJobsHistoryLimit"))...)
	}
	if spec.FailedJobsHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.FailedJobsHistoryLimit), specPath.Child("failedJobsHistoryLimit"))...)
	}
	return allErrs
}

func validateTimeZone(tz *string, fldPath *field.Path) field.ErrorList {
	if tz == nil {
		return nil
	}
	if *tz == "" {
		return field.ErrorList{field.Invalid(fldPath, tz, "timeZone must be nil or non-empty string")}
	}
	for _, part := range strings.Split(*tz, "/") {
		if part == "." || part == ".." || strings.HasPrefix(part, "-") || !validTimeZoneCharacters.MatchString(part) {
			return field.ErrorList{field.Invalid(fldPath, tz, fmt.Sprintf("unknown time zone %s", *tz))}
		}
	}
	var allErrs field.ErrorList
	if strings.EqualFold(*tz, "Local") {
		allErrs = append(allErrs, field.Invalid(fldPath, tz, "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"))
	}
	if _, err := time.LoadLocation(*tz); err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath, tz, err.Error()))
	}
	return allErrs
}

// maxSuccessPolicyRules is Kubernetes' limit on spec.successPolicy.rules.
const maxSuccessPolicyRules = 20

// validateSuccessPolicy checks an Indexed Job's success policy as
// Kubernetes does.
func validateSuccessPolicy(spec *batchv1.JobSpec, indexed bool, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	sp := spec.SuccessPolicy
	if !indexed {
		return append(allErrs, field.Invalid(fldPath, sp, "requires indexed completion mode"))
	}
	rulesPath := fldPath.Child("rules")
	if len(sp.Rules) == 0 {
		allErrs = append(allErrs, field.Required(rulesPath, "at least one rules must be specified when the successPolicy is specified"))
	}
	if len(sp.Rules) > maxSuccessPolicyRules {
		allErrs = append(allErrs, field.TooMany(rulesPath, len(sp.Rules), maxSuccessPolicyRules))
	}
	var completions int32
	if spec.Completions != nil {
		completions = *spec.Completions
	}
	for i, rule := range sp.Rules {
		rp := rulesPath.Index(i)
		if rule.SucceededIndexes == nil && rule.SucceededCount == nil {
			allErrs = append(allErrs, field.Required(rp, "at least one of succeededCount or succeededIndexes must be specified"))
		}
		size := -1
		if rule.SucceededIndexes != nil {
			n, err := countIndexes(*rule.SucceededIndexes, completions)
			if err != nil {
				allErrs = append(allErrs, field.Invalid(rp.Child("succeededIndexes"), *rule.SucceededIndexes, fmt.Sprintf("error parsing succeededIndexes: %s", err)))
			}
			size = n
		}
		if rule.SucceededCount != nil {
			cp := rp.Child("succeededCount")
			switch c := *rule.SucceededCount; {
			case c < 0:
				allErrs = append(allErrs, field.Invalid(cp, c, "must be greater than or equal to 0"))
			case c > completions:
				allErrs = append(allErrs, field.Invalid(cp, c, fmt.Sprintf("must be less than or equal to %d (the number of specified completions)", completions)))
			case size >= 0 && int(c) > size:
				allErrs = append(allErrs, field.Invalid(cp, c, fmt.Sprintf("must be less than or equal to %d (the number of indexes in the specified succeededIndexes field)", size)))
			}
		}
	}
	return allErrs
}

// countIndexes parses an interval list ("1,3-5,7") of indexes below
// completions, in ascending order without overlaps, and counts them.
func countIndexes(s string, completions int32) (int, error) {
	n, last := 0, -1
	for _, part := range strings.Split(s, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil || a < 0 {
			return n, fmt.Errorf("cannot convert string to integer for index: %q", lo)
		}
		b := a
		if isRange {
			if b, err = strconv.Atoi(hi); err != nil || b < 0 {
				return n, fmt.Errorf("cannot convert string to integer for index: %q", hi)
			}
			if b <= a {
				return n, fmt.Errorf("non-increasing order, previous: %d, current: %d", a, b)
			}
		}
		if a <= last {
			return n, fmt.Errorf("overlapping or non-increasing order, previous: %d, current: %d", last, a)
		}
		if int32(b) >= completions {
			return n, fmt.Errorf("too large index: %d", b)
		}
		n += b - a + 1
		last = b
	}
	return n, nil
}
