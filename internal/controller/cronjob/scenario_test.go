package cronjob_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/gantry-dev/gantry/internal/controller/cronjob"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd with no built-in
// controllers; the test runs the CronJob controller on a fake clock and
// plays the Job controller by writing Job status, so minutes pass in
// milliseconds.

const scenarioTimeout = 30 * time.Second

type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func (f *fakeClock) Now() time.Time {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.t
}

func (f *fakeClock) Set(t time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.t = t
}

type env struct {
	t     *testing.T
	cs    kubernetes.Interface
	clock *fakeClock
	ctrl  *cronjob.Controller
	ns    string
}

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

// tick moves the clock to "to", wakes the controller for the CronJob and
// waits until it has been reconciled.
func (e *env) tick(name string, to time.Time) {
	e.t.Helper()
	e.clock.Set(to)
	e.ctrl.Controller().Enqueue(e.ns + "/" + name)
	eventually(e.t, "controller idle", func(context.Context) (string, error) {
		if n := e.ctrl.Controller().Pending(); n > 0 {
			return fmt.Sprintf("%d keys pending", n), nil
		}
		return "", nil
	})
}

func (e *env) createCronJob(cj *batchv1.CronJob) *batchv1.CronJob {
	e.t.Helper()
	out, err := e.cs.BatchV1().CronJobs(e.ns).Create(e.t.Context(), cj, metav1.CreateOptions{})
	if err != nil {
		e.t.Fatal(err)
	}
	return out
}

func newCronJob(name, schedule string, policy batchv1.ConcurrencyPolicy) *batchv1.CronJob {
	return &batchv1.CronJob{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.CronJobSpec{
			Schedule:          schedule,
			ConcurrencyPolicy: policy,
			JobTemplate: batchv1.JobTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"cron": name}},
				Spec: batchv1.JobSpec{Template: corev1.PodTemplateSpec{Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox:1.36"}},
				}}},
			},
		},
	}
}

// jobsOf lists the Jobs labelled for the CronJob, by name.
func (e *env) jobsOf(ctx context.Context, name string) ([]batchv1.Job, error) {
	list, err := e.cs.BatchV1().Jobs(e.ns).List(ctx, metav1.ListOptions{LabelSelector: "cron=" + name})
	if err != nil {
		return nil, err
	}
	var out []batchv1.Job
	for _, j := range list.Items {
		if j.DeletionTimestamp == nil {
			out = append(out, j)
		}
	}
	sort.Slice(out, func(a, b int) bool { return out[a].Name < out[b].Name })
	return out, nil
}

// waitJobs waits until the CronJob has exactly the Jobs names.
func (e *env) waitJobs(cron string, names ...string) []batchv1.Job {
	e.t.Helper()
	var jobs []batchv1.Job
	eventually(e.t, fmt.Sprintf("jobs %v", names), func(ctx context.Context) (string, error) {
		var err error
		jobs, err = e.jobsOf(ctx, cron)
		if err != nil {
			return "", err
		}
		var got []string
		for _, j := range jobs {
			got = append(got, j.Name)
		}
		if fmt.Sprint(got) != fmt.Sprint(names) {
			return fmt.Sprintf("jobs %v", got), nil
		}
		return "", nil
	})
	return jobs
}

// finishJob plays the Job controller finishing a Job.
func (e *env) finishJob(name string, ok bool, at time.Time) {
	e.t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		j, err := e.cs.BatchV1().Jobs(e.ns).Get(e.t.Context(), name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		start := metav1.NewTime(at.Add(-time.Second).Truncate(time.Second))
		end := metav1.NewTime(at.Truncate(time.Second))
		j.Status.StartTime = &start
		if ok {
			j.Status.Succeeded = 1
			j.Status.CompletionTime = &end
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobSuccessCriteriaMet, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: end},
				{Type: batchv1.JobComplete, Status: corev1.ConditionTrue, Reason: "CompletionsReached", LastTransitionTime: end},
			}
		} else {
			j.Status.Failed = 1
			j.Status.Conditions = []batchv1.JobCondition{
				{Type: batchv1.JobFailureTarget, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: end},
				{Type: batchv1.JobFailed, Status: corev1.ConditionTrue, Reason: "BackoffLimitExceeded", LastTransitionTime: end},
			}
		}
		_, err = e.cs.BatchV1().Jobs(e.ns).UpdateStatus(e.t.Context(), j, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		e.t.Fatal(err)
	}
}

