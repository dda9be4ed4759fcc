package cronjob

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	v, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestScheduleTimes(t *testing.T) {
	tests := []struct {
		name, schedule, earliest, now string
		tz                            *string
		recent, next                  string // "" for zero
		missed                        int
	}{
		{"nothing due yet", "*/5 * * * *", "2026-01-01T10:01:00Z", "2026-01-01T10:04:59Z", nil, "", "2026-01-01T10:05:00Z", 0},
		{"one due", "*/5 * * * *", "2026-01-01T10:01:00Z", "2026-01-01T10:05:00Z", nil, "2026-01-01T10:05:00Z", "2026-01-01T10:10:00Z", 1},
		{"several missed, most recent wins", "*/5 * * * *", "2026-01-01T10:01:00Z", "2026-01-01T10:17:00Z", nil, "2026-01-01T10:15:00Z", "2026-01-01T10:20:00Z", 3},
		{"descriptor", "@hourly", "2026-01-01T10:01:00Z", "2026-01-01T11:30:00Z", nil, "2026-01-01T11:00:00Z", "2026-01-01T12:00:00Z", 1},
		{"time zone", "0 9 * * *", "2026-01-01T01:00:00Z", "2026-01-02T00:30:00Z", ptr("Asia/Tokyo"), "2026-01-02T00:00:00Z", "2026-01-03T00:00:00Z", 1},
		{"never fires", "0 0 30 2 *", "2026-01-01T00:00:00Z", "2027-01-01T00:00:00Z", nil, "", "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cj := &batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: tt.schedule, TimeZone: tt.tz}}
			sched, err := parseSchedule(cj)
			if err != nil {
				t.Fatal(err)
			}
			recent, missed, next := scheduleTimes(sched, mustTime(t, tt.earliest), mustTime(t, tt.now))
			check := func(what string, got time.Time, want string) {
				if want == "" {
					if !got.IsZero() {
						t.Errorf("%s = %v, want none", what, got)
					}
					return
				}
				if !got.Equal(mustTime(t, want)) {
					t.Errorf("%s = %v, want %s", what, got.UTC(), want)
				}
			}
			check("recent", recent, tt.recent)
			check("next", next, tt.next)
			if missed != tt.missed {
				t.Errorf("missed = %d, want %d", missed, tt.missed)
			}
		})
	}
	if _, err := parseSchedule(&batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "* * * * *", TimeZone: ptr("Mars/Olympus")}}); err == nil {
		t.Error("an unknown time zone parsed")
	}
	if _, err := parseSchedule(&batchv1.CronJob{Spec: batchv1.CronJobSpec{Schedule: "61 * * * *"}}); err == nil {
		t.Error("minute 61 parsed")
	}
}

func TestEarliestTime(t *testing.T) {
	created := mustTime(t, "2026-01-01T00:00:00Z")
	now := mustTime(t, "2026-01-01T01:00:00Z")
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: metav1.NewTime(created)}}
	if got := earliestTime(cj, now); !got.Equal(created) {
		t.Errorf("creation: %v", got)
	}
	last := metav1.NewTime(mustTime(t, "2026-01-01T00:30:00Z"))
	cj.Status.LastScheduleTime = &last
	if got := earliestTime(cj, now); !got.Equal(last.Time) {
		t.Errorf("last schedule: %v", got)
	}
	cj.Spec.StartingDeadlineSeconds = ptr(int64(60))
	if got := earliestTime(cj, now); !got.Equal(now.Add(-time.Minute)) {
		t.Errorf("deadline bound: %v", got)
	}
}

func TestNewJob(t *testing.T) {
	cj := &batchv1.CronJob{ObjectMeta: metav1.ObjectMeta{Name: "nightly", Namespace: "ns", UID: "u"}}
	cj.Spec.TimeZone = ptr("Europe/Berlin")
	cj.Spec.JobTemplate.Labels = map[string]string{"team": "a"}
	cj.Spec.JobTemplate.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	at := mustTime(t, "2026-01-01T10:05:00Z")
	j := newJob(cj, at)
	if want := "nightly-29454365"; j.Name != want { // 1767261900 s / 60
		t.Errorf("name %s, want %s", j.Name, want)
	}
	if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != "2026-01-01T11:05:00+01:00" {
		t.Errorf("scheduled timestamp %q", got)
	}
	if ref := metav1.GetControllerOf(j); ref == nil || ref.UID != "u" || ref.Kind != "CronJob" || !*ref.BlockOwnerDeletion {
		t.Errorf("owner %+v", ref)
	}
	if j.Labels["team"] != "a" || j.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyNever {
		t.Errorf("template not copied: %+v", j)
	}
}

func TestHistoryToDelete(t *testing.T) {
	job := func(name string, cond batchv1.JobConditionType, start int) *batchv1.Job {
		j := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: name}}
		if start > 0 {
			st := metav1.NewTime(time.Unix(int64(start), 0))
			j.Status.StartTime = &st
		}
		if cond != "" {
			j.Status.Conditions = []batchv1.JobCondition{{Type: cond, Status: corev1.ConditionTrue}}
		}
		return j
	}
	jobs := []*batchv1.Job{
		job("ok3", batchv1.JobComplete, 30), job("ok1", batchv1.JobComplete, 10), job("ok2", batchv1.JobComplete, 20),
		job("bad1", batchv1.JobFailed, 5), job("bad2", batchv1.JobFailed, 0), job("running", "", 1),
	}
	got := historyToDelete(jobs, ptr(int32(1)), ptr(int32(1)))
	var names []string
	for _, j := range got {
		names = append(names, j.Name)
	}
	// Oldest successes go; of the failures the one with a start time is older
	// than the one without.
	if want := "ok1,ok2,bad1"; fmtNames(names) != want {
		t.Errorf("deleted %v, want %s", names, want)
	}
	if len(historyToDelete(jobs, nil, nil)) != 0 {
		t.Error("no limits, nothing to delete")
	}
}

func fmtNames(n []string) string {
	s := ""
	for i, v := range n {
		if i > 0 {
			s += ","
		}
		s += v
	}
	return s
}
