package api

import (
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

func vtJob() *batchv1.Job {
	t := vtPodTemplate()
	t.Labels = nil
	t.Spec.RestartPolicy = corev1.RestartPolicyNever
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: "pi", Namespace: "default", UID: types.UID("0b7d0e3e-0000-4000-8000-000000000001")},
		Spec:       batchv1.JobSpec{Template: t},
	}
}

func TestJobDefaults(t *testing.T) {
	r := vtResource(t, gvr("batch", "v1", "jobs"))
	job := vtJob()
	vtCheck(t, vtCreate(r, job))
	s := job.Spec
	if *s.Completions != 1 || *s.Parallelism != 1 || *s.BackoffLimit != 6 || *s.CompletionMode != batchv1.NonIndexedCompletion ||
		*s.Suspend || *s.PodReplacementPolicy != batchv1.TerminatingOrFailed || s.ManualSelector != nil {
		t.Fatalf("job defaults wrong: %+v", s)
	}
	uid := string(job.UID)
	want := map[string]string{"batch.kubernetes.io/controller-uid": uid, "controller-uid": uid,
		"batch.kubernetes.io/job-name": "pi", "job-name": "pi"}
	for k, v := range want {
		if s.Template.Labels[k] != v {
			t.Errorf("template label %s = %q, want %q", k, s.Template.Labels[k], v)
		}
	}
	if len(s.Selector.MatchLabels) != 1 || s.Selector.MatchLabels["batch.kubernetes.io/controller-uid"] != uid {
		t.Errorf("generated selector = %v", s.Selector)
	}

	// Parallelism alone leaves completions unset; user values are kept.
	job = vtJob()
	job.Spec.Parallelism = strategyPtr(int32(3))
	job.Spec.BackoffLimit = strategyPtr(int32(0))
	r.Default(job)
	if job.Spec.Completions != nil || *job.Spec.Parallelism != 3 || *job.Spec.BackoffLimit != 0 {
		t.Errorf("defaults overrode user values: %+v", job.Spec)
	}

	// Without a uid nothing is generated and the missing selector is reported.
	job = vtJob()
	job.UID = ""
	vtCheck(t, vtCreate(r, job), vtRequired("spec.selector"), vtInvalid("spec.template.metadata.labels"))
}