func (e *env) status(ctx context.Context, name string) (batchv1.CronJobStatus, error) {
	cj, err := e.cs.BatchV1().CronJobs(e.ns).Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return batchv1.CronJobStatus{}, err
	}
	return cj.Status, nil
}

func (e *env) hasEvent(reason string) {
	e.t.Helper()
	eventually(e.t, "event "+reason, func(ctx context.Context) (string, error) {
		evs, err := e.cs.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return "", err
		}
		for _, ev := range evs.Items {
			if ev.Reason == reason {
				return "", nil
			}
		}
		return "not yet", nil
	})
}

// minuteName is the Job name Kubernetes gives the run at t.
func minuteName(cron string, t time.Time) string { return fmt.Sprintf("%s-%d", cron, t.Unix()/60) }

func TestScenarioCronJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	clock := &fakeClock{t: time.Now()}
	factory := informers.NewSharedInformerFactory(c.Client, 0)
	ctrl, err := cronjob.New(cronjob.Config{Now: clock.Now}, c.Client, factory, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- ctrl.Run(ctx) }()
	t.Cleanup(func() { cancel(); <-done; factory.Shutdown() })

	// Each subtest starts from a fresh hour well after the creation time.
	base := time.Now().Truncate(time.Hour)
	hour := 0
	newEnv := func(t *testing.T, ns string) (*env, time.Time) {
		if _, err := c.Client.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		hour++
		clock.Set(time.Now()) // creation reconciles see no schedule time due
		return &env{t: t, cs: c.Client, clock: clock, ctrl: ctrl, ns: ns}, base.Add(time.Duration(hour) * time.Hour)
	}

	t.Run("allow: one job per schedule time, active and last times", func(t *testing.T) {
		e, h := newEnv(t, "allow")
		e.createCronJob(newCronJob("tick", "*/5 * * * *", batchv1.AllowConcurrent))
		first := h.Add(5 * time.Minute)
		e.tick("tick", first.Add(10*time.Second))
		jobs := e.waitJobs("tick", minuteName("tick", first))
		j := jobs[0]
		if got := j.Annotations[batchv1.CronJobScheduledTimestampAnnotation]; got != first.UTC().Format(time.RFC3339) {
			t.Errorf("scheduled timestamp %q", got)
		}
		if ref := metav1.GetControllerOf(&j); ref == nil || ref.Kind != "CronJob" || ref.Name != "tick" {
			t.Errorf("owner %+v", ref)
		}
		eventually(t, "active and lastScheduleTime", func(ctx context.Context) (string, error) {
			s, err := e.status(ctx, "tick")
			if err != nil {
				return "", err
			}
			if len(s.Active) != 1 || s.Active[0].Name != j.Name || s.LastScheduleTime == nil || !s.LastScheduleTime.Time.Equal(first) {
				return fmt.Sprintf("status %+v", s), nil
			}
			return "", nil
		})
		// Allow: the next run starts while the first is still active.
		second := first.Add(5 * time.Minute)
		e.tick("tick", second.Add(time.Second))
		e.waitJobs("tick", minuteName("tick", first), minuteName("tick", second))
		e.finishJob(j.Name, true, second.Add(2*time.Second))
		eventually(t, "finished job leaves active", func(ctx context.Context) (string, error) {
			s, err := e.status(ctx, "tick")
			if err != nil {
				return "", err
			}
			if len(s.Active) != 1 || s.Active[0].Name != minuteName("tick", second) || s.LastSuccessfulTime == nil {
				return fmt.Sprintf("status %+v", s), nil
			}
			return "", nil
		})
		// The same time again creates nothing new.
		e.ctrl.Controller().Enqueue(e.ns + "/tick")
		e.hasEvent("SawCompletedJob")
		e.waitJobs("tick", minuteName("tick", first), minuteName("tick", second))
	})

	t.Run("forbid skips while a job runs", func(t *testing.T) {
		e, h := newEnv(t, "forbid")
		e.createCronJob(newCronJob("solo", "*/5 * * * *", batchv1.ForbidConcurrent))
		first := h.Add(5 * time.Minute)
		e.tick("solo", first)
		e.waitJobs("solo", minuteName("solo", first))
		e.tick("solo", first.Add(5*time.Minute))
		e.hasEvent("JobAlreadyActive")
		e.waitJobs("solo", minuteName("solo", first))
		// Once the running job finishes, the skipped run is still the most
		// recent unmet time and starts (as in Kubernetes).
		e.finishJob(minuteName("solo", first), true, first.Add(6*time.Minute))
		e.waitJobs("solo", minuteName("solo", first), minuteName("solo", first.Add(5*time.Minute)))
		third := first.Add(10 * time.Minute)
		e.tick("solo", third) // Forbid again: the second run is active
		e.waitJobs("solo", minuteName("solo", first), minuteName("solo", first.Add(5*time.Minute)))
	})

	t.Run("replace deletes the running job", func(t *testing.T) {
		e, h := newEnv(t, "replace")
		e.createCronJob(newCronJob("swap", "*/5 * * * *", batchv1.ReplaceConcurrent))
		first := h.Add(5 * time.Minute)
		e.tick("swap", first)
		e.waitJobs("swap", minuteName("swap", first))
		second := first.Add(5 * time.Minute)
		e.tick("swap", second)
		e.waitJobs("swap", minuteName("swap", second))
		eventually(t, "active is the new job", func(ctx context.Context) (string, error) {
			s, err := e.status(ctx, "swap")
			if err != nil {
				return "", err
			}
			if len(s.Active) != 1 || s.Active[0].Name != minuteName("swap", second) {
				return fmt.Sprintf("active %+v", s.Active), nil
			}
			return "", nil
		})
	})

	t.Run("history limits", func(t *testing.T) {
		e, h := newEnv(t, "history")
		cj := newCronJob("hist", "*/5 * * * *", batchv1.AllowConcurrent)
		one, zero := int32(1), int32(0)
		cj.Spec.SuccessfulJobsHistoryLimit, cj.Spec.FailedJobsHistoryLimit = &one, &zero
		e.createCronJob(cj)
		var names []string
		for i := 1; i <= 3; i++ {
			at := h.Add(time.Duration(5*i) * time.Minute)
			e.tick("hist", at)
			names = append(names, minuteName("hist", at))
			e.waitJobs("hist", names...)
			e.finishJob(names[len(names)-1], true, at.Add(time.Minute))
			if len(names) > 1 {
				names = names[1:] // one success kept
			}
		}
		e.ctrl.Controller().Enqueue(e.ns + "/hist")
		e.waitJobs("hist", names...)
		at := h.Add(20 * time.Minute)
		e.tick("hist", at)
		e.waitJobs("hist", names[0], minuteName("hist", at))
		e.finishJob(minuteName("hist", at), false, at.Add(time.Minute))
		e.waitJobs("hist", names[0]) // failed limit 0
	})

	t.Run("starting deadline and suspend", func(t *testing.T) {
		e, h := newEnv(t, "deadline")
		cj := newCronJob("late", "*/5 * * * *", batchv1.AllowConcurrent)
		ten := int64(10)
		cj.Spec.StartingDeadlineSeconds = &ten
		e.createCronJob(cj)
		first := h.Add(5 * time.Minute)
		// 30 s late with a 10 s deadline: skipped, as Kubernetes skips it
		// (the window starts at now-10s).
		e.tick("late", first.Add(30*time.Second))
		if jobs, err := e.jobsOf(t.Context(), "late"); err != nil || len(jobs) != 0 {
			t.Fatalf("jobs of a missed start: %d %v", len(jobs), err)
		}
		e.tick("late", first.Add(5*time.Minute+5*time.Second))
		e.waitJobs("late", minuteName("late", first.Add(5*time.Minute)))

		sus := newCronJob("paused", "*/5 * * * *", batchv1.AllowConcurrent)
		yes := true
		sus.Spec.Suspend = &yes
		e.createCronJob(sus)
		e.tick("paused", first.Add(10*time.Minute))
		if jobs, err := e.jobsOf(t.Context(), "paused"); err != nil || len(jobs) != 0 {
			t.Fatalf("jobs of a suspended cron job: %d %v", len(jobs), err)
		}
		// Resume: the missed run (within no deadline) starts.
		if _, err := e.cs.BatchV1().CronJobs(e.ns).Patch(t.Context(), "paused", "application/merge-patch+json", []byte(`{"spec":{"suspend":false}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitJobs("paused", minuteName("paused", first.Add(10*time.Minute)))
	})
}
