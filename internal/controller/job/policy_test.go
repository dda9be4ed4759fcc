package job

import (
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func ptr[T any](v T) *T { return &v }

func failedPod(exit int32, conds ...corev1.PodConditionType) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "p"}}
	p.Status.Phase = corev1.PodFailed
	p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "main", State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exit}}}}
	for _, c := range conds {
		p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: c, Status: corev1.ConditionTrue})
	}
	return p
}

func TestMatchPodFailurePolicy(t *testing.T) {
	policy := &batchv1.PodFailurePolicy{Rules: []batchv1.PodFailurePolicyRule{
		{Action: batchv1.PodFailurePolicyActionIgnore, OnPodConditions: []batchv1.PodFailurePolicyOnPodConditionsPattern{{Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue}}},
		{Action: batchv1.PodFailurePolicyActionFailJob, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{ContainerName: ptr("main"), Operator: batchv1.PodFailurePolicyOnExitCodesOpIn, Values: []int32{42}}},
		{Action: batchv1.PodFailurePolicyActionCount, OnExitCodes: &batchv1.PodFailurePolicyOnExitCodesRequirement{Operator: batchv1.PodFailurePolicyOnExitCodesOpNotIn, Values: []int32{1, 2}}},
	}}
	tests := []struct {
		name    string
		pod     *corev1.Pod
		action  batchv1.PodFailurePolicyAction
		counts  bool
		message string
	}{
		{"disruption ignored", failedPod(42, corev1.DisruptionTarget), batchv1.PodFailurePolicyActionIgnore, false, ""},
		{"exit 42 fails the job", failedPod(42), batchv1.PodFailurePolicyActionFailJob, true, "Container main for pod ns/p failed with exit code 42 matching FailJob rule at index 1"},
		{"exit 7 counted by NotIn", failedPod(7), batchv1.PodFailurePolicyActionCount, true, ""},
		{"exit 1 matches nothing", failedPod(1), "", true, ""},
		{"exit 0 never matches NotIn", failedPod(0), "", true, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := matchPodFailurePolicy(policy, tt.pod)
			if v.action != tt.action || v.countsAsFailure() != tt.counts || v.message != tt.message {
				t.Errorf("got %+v counts=%v, want %q counts=%v %q", v, v.countsAsFailure(), tt.action, tt.counts, tt.message)
			}
		})
	}
	running := failedPod(42)
	running.Status.Phase = corev1.PodRunning
	if v := matchPodFailurePolicy(policy, running); v.action != "" {
		t.Errorf("a pod not in phase Failed matched %+v", v)
	}
}

func TestIsPodFailed(t *testing.T) {
	now := metav1.Now()
	deleted := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{DeletionTimestamp: &now}, Status: corev1.PodStatus{Phase: corev1.PodRunning}}
	plain := &batchv1.Job{}
	onlyFailed := &batchv1.Job{Spec: batchv1.JobSpec{PodReplacementPolicy: ptr(batchv1.Failed)}}
	if !isPodFailed(deleted, plain) {
		t.Error("a deleted running pod counts as failed by default")
	}
	if isPodFailed(deleted, onlyFailed) {
		t.Error("with podReplacementPolicy Failed a deleted running pod is not failed yet")
	}
	succeeded := deleted.DeepCopy()
	succeeded.Status.Phase = corev1.PodSucceeded
	if isPodFailed(succeeded, plain) {
		t.Error("a succeeded pod is never failed")
	}
}

func TestIndexes(t *testing.T) {
	tests := []struct {
		in, out     string
		completions int32
	}{
		{"", "", 5},
		{"0,2", "0,2", 5},
		{"0,1,2,4", "0-2,4", 5},
		{"1-3,7", "1-3", 5}, // out of range dropped
		{"x,2", "2", 5},
	}
	for _, tt := range tests {
		if got := formatIndexes(parseIndexes(tt.in, tt.completions)); got != tt.out {
			t.Errorf("%q → %q, want %q", tt.in, got, tt.out)
		}
	}
	if got := missingIndexes(5, map[int]bool{0: true}, map[int]bool{1: true, 3: true}, 2); len(got) != 2 || got[0] != 2 || got[1] != 4 {
		t.Errorf("missingIndexes = %v, want [2 4]", got)
	}
}

func TestWantActive(t *testing.T) {
	tests := []struct {
		name              string
		completions       *int32
		parallelism       int32
		succeeded, active int32
		want              int32
	}{
		{"fixed completions capped by parallelism", ptr(int32(10)), 3, 0, 0, 3},
		{"remaining below parallelism", ptr(int32(10)), 3, 9, 1, 1},
		{"all done", ptr(int32(2)), 3, 2, 0, 0},
		{"work queue before success", nil, 4, 0, 2, 4},
		{"work queue after a success runs no new pods", nil, 4, 1, 2, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			job := &batchv1.Job{Spec: batchv1.JobSpec{Completions: tt.completions, Parallelism: &tt.parallelism}}
			if got := wantActive(job, tt.succeeded, tt.active); got != tt.want {
				t.Errorf("got %d, want %d", got, tt.want)
			}
		})
	}
}