func TestValidateJob(t *testing.T) {
	r := vtResource(t, gvr("batch", "v1", "jobs"))
	tests := []struct {
		name   string
		mutate func(*batchv1.Job)
		want   []vtErr
	}{
		{"restartPolicy Always", func(j *batchv1.Job) { j.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways },
			[]vtErr{vtNotSupported("spec.template.spec.restartPolicy").with(`supported values: "OnFailure", "Never"`)}},
		{"negative parallelism", func(j *batchv1.Job) { j.Spec.Parallelism = strategyPtr(int32(-1)) }, []vtErr{vtInvalid("spec.parallelism")}},
		{"negative backoff", func(j *batchv1.Job) { j.Spec.BackoffLimit = strategyPtr(int32(-1)) }, []vtErr{vtInvalid("spec.backoffLimit")}},
		{"indexed without completions", func(j *batchv1.Job) {
			j.Spec.CompletionMode = strategyPtr(batchv1.IndexedCompletion)
			j.Spec.Parallelism = strategyPtr(int32(2))
		}, []vtErr{vtRequired("spec.completions")}},
		{"bad completion mode", func(j *batchv1.Job) { j.Spec.CompletionMode = strategyPtr(batchv1.CompletionMode("Sorted")) },
			[]vtErr{vtNotSupported("spec.completionMode")}},
		{"wrong job-name label", func(j *batchv1.Job) { j.Spec.Template.Labels = map[string]string{"job-name": "other"} },
			[]vtErr{vtInvalid("spec.template.metadata.labels[job-name]").with("must be 'pi'")}},
		{"manual selector mismatch", func(j *batchv1.Job) {
			j.Spec.ManualSelector = strategyPtr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
		}, []vtErr{vtInvalid("spec.template.metadata.labels").with("`selector` does not match template `labels`")}},
		{"success policy on a non-indexed job", func(j *batchv1.Job) {
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededCount: strategyPtr(int32(1))}}}
		}, []vtErr{vtInvalid("spec.successPolicy").with("requires indexed completion mode")}},
		{"success policy rules", func(j *batchv1.Job) {
			j.Spec.CompletionMode = strategyPtr(batchv1.IndexedCompletion)
			j.Spec.Completions = strategyPtr(int32(4))
			j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{
				{},
				{SucceededIndexes: strategyPtr("0,2-1")},
				{SucceededIndexes: strategyPtr("0-4")},
				{SucceededCount: strategyPtr(int32(5))},
				{SucceededIndexes: strategyPtr("1,3"), SucceededCount: strategyPtr(int32(3))},
				{SucceededIndexes: strategyPtr("0-1,3"), SucceededCount: strategyPtr(int32(2))},
			}}
		}, []vtErr{
			vtRequired("spec.successPolicy.rules[0]"),
			vtInvalid("spec.successPolicy.rules[1].succeededIndexes").with("non-increasing order"),
			vtInvalid("spec.successPolicy.rules[2].succeededIndexes").with("too large index: 4"),
			vtInvalid("spec.successPolicy.rules[3].succeededCount").with("(the number of specified completions)"),
			vtInvalid("spec.successPolicy.rules[4].succeededCount").with("must be less than or equal to 2 (the number of indexes"),
		}},
		{"manual selector ok", func(j *batchv1.Job) {
			j.Spec.ManualSelector = strategyPtr(true)
			j.Spec.Selector = &metav1.LabelSelector{MatchLabels: map[string]string{"a": "b"}}
			j.Spec.Template.Labels = map[string]string{"a": "b"}
		}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			j := vtJob()
			tt.mutate(j)
			vtCheck(t, vtCreate(r, j), tt.want...)
		})
	}
}

func TestValidateJobUpdate(t *testing.T) {
	r := vtResource(t, gvr("batch", "v1", "jobs"))
	old := vtJob()
	r.Default(old)

	par := old.DeepCopy()
	par.Spec.Parallelism = strategyPtr(int32(4))
	vtCheck(t, vtUpdate(r, par, old))

	img := old.DeepCopy()
	img.Spec.Template.Spec.Containers[0].Image = "nginx:2"
	vtCheck(t, vtUpdate(r, img, old), vtInvalid("spec.template").with("field is immutable"))

	comp := old.DeepCopy()
	comp.Spec.Completions = strategyPtr(int32(5))
	vtCheck(t, vtUpdate(r, comp, old), vtInvalid("spec.completions"))

	// A suspended, never-started Job may change its scheduling directives.
	susp := old.DeepCopy()
	susp.Spec.Suspend = strategyPtr(true)
	moved := susp.DeepCopy()
	moved.Spec.Template.Spec.NodeSelector = map[string]string{"zone": "a"}
	vtCheck(t, vtUpdate(r, moved, susp))
}

func vtCronJob() *batchv1.CronJob {
	t := vtPodTemplate()
	t.Labels = nil
	t.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: "report", Namespace: "default"},
		Spec: batchv1.CronJobSpec{Schedule: "*/5 * * * *",
			JobTemplate: batchv1.JobTemplateSpec{Spec: batchv1.JobSpec{Template: t}}},
	}
}

