package job

import (
	"fmt"
	"slices"
	"sort"
	"strconv"
	"strings"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Kubernetes' names for the finalizer, index label/annotation and env var.
const (
	trackingFinalizer = batchv1.JobTrackingFinalizer // batch.kubernetes.io/job-tracking
	indexKey          = batchv1.JobCompletionIndexAnnotation
	indexEnv          = "JOB_COMPLETION_INDEX"
)

// Condition reasons and messages, as Kubernetes writes them.
const (
	reasonCompletionsReached = "CompletionsReached"
	reasonBackoffLimit       = "BackoffLimitExceeded"
	reasonDeadline           = "DeadlineExceeded"
	reasonPodFailurePolicy   = "PodFailurePolicy"
	reasonSuccessPolicy      = "SuccessPolicy"
	reasonFailedIndexes      = batchv1.JobReasonFailedIndexes
	reasonMaxFailedIndexes   = batchv1.JobReasonMaxFailedIndexesExceeded
	msgFailedIndexes         = "Job has failed indexes"
	msgMaxFailedIndexes      = "Job has exceeded the specified maximal number of failed indexes"
	msgCompletionsReached    = "Reached expected number of succeeded pods"
	msgBackoffLimit          = "Job has reached the specified backoff limit"
	msgDeadline              = "Job was active longer than specified deadline"
	reasonSuspended          = "JobSuspended"
	reasonResumed            = "JobResumed"
	msgSuspended, msgResumed = "Job suspended", "Job resumed"
)

// matchSuccessPolicy reports whether the succeeded indexes meet a rule of
// an Indexed Job's spec.successPolicy, and the condition message naming
// the first rule met, as Kubernetes writes it. A rule with
// succeededIndexes alone needs all of them; with succeededCount alone, that
// many succeeded indexes; with both, that many among the indexes.
func matchSuccessPolicy(sp *batchv1.SuccessPolicy, completions int32, succeeded map[int]bool) (string, bool) {
	if sp == nil {
		return "", false
	}
	for i, rule := range sp.Rules {
		if rule.SucceededIndexes == nil && rule.SucceededCount == nil {
			continue // invalid; validation refuses it
		}
		var in, total int
		if rule.SucceededIndexes != nil {
			want := parseIndexes(*rule.SucceededIndexes, completions)
			total = len(want)
			for idx := range want {
				if succeeded[idx] {
					in++
				}
			}
		} else {
			total = len(succeeded) // any index counts
			in = total
		}
		met := in == total && total > 0
		if rule.SucceededCount != nil {
			met = int32(in) >= *rule.SucceededCount
		}
		if met {
			return fmt.Sprintf("Matched rules at index %d", i), true
		}
	}
	return "", false
}

func isTerminal(p *corev1.Pod) bool {
	return p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed
}

// onlyReplaceFailed reports whether terminating pods are replaced only once
// they failed (podReplacementPolicy Failed, implied by a podFailurePolicy).
func onlyReplaceFailed(job *batchv1.Job) bool {
	if job.Spec.PodFailurePolicy != nil {
		return true
	}
	return job.Spec.PodReplacementPolicy != nil && *job.Spec.PodReplacementPolicy == batchv1.Failed
}

// isPodFailed is Kubernetes' rule: a Failed pod, or (unless only failed
// pods are replaced) a deleted pod that did not succeed, since an orphan
// may never reach the Failed phase.
func isPodFailed(p *corev1.Pod, job *batchv1.Job) bool {
	if p.Status.Phase == corev1.PodFailed {
		return true
	}
	if onlyReplaceFailed(job) {
		return false
	}
	return p.DeletionTimestamp != nil && p.Status.Phase != corev1.PodSucceeded
}

// policyVerdict is what a podFailurePolicy says about one failed pod.
type policyVerdict struct {
	action  batchv1.PodFailurePolicyAction // "" when no rule matched
	message string                         // for FailJob
}

// countsAsFailure reports whether the pod counts toward backoffLimit.
func (v policyVerdict) countsAsFailure() bool {
	return v.action != batchv1.PodFailurePolicyActionIgnore
}

// matchPodFailurePolicy evaluates the rules in order against a pod in the
// Failed phase, as Kubernetes does; the first match decides.
func matchPodFailurePolicy(policy *batchv1.PodFailurePolicy, pod *corev1.Pod) policyVerdict {
	if policy == nil || pod.Status.Phase != corev1.PodFailed {
		return policyVerdict{}
	}
	for i, rule := range policy.Rules {
		switch {
		case rule.OnExitCodes != nil:
			if cs := matchOnExitCodes(&pod.Status, rule.OnExitCodes); cs != nil {
				v := policyVerdict{action: rule.Action}
				if rule.Action == batchv1.PodFailurePolicyActionFailJob {
					v.message = fmt.Sprintf("Container %s for pod %s/%s failed with exit code %v matching %v rule at index %d",
						cs.Name, pod.Namespace, pod.Name, cs.State.Terminated.ExitCode, rule.Action, i)
				}
				return v
			}
		case rule.OnPodConditions != nil:
			if cond := matchOnPodConditions(&pod.Status, rule.OnPodConditions); cond != nil {
				v := policyVerdict{action: rule.Action}
				if rule.Action == batchv1.PodFailurePolicyActionFailJob {
					v.message = fmt.Sprintf("Pod %s/%s has condition %v matching %v rule at index %d",
						pod.Namespace, pod.Name, cond.Type, rule.Action, i)
				}
				return v
			}
		}
	}
	return policyVerdict{}
}

func matchOnExitCodes(status *corev1.PodStatus, req *batchv1.PodFailurePolicyOnExitCodesRequirement) *corev1.ContainerStatus {
	for _, list := range [][]corev1.ContainerStatus{status.InitContainerStatuses, status.ContainerStatuses} {
		for i := range list {
			cs := &list[i]
			if req.ContainerName != nil && *req.ContainerName != cs.Name {
				continue
			}
			t := cs.State.Terminated
			if t == nil || t.ExitCode == 0 {
				continue
			}
			in := slices.Contains(req.Values, t.ExitCode)
			if (req.Operator == batchv1.PodFailurePolicyOnExitCodesOpIn) == in {
				return cs
			}
		}
	}
	return nil
}

func matchOnPodConditions(status *corev1.PodStatus, reqs []batchv1.PodFailurePolicyOnPodConditionsPattern) *corev1.PodCondition {
	for _, req := range reqs {
		want := req.Status
		if want == "" {
			want = corev1.ConditionTrue
		}
		for i := range status.Conditions {
			if c := &status.Conditions[i]; c.Type == req.Type && c.Status == want {
				return c
			}
		}
	}
	return nil
}

// pastBackoffLimitOnFailure is Kubernetes' check for restartPolicy
// OnFailure, where failures show as container restarts of active pods.
func pastBackoffLimitOnFailure(job *batchv1.Job, active []*corev1.Pod) bool {
	if job.Spec.Template.Spec.RestartPolicy != corev1.RestartPolicyOnFailure || job.Spec.BackoffLimit == nil {
		return false
	}
	var restarts int32
	for _, p := range active {
		for _, cs := range p.Status.InitContainerStatuses {
			restarts += cs.RestartCount
		}
		for _, cs := range p.Status.ContainerStatuses {
			restarts += cs.RestartCount
		}
	}
	if *job.Spec.BackoffLimit == 0 {
		return restarts > 0
	}
	return restarts >= *job.Spec.BackoffLimit
}

// indexFailureCount is how often the pod's index had failed before the
// pod was created (its job-index-failure-count annotation).
func indexFailureCount(p *corev1.Pod) int32 {
	n, err := strconv.Atoi(p.Annotations[batchv1.JobIndexFailureCountAnnotation])
	if err != nil || n < 0 {
		return 0
	}
	return int32(n)
}

// indexFailureCounts returns, per index, how often it has failed: one
// more than the count of its latest counted failed pod (failures an Ignore
// rule matched do not count).
func indexFailureCounts(job *batchv1.Job, pods []*corev1.Pod, completions int32) map[int]int32 {
	out := map[int]int32{}
	for _, p := range pods {
		ix := podIndex(p, completions)
		if ix < 0 || !isPodFailed(p, job) {
			continue
		}
		n := indexFailureCount(p)
		if matchPodFailurePolicy(job.Spec.PodFailurePolicy, p).countsAsFailure() {
			n++
		}
		out[ix] = max(out[ix], n)
	}
	return out
}

// podIndex returns the completion index of an Indexed Job's pod, or -1.
func podIndex(p *corev1.Pod, completions int32) int {
	v, ok := p.Annotations[indexKey]
	if !ok {
		v, ok = p.Labels[indexKey]
	}
	if !ok {
		return -1
	}
	i, err := strconv.Atoi(v)
	if err != nil || i < 0 || int32(i) >= completions {
		return -1
	}
	return i
}

// parseIndexes reads a completedIndexes string ("1,3-5") into a set;
// malformed or out-of-range parts are skipped.
func parseIndexes(s string, completions int32) map[int]bool {
	out := map[int]bool{}
	if s == "" {
		return out
	}
	for _, part := range strings.Split(s, ",") {
		lo, hi, found := strings.Cut(part, "-")
		a, err := strconv.Atoi(lo)
		if err != nil {
			continue
		}
		b := a
		if found {
			if b, err = strconv.Atoi(hi); err != nil {
				continue
			}
		}
		for i := a; i <= b && int32(i) < completions; i++ {
			if i >= 0 {
				out[i] = true
			}
		}
	}
	return out
}

// formatIndexes writes a set as Kubernetes' compressed interval list.
func formatIndexes(set map[int]bool) string {
	idx := make([]int, 0, len(set))
	for i, ok := range set {
		if ok {
			idx = append(idx, i)
		}
	}
	sort.Ints(idx)
	var b strings.Builder
	for i := 0; i < len(idx); {
		j := i
		for j+1 < len(idx) && idx[j+1] == idx[j]+1 {
			j++
		}
		if b.Len() > 0 {
			b.WriteByte(',')
		}
		if j == i {
			fmt.Fprintf(&b, "%d", idx[i])
		} else {
			fmt.Fprintf(&b, "%d-%d", idx[i], idx[j])
		}
		i = j + 1
	}
	return b.String()
}

// wantActive is how many pods a NonIndexed Job should run, as Kubernetes
// computes it: parallelism capped by the completions still needed; a work
// queue (no completions) stops starting pods once one succeeded.
func wantActive(job *batchv1.Job, succeeded, active int32) int32 {
	parallelism := int32(1)
	if job.Spec.Parallelism != nil {
		parallelism = *job.Spec.Parallelism
	}
	if job.Spec.Completions == nil {
		if succeeded > 0 {
			return min(active, parallelism)
		}
		return parallelism
	}
	return max(0, min(*job.Spec.Completions-succeeded, parallelism))
}

// missingIndexes returns up to n indexes in [0, completions) that are
// neither completed nor running, lowest first.
func missingIndexes(completions int32, completed, running map[int]bool, n int) []int {
	var out []int
	for i := 0; i < int(completions) && len(out) < n; i++ {
		if !completed[i] && !running[i] {
			out = append(out, i)
		}
	}
	return out
}

func findCondition(conds []batchv1.JobCondition, t batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range conds {
		if conds[i].Type == t {
			return &conds[i]
		}
	}
	return nil
}

func conditionTrue(conds []batchv1.JobCondition, t batchv1.JobConditionType) bool {
	c := findCondition(conds, t)
	return c != nil && c.Status == corev1.ConditionTrue
}

// setCondition sets a condition, keeping lastTransitionTime when only the
// probe time changes; it reports whether anything changed.
func setCondition(conds *[]batchv1.JobCondition, t batchv1.JobConditionType, status corev1.ConditionStatus, reason, message string, now metav1.Time) bool {
	if c := findCondition(*conds, t); c != nil {
		if c.Status == status && c.Reason == reason && c.Message == message {
			return false
		}
		if c.Status != status {
			c.LastTransitionTime = now
		}
		c.Status, c.Reason, c.Message, c.LastProbeTime = status, reason, message, now
		return true
	}
	*conds = append(*conds, batchv1.JobCondition{Type: t, Status: status, Reason: reason, Message: message, LastProbeTime: now, LastTransitionTime: now})
	return true
}

// finishedAt returns when the Job got its Complete or Failed condition.
func finishedAt(job *batchv1.Job) (metav1.Time, bool) {
	for _, t := range []batchv1.JobConditionType{batchv1.JobComplete, batchv1.JobFailed} {
		if c := findCondition(job.Status.Conditions, t); c != nil && c.Status == corev1.ConditionTrue {
			return c.LastTransitionTime, true
		}
	}
	return metav1.Time{}, false
}
