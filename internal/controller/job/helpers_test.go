package job_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const scenarioTimeout = 60 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

// kubectl runs the real kubectl in-process against c.
func kubectl(t *testing.T, c *testcluster.Cluster, args ...string) (string, error) {
	t.Helper()
	return c.Kubectl(t, args...)
}

func createNamespace(t *testing.T, cs kubernetes.Interface, name string) {
	t.Helper()
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// startAgent starts a stub agent for ns that binds pods and reports them
// Running and Ready until the test finishes them with finishPod.
func startAgent(t *testing.T, c *testcluster.Cluster, ns string) {
	t.Helper()
	c.StartStubAgent(t, testcluster.StubAgentOptions{Namespace: ns, Ready: func(p *corev1.Pod) bool {
		return p.Status.Phase != corev1.PodSucceeded && p.Status.Phase != corev1.PodFailed
	}})
}

func newJob(name string, completions, parallelism int32) *batchv1.Job {
	return &batchv1.Job{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: batchv1.JobSpec{
			Completions: &completions,
			Parallelism: &parallelism,
			Template: corev1.PodTemplateSpec{
				Spec: corev1.PodSpec{
					RestartPolicy: corev1.RestartPolicyNever,
					Containers:    []corev1.Container{{Name: "main", Image: "busybox:1.36"}},
				},
			},
		},
	}
}

func createJob(t *testing.T, cs kubernetes.Interface, ns string, j *batchv1.Job) *batchv1.Job {
	t.Helper()
	out, err := cs.BatchV1().Jobs(ns).Create(t.Context(), j, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// jobPods lists the pods of job name (by the job-name label).
func jobPods(ctx context.Context, cs kubernetes.Interface, ns, name string) ([]corev1.Pod, error) {
	list, err := cs.CoreV1().Pods(ns).List(ctx, metav1.ListOptions{LabelSelector: batchv1.JobNameLabel + "=" + name})
	if err != nil {
		return nil, err
	}
	return list.Items, nil
}

// runningPods returns the job's pods that are Running and not deleted.
func runningPods(ctx context.Context, cs kubernetes.Interface, ns, name string) ([]corev1.Pod, error) {
	pods, err := jobPods(ctx, cs, ns, name)
	if err != nil {
		return nil, err
	}
	var out []corev1.Pod
	for _, p := range pods {
		if p.DeletionTimestamp == nil && p.Status.Phase == corev1.PodRunning {
			out = append(out, p)
		}
	}
	return out, nil
}

// waitRunning waits until the job has exactly n running pods and returns them.
func waitRunning(t *testing.T, cs kubernetes.Interface, ns, name string, n int) []corev1.Pod {
	t.Helper()
	var pods []corev1.Pod
	eventually(t, fmt.Sprintf("%d running pods of %s", n, name), func(ctx context.Context) (string, error) {
		var err error
		pods, err = runningPods(ctx, cs, ns, name)
		if err != nil {
			return "", err
		}
		if len(pods) != n {
			return fmt.Sprintf("%d running", len(pods)), nil
		}
		return "", nil
	})
	return pods
}

// finishPod plays the agent reporting the pod's container exited.
func finishPod(t *testing.T, cs kubernetes.Interface, pod *corev1.Pod, exitCode int32) {
	t.Helper()
	err := retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p, err := cs.CoreV1().Pods(pod.Namespace).Get(t.Context(), pod.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		now := metav1.Now().Rfc3339Copy()
		p.Status.Phase = corev1.PodSucceeded
		if exitCode != 0 {
			p.Status.Phase = corev1.PodFailed
		}
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{
			Name: "main", Image: p.Spec.Containers[0].Image,
			State: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: exitCode, FinishedAt: now}},
		}}
		for i := range p.Status.Conditions {
			if p.Status.Conditions[i].Type == corev1.PodReady || p.Status.Conditions[i].Type == corev1.ContainersReady {
				p.Status.Conditions[i].Status = corev1.ConditionFalse
			}
		}
		_, err = cs.CoreV1().Pods(pod.Namespace).UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func condition(j *batchv1.Job, ct batchv1.JobConditionType) *batchv1.JobCondition {
	for i := range j.Status.Conditions {
		if j.Status.Conditions[i].Type == ct {
			return &j.Status.Conditions[i]
		}
	}
	return nil
}

// finishedWith waits for the Job's terminal condition ct with reason and
// returns the Job.
func finishedWith(t *testing.T, cs kubernetes.Interface, ns, name string, ct batchv1.JobConditionType, reason string) *batchv1.Job {
	t.Helper()
	var j *batchv1.Job
	eventually(t, fmt.Sprintf("job %s %s", name, ct), func(ctx context.Context) (string, error) {
		var err error
		j, err = cs.BatchV1().Jobs(ns).Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		if c := condition(j, ct); c == nil || c.Status != corev1.ConditionTrue || c.Reason != reason {
			return fmt.Sprintf("conditions %+v", j.Status.Conditions), nil
		}
		return "", nil
	})
	return j
}

// noFinalizers waits until no pod of the job holds the tracking finalizer.
func noFinalizers(t *testing.T, cs kubernetes.Interface, ns, name string) {
	t.Helper()
	eventually(t, "finalizers released", func(ctx context.Context) (string, error) {
		pods, err := jobPods(ctx, cs, ns, name)
		if err != nil {
			return "", err
		}
		for _, p := range pods {
			for _, f := range p.Finalizers {
				if f == batchv1.JobTrackingFinalizer {
					return "pod " + p.Name + " still has the finalizer", nil
				}
			}
		}
		return "", nil
	})
}