func TestCronJob(t *testing.T) {
	r := vtResource(t, gvr("batch", "v1", "cronjobs"))
	cj := vtCronJob()
	vtCheck(t, vtCreate(r, cj))
	s := cj.Spec
	if s.ConcurrencyPolicy != batchv1.AllowConcurrent || *s.Suspend || *s.SuccessfulJobsHistoryLimit != 3 || *s.FailedJobsHistoryLimit != 1 {
		t.Fatalf("cronjob defaults wrong: %+v", s)
	}
	if s.JobTemplate.Spec.BackoffLimit != nil || s.JobTemplate.Spec.Template.Spec.DNSPolicy != corev1.DNSClusterFirst {
		t.Fatalf("job template defaults wrong: %+v", s.JobTemplate.Spec)
	}

	tests := []struct {
		name   string
		mutate func(*batchv1.CronJob)
		want   []vtErr
	}{
		{"descriptor", func(c *batchv1.CronJob) { c.Spec.Schedule = "@hourly" }, nil},
		{"names", func(c *batchv1.CronJob) { c.Spec.Schedule = "0 9 * JAN-mar mon-fri" }, nil},
		{"no schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "" }, []vtErr{vtRequired("spec.schedule")}},
		{"bad field count", func(c *batchv1.CronJob) { c.Spec.Schedule = "* * *" },
			[]vtErr{vtInvalid("spec.schedule").with("expected exactly 5 fields, found 3: [* * *]")}},
		{"minute out of range", func(c *batchv1.CronJob) { c.Spec.Schedule = "0-70 * * * *" },
			[]vtErr{vtInvalid("spec.schedule").with("end of range (70) above maximum (59): 0-70")}},
		{"bad descriptor", func(c *batchv1.CronJob) { c.Spec.Schedule = "@fortnightly" },
			[]vtErr{vtInvalid("spec.schedule").with("unrecognized descriptor: @fortnightly")}},
		{"TZ in schedule", func(c *batchv1.CronJob) { c.Spec.Schedule = "TZ=UTC 0 * * * *" },
			[]vtErr{vtInvalid("spec.schedule").with("cannot use TZ or CRON_TZ in schedule, use timeZone field instead")}},
		{"bad time zone", func(c *batchv1.CronJob) { c.Spec.TimeZone = strategyPtr("Mars/Olympus") }, []vtErr{vtInvalid("spec.timeZone")}},
		{"good time zone", func(c *batchv1.CronJob) { c.Spec.TimeZone = strategyPtr("Europe/Paris") }, nil},
		{"bad concurrency", func(c *batchv1.CronJob) { c.Spec.ConcurrencyPolicy = "Sometimes" }, []vtErr{vtNotSupported("spec.concurrencyPolicy")}},
		{"selector set", func(c *batchv1.CronJob) { c.Spec.JobTemplate.Spec.Selector = &metav1.LabelSelector{} },
			[]vtErr{vtInvalid("spec.jobTemplate.spec.selector").with("`selector` will be auto-generated")}},
		{"restart Always", func(c *batchv1.CronJob) {
			c.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyAlways
		},
			[]vtErr{vtNotSupported("spec.jobTemplate.spec.template.spec.restartPolicy")}},
		{"name too long", func(c *batchv1.CronJob) { c.Name = "a23456789012345678901234567890123456789012345678901234" },
			[]vtErr{vtInvalid("metadata.name").with("must be no more than 52 characters")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := vtCronJob()
			tt.mutate(c)
			vtCheck(t, vtCreate(r, c), tt.want...)
		})
	}
}

func TestParseCronSchedule(t *testing.T) {
	for spec, want := range map[string]string{
		"* * * * *":              "",
		"*/15 0-6,22 1 * 0":      "",
		"5/10 * ? * SUN-Sat":     "",
		"@every 90s":             "",
		"CRON_TZ=UTC @daily":     "",
		"":                       "empty spec string",
		"* * * * * *":            "expected exactly 5 fields, found 6: [* * * * * *]",
		"*/0 * * * *":            "step of range should be a positive number: */0",
		"5-1 * * * *":            "beginning of range (5) beyond end of range (1): 5-1",
		"x * * * *":              `failed to parse int from x: strconv.Atoi: parsing "x": invalid syntax`,
		"* * 0 * *":              "beginning of range (0) below minimum (1): 0",
		"1-2-3 * * * *":          "too many hyphens: 1-2-3",
		"@every 1x":              `failed to parse duration @every 1x: time: unknown unit "x" in duration "1x"`,
		"TZ=Nowhere/X * * * * *": "provided bad location Nowhere/X: unknown time zone Nowhere/X",
		"TZ=UTC":                 "provided bad location UTC: missing schedule",
	} {
		err := parseCronSchedule(spec)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("parseCronSchedule(%q) = %q, want %q", spec, got, want)
		}
	}
}
