package job_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// Scenario tests: a real API server on embedded etcd with the controllers
// running; a stub agent binds pods and reports them Running, and the test
// plays the containers exiting by writing pod status.

func TestScenarioJob(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client

	t.Run("non-indexed completions with parallelism, kubectl wait and get", func(t *testing.T) {
		ns := "nonindexed"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := createJob(t, cs, ns, newJob("pi", 3, 2))
		pods := waitRunning(t, cs, ns, "pi", 2)
		for _, p := range pods {
			if !strings.HasPrefix(p.Name, "pi-") || p.Labels[batchv1.ControllerUidLabel] != string(j.UID) || p.Labels[batchv1.JobNameLabel] != "pi" {
				t.Errorf("pod %s labels %v", p.Name, p.Labels)
			}
			if !slices.Contains(p.Finalizers, batchv1.JobTrackingFinalizer) {
				t.Errorf("pod %s finalizers %v", p.Name, p.Finalizers)
			}
			if ref := metav1.GetControllerOf(&p); ref == nil || ref.UID != j.UID || ref.Kind != "Job" {
				t.Errorf("pod %s controller %v", p.Name, ref)
			}
		}
		eventually(t, "active and ready", func(ctx context.Context) (string, error) {
			j, err := cs.BatchV1().Jobs(ns).Get(ctx, "pi", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if j.Status.Active != 2 || j.Status.Ready == nil || *j.Status.Ready != 2 || j.Status.StartTime == nil {
				return fmt.Sprintf("status %+v", j.Status), nil
			}
			return "", nil
		})
		finishPod(t, cs, &pods[0], 0)
		// One succeeded, so one more is needed: 2 running again.
		eventually(t, "replacement after a success", func(ctx context.Context) (string, error) {
			j, err := cs.BatchV1().Jobs(ns).Get(ctx, "pi", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			run, err := runningPods(ctx, cs, ns, "pi")
			if err != nil {
				return "", err
			}
			if j.Status.Succeeded != 1 || len(run) != 2 {
				return fmt.Sprintf("succeeded %d, %d running", j.Status.Succeeded, len(run)), nil
			}
			return "", nil
		})
		for _, p := range waitRunning(t, cs, ns, "pi", 2) {
			finishPod(t, cs, &p, 0)
		}
		if out, err := kubectl(t, c, "-n", ns, "wait", "--for=condition=complete", "job/pi", "--timeout=30s"); err != nil {
			t.Fatalf("%v\n%s", err, out)
		}
		j = finishedWith(t, cs, ns, "pi", batchv1.JobComplete, "CompletionsReached")
		if s := j.Status; s.Succeeded != 3 || s.Failed != 0 || s.Active != 0 || s.CompletionTime == nil || s.StartTime == nil {
			t.Errorf("status %+v", s)
		}
		if c := condition(j, batchv1.JobSuccessCriteriaMet); c == nil || c.Status != corev1.ConditionTrue {
			t.Errorf("SuccessCriteriaMet %+v", c)
		}
		noFinalizers(t, cs, ns, "pi")
		out, err := kubectl(t, c, "-n", ns, "get", "jobs")
		if err != nil {
			t.Fatal(err)
		}
		if !strings.Contains(out, "COMPLETIONS") || !strings.Contains(out, "3/3") || !strings.Contains(out, "Complete") {
			t.Errorf("kubectl get jobs:\n%s", out)
		}
	})

	t.Run("indexed", func(t *testing.T) {
		ns := "indexed"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("idx", 3, 3)
		mode := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &mode
		createJob(t, cs, ns, j)
		pods := waitRunning(t, cs, ns, "idx", 3)
		seen := map[string]bool{}
		for _, p := range pods {
			ix := p.Annotations[batchv1.JobCompletionIndexAnnotation]
			if ix == "" || p.Labels[batchv1.JobCompletionIndexAnnotation] != ix || !strings.HasPrefix(p.Name, "idx-"+ix+"-") || p.Spec.Hostname != "idx-"+ix {
				t.Errorf("pod %s: index %q labels %v hostname %q", p.Name, ix, p.Labels, p.Spec.Hostname)
			}
			if e := p.Spec.Containers[0].Env; len(e) != 1 || e[0].Name != "JOB_COMPLETION_INDEX" || e[0].ValueFrom == nil {
				t.Errorf("pod %s env %+v", p.Name, e)
			}
			seen[ix] = true
		}
		if len(seen) != 3 {
			t.Fatalf("indexes %v", seen)
		}
		byIndex := map[string]corev1.Pod{}
		for _, p := range pods {
			byIndex[p.Annotations[batchv1.JobCompletionIndexAnnotation]] = p
		}
		for _, ix := range []string{"0", "2"} {
			p := byIndex[ix]
			finishPod(t, cs, &p, 0)
		}
		eventually(t, "completed indexes 0,2", func(ctx context.Context) (string, error) {
			j, err := cs.BatchV1().Jobs(ns).Get(ctx, "idx", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if j.Status.CompletedIndexes != "0,2" || j.Status.Succeeded != 2 || j.Status.Active != 1 {
				return fmt.Sprintf("status %+v", j.Status), nil
			}
			return "", nil
		})
		p := byIndex["1"]
		finishPod(t, cs, &p, 0)
		j = finishedWith(t, cs, ns, "idx", batchv1.JobComplete, "CompletionsReached")
		if j.Status.CompletedIndexes != "0-2" || j.Status.Succeeded != 3 {
			t.Errorf("status %+v", j.Status)
		}
	})

	t.Run("indexed with a success policy completes early", func(t *testing.T) {
		ns := "success-policy"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("leader", 3, 3)
		mode := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &mode
		lead := "0"
		j.Spec.SuccessPolicy = &batchv1.SuccessPolicy{Rules: []batchv1.SuccessPolicyRule{{SucceededIndexes: &lead}}}
		createJob(t, cs, ns, j)
		for _, p := range waitRunning(t, cs, ns, "leader", 3) {
			if p.Annotations[batchv1.JobCompletionIndexAnnotation] == "0" {
				finishPod(t, cs, &p, 0)
			}
		}
		// Index 0 alone meets the policy: the other two are stopped and
		// the Job completes with Kubernetes' reason and message.
		j = finishedWith(t, cs, ns, "leader", batchv1.JobComplete, "SuccessPolicy")
		if c := condition(j, batchv1.JobSuccessCriteriaMet); c == nil || c.Reason != "SuccessPolicy" || c.Message != "Matched rules at index 0" {
			t.Errorf("SuccessCriteriaMet %+v", c)
		}
		if c := condition(j, batchv1.JobComplete); c.Message != "Matched rules at index 0" {
			t.Errorf("Complete %+v", c)
		}
		if s := j.Status; s.CompletedIndexes != "0" || s.Succeeded != 1 || s.Active != 0 {
			t.Errorf("status %+v", s)
		}
	})

	t.Run("backoff limit per index", func(t *testing.T) {
		ns := "per-index"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("pi", 3, 3)
		mode := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &mode
		one := int32(1)
		j.Spec.BackoffLimitPerIndex = &one
		createJob(t, cs, ns, j)
		index := func(p corev1.Pod) string { return p.Annotations[batchv1.JobCompletionIndexAnnotation] }
		first := map[string]corev1.Pod{}
		for _, p := range waitRunning(t, cs, ns, "pi", 3) {
			first[index(p)] = p
		}
		p1 := first["1"]
		finishPod(t, cs, &p1, 1)
		// The replacement for index 1 knows the index failed once.
		var repl corev1.Pod
		eventually(t, "a replacement for index 1 with failure count 1", func(ctx context.Context) (string, error) {
			pods, err := runningPods(ctx, cs, ns, "pi")
			if err != nil {
				return "", err
			}
			for _, p := range pods {
				if index(p) == "1" && p.Name != p1.Name {
					if got := p.Annotations[batchv1.JobIndexFailureCountAnnotation]; got != "1" {
						return "failure count " + got, nil
					}
					repl = p
					return "", nil
				}
			}
			return "no replacement yet", nil
		})
		// A second failure exceeds the limit of 1: index 1 fails for good.
		finishPod(t, cs, &repl, 1)
		eventually(t, "failedIndexes 1", func(ctx context.Context) (string, error) {
			j, err := cs.BatchV1().Jobs(ns).Get(ctx, "pi", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if j.Status.FailedIndexes == nil || *j.Status.FailedIndexes != "1" || j.Status.Active != 2 {
				return fmt.Sprintf("status %+v", j.Status), nil
			}
			return "", nil
		})
		for _, ix := range []string{"0", "2"} {
			p := first[ix]
			finishPod(t, cs, &p, 0)
		}
		j = finishedWith(t, cs, ns, "pi", batchv1.JobFailed, "FailedIndexes")
		if s := j.Status; s.CompletedIndexes != "0,2" || *s.FailedIndexes != "1" || s.Succeeded != 2 || s.Failed != 2 {
			t.Errorf("status %+v", s)
		}
	})

	t.Run("max failed indexes", func(t *testing.T) {
		ns := "max-failed-indexes"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("mfi", 3, 3)
		mode := batchv1.IndexedCompletion
		j.Spec.CompletionMode = &mode
		zero := int32(0)
		j.Spec.BackoffLimitPerIndex, j.Spec.MaxFailedIndexes = &zero, &zero
		createJob(t, cs, ns, j)
		pods := waitRunning(t, cs, ns, "mfi", 3)
		finishPod(t, cs, &pods[0], 1)
		j = finishedWith(t, cs, ns, "mfi", batchv1.JobFailed, "MaxFailedIndexesExceeded")
		fi := "<nil>"
		if j.Status.FailedIndexes != nil {
			fi = *j.Status.FailedIndexes
		}
		if want := pods[0].Annotations[batchv1.JobCompletionIndexAnnotation]; fi != want || j.Status.Active != 0 {
			t.Errorf("failedIndexes %q (want %q), active %d", fi, want, j.Status.Active)
		}
	})

	t.Run("backoff limit", func(t *testing.T) {
		ns := "backoff"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("flaky", 4, 2)
		one := int32(1)
		j.Spec.BackoffLimit = &one
		createJob(t, cs, ns, j)
		for _, p := range waitRunning(t, cs, ns, "flaky", 2) {
			finishPod(t, cs, &p, 1)
		}
		j = finishedWith(t, cs, ns, "flaky", batchv1.JobFailed, "BackoffLimitExceeded")
		if c := condition(j, batchv1.JobFailureTarget); c == nil || c.Reason != "BackoffLimitExceeded" {
			t.Errorf("FailureTarget %+v", c)
		}
		if s := j.Status; s.Failed != 2 || s.Succeeded != 0 || s.Active != 0 || s.CompletionTime != nil {
			t.Errorf("status %+v", s)
		}
		noFinalizers(t, cs, ns, "flaky")
	})

	t.Run("active deadline deletes running pods", func(t *testing.T) {
		ns := "deadline"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("slow", 2, 2)
		one := int64(1)
		j.Spec.ActiveDeadlineSeconds = &one
		createJob(t, cs, ns, j)
		j = finishedWith(t, cs, ns, "slow", batchv1.JobFailed, "DeadlineExceeded")
		if j.Status.Active != 0 {
			t.Errorf("status %+v", j.Status)
		}
		eventually(t, "pods gone", func(ctx context.Context) (string, error) {
			pods, err := jobPods(ctx, cs, ns, "slow")
			if err != nil {
				return "", err
			}
			if len(pods) != 0 {
				return fmt.Sprintf("%d pods left", len(pods)), nil
			}
			return "", nil
		})
	})

	t.Run("pod failure policy ignore and fail job", func(t *testing.T) {
		ns := "podfailurepolicy"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("pfp", 1, 1)
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionIgnore, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{3}}},
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		}}
		createJob(t, cs, ns, j)
		first := waitRunning(t, cs, ns, "pfp", 1)[0]
		finishPod(t, cs, &first, 3) // ignored: replaced at once, not counted
		var second corev1.Pod
		eventually(t, "replacement of the ignored failure", func(ctx context.Context) (string, error) {
			run, err := runningPods(ctx, cs, ns, "pfp")
			if err != nil {
				return "", err
			}
			if len(run) != 1 || run[0].UID == first.UID {
				return fmt.Sprintf("%d running", len(run)), nil
			}
			second = run[0]
			return "", nil
		})
		finishPod(t, cs, &second, 42)
		j = finishedWith(t, cs, ns, "pfp", batchv1.JobFailed, "PodFailurePolicy")
		want := fmt.Sprintf("Container main for pod %s/%s failed with exit code 42 matching FailJob rule at index 1", ns, second.Name)
		if c := condition(j, batchv1.JobFailed); c.Message != want {
			t.Errorf("message %q, want %q", c.Message, want)
		}
		if j.Status.Failed != 1 {
			t.Errorf("failed %d, want 1 (the ignored failure does not count)", j.Status.Failed)
		}
	})

	t.Run("fail job while another pod runs", func(t *testing.T) {
		// With a podFailurePolicy, deleted pods only count once Failed; the
		// running pod deleted for the failure must not hold the Job forever.
		ns := "failjob"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("pair", 2, 2)
		j.Spec.PodFailurePolicy = &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
			{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		}}
		createJob(t, cs, ns, j)
		pods := waitRunning(t, cs, ns, "pair", 2)
		finishPod(t, cs, &pods[0], 42)
		j = finishedWith(t, cs, ns, "pair", batchv1.JobFailed, "PodFailurePolicy")
		if j.Status.Active != 0 || j.Status.Failed != 2 {
			t.Errorf("status %+v", j.Status)
		}
		eventually(t, "the running pod deleted", func(ctx context.Context) (string, error) {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, pods[1].Name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return fmt.Sprintf("pod %s still there (%v)", pods[1].Name, err), nil
			}
			return "", nil
		})
	})

	t.Run("suspend and resume", func(t *testing.T) {
		ns := "suspend"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("later", 1, 1)
		yes := true
		j.Spec.Suspend = &yes
		createJob(t, cs, ns, j)
		eventually(t, "suspended", func(ctx context.Context) (string, error) {
			j, err := cs.BatchV1().Jobs(ns).Get(ctx, "later", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if c := condition(j, batchv1.JobSuspended); c == nil || c.Status != corev1.ConditionTrue || j.Status.StartTime != nil {
				return fmt.Sprintf("status %+v", j.Status), nil
			}
			return "", nil
		})
		if pods, err := jobPods(t.Context(), cs, ns, "later"); err != nil || len(pods) != 0 {
			t.Fatalf("pods of a suspended job: %d %v", len(pods), err)
		}
		patch := []byte(`{"spec":{"suspend":false}}`)
		if _, err := cs.BatchV1().Jobs(ns).Patch(t.Context(), "later", types.MergePatchType, patch, metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		p := waitRunning(t, cs, ns, "later", 1)[0]
		// Suspending again deletes the running pod without counting a failure.
		if _, err := cs.BatchV1().Jobs(ns).Patch(t.Context(), "later", types.MergePatchType, []byte(`{"spec":{"suspend":true}}`), metav1.PatchOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pod deleted on suspend", func(ctx context.Context) (string, error) {
			_, err := cs.CoreV1().Pods(ns).Get(ctx, p.Name, metav1.GetOptions{})
			if !apierrors.IsNotFound(err) {
				return "pod still there", nil
			}
			j, err := cs.BatchV1().Jobs(ns).Get(ctx, "later", metav1.GetOptions{})
			if err != nil {
				return "", err
			}
			if j.Status.Failed != 0 || j.Status.Active != 0 {
				return fmt.Sprintf("status %+v", j.Status), nil
			}
			return "", nil
		})
	})

	t.Run("ttl after finished deletes the job and its pods", func(t *testing.T) {
		ns := "ttl"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		j := newJob("once", 1, 1)
		zero := int32(0)
		j.Spec.TTLSecondsAfterFinished = &zero
		createJob(t, cs, ns, j)
		p := waitRunning(t, cs, ns, "once", 1)[0]
		finishPod(t, cs, &p, 0)
		eventually(t, "job and pods deleted", func(ctx context.Context) (string, error) {
			if _, err := cs.BatchV1().Jobs(ns).Get(ctx, "once", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
				return fmt.Sprintf("job still there (%v)", err), nil
			}
			pods, err := jobPods(ctx, cs, ns, "once")
			if err != nil {
				return "", err
			}
			if len(pods) != 0 {
				return fmt.Sprintf("%d pods left", len(pods)), nil
			}
			return "", nil
		})
	})

	t.Run("deleting a running job releases its pods", func(t *testing.T) {
		ns := "delete"
		createNamespace(t, cs, ns)
		startAgent(t, c, ns)
		createJob(t, cs, ns, newJob("gone", 2, 2))
		waitRunning(t, cs, ns, "gone", 2)
		bg := metav1.DeletePropagationBackground
		if err := cs.BatchV1().Jobs(ns).Delete(t.Context(), "gone", metav1.DeleteOptions{PropagationPolicy: &bg}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "pods gone", func(ctx context.Context) (string, error) {
			pods, err := jobPods(ctx, cs, ns, "gone")
			if err != nil {
				return "", err
			}
			if len(pods) != 0 {
				return fmt.Sprintf("%d pods left, finalizers %v", len(pods), pods[0].Finalizers), nil
			}
			return "", nil
		})
	})
}