func TestBackoffDelay(t *testing.T) {
	base, maxD := 10*time.Second, 6*time.Minute
	for failures, want := range map[int]time.Duration{0: 0, 1: 10 * time.Second, 2: 20 * time.Second, 4: 80 * time.Second, 10: 6 * time.Minute} {
		if got := backoffDelay(backoffRecord{failures: failures}, base, maxD); got != want {
			t.Errorf("%d failures: %v, want %v", failures, got, want)
		}
	}
	b := newBackoffRecords()
	now := time.Unix(100, 0)
	b.update("k", 0, 2, now)
	if r := b.get("k"); r.failures != 2 || !r.last.Equal(now) {
		t.Errorf("record %+v", r)
	}
	b.update("k", 1, 0, now)
	if r := b.get("k"); r.failures != 0 {
		t.Errorf("a success resets the record: %+v", r)
	}
}

func TestPastBackoffLimitOnFailure(t *testing.T) {
	job := &batchv1.Job{Spec: batchv1.JobSpec{BackoffLimit: ptr(int32(2))}}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyOnFailure
	pod := func(restarts int32) *corev1.Pod {
		return &corev1.Pod{Status: corev1.PodStatus{ContainerStatuses: []corev1.ContainerStatus{{RestartCount: restarts}}}}
	}
	if pastBackoffLimitOnFailure(job, []*corev1.Pod{pod(1)}) {
		t.Error("1 restart is below a limit of 2")
	}
	if !pastBackoffLimitOnFailure(job, []*corev1.Pod{pod(1), pod(1)}) {
		t.Error("2 restarts reach a limit of 2")
	}
	job.Spec.Template.Spec.RestartPolicy = corev1.RestartPolicyNever
	if pastBackoffLimitOnFailure(job, []*corev1.Pod{pod(5)}) {
		t.Error("restartPolicy Never does not count restarts")
	}
}

func TestNewPodIndexed(t *testing.T) {
	job := &batchv1.Job{ObjectMeta: metav1.ObjectMeta{Name: "j", Namespace: "ns", UID: "u"}}
	job.Spec.Template.Labels = map[string]string{"a": "b"}
	job.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c"}}
	p := newPod(job, 4)
	if p.GenerateName != "j-4-" || p.Labels[indexKey] != "4" || p.Annotations[indexKey] != "4" || p.Spec.Hostname != "j-4" {
		t.Errorf("pod %+v", p.ObjectMeta)
	}
	if len(p.Finalizers) != 1 || p.Finalizers[0] != trackingFinalizer {
		t.Errorf("finalizers %v", p.Finalizers)
	}
	if job.Spec.Template.Labels[indexKey] != "" {
		t.Error("newPod changed the template")
	}
	if q := newPod(job, -1); q.GenerateName != "j-" || q.Labels[indexKey] != "" || len(q.Spec.Containers[0].Env) != 0 {
		t.Errorf("non-indexed pod %+v", q)
	}
}

func TestMatchSuccessPolicy(t *testing.T) {
	idx := func(s string) *string { return &s }
	cnt := func(n int32) *int32 { return &n }
	succeeded := map[int]bool{0: true, 2: true, 3: true}
	for _, tt := range []struct {
		name  string
		rules []batchv1.SuccessPolicyRule
		want  string // "" = not met
	}{
		{"indexes all succeeded", []batchv1.SuccessPolicyRule{{SucceededIndexes: idx("2-3")}}, "Matched rules at index 0"},
		{"an index missing", []batchv1.SuccessPolicyRule{{SucceededIndexes: idx("0-2")}}, ""},
		{"count of any index", []batchv1.SuccessPolicyRule{{SucceededCount: cnt(3)}}, "Matched rules at index 0"},
		{"count not reached", []batchv1.SuccessPolicyRule{{SucceededCount: cnt(4)}}, ""},
		{"count among indexes", []batchv1.SuccessPolicyRule{{SucceededIndexes: idx("0-1,3"), SucceededCount: cnt(2)}}, "Matched rules at index 0"},
		{"count among indexes not reached", []batchv1.SuccessPolicyRule{{SucceededIndexes: idx("1,4-5"), SucceededCount: cnt(1)}}, ""},
		{"the first rule met is named", []batchv1.SuccessPolicyRule{{SucceededCount: cnt(9)}, {SucceededIndexes: idx("0")}}, "Matched rules at index 1"},
		{"an empty rule never matches", []batchv1.SuccessPolicyRule{{}}, ""},
	} {
		t.Run(tt.name, func(t *testing.T) {
			msg, ok := matchSuccessPolicy(&batchv1.SuccessPolicy{Rules: tt.rules}, 6, succeeded)
			if ok != (tt.want != "") || msg != tt.want {
				t.Errorf("got %q, %v; want %q", msg, ok, tt.want)
			}
		})
	}
	if _, ok := matchSuccessPolicy(nil, 6, succeeded); ok {
		t.Error("no policy matched")
	}
}
