package api

import (
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// tableNow is the fixed "now" of table tests.
var tableNow = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// tableAgo returns the metav1.Time d before tableNow.
func tableAgo(d time.Duration) metav1.Time { return metav1.NewTime(tableNow.Add(-d)) }

func tableRunning() corev1.ContainerState {
	return corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: tableAgo(time.Minute)}}
}

func tableWaiting(reason string) corev1.ContainerState {
	return corev1.ContainerState{Waiting: &corev1.ContainerStateWaiting{Reason: reason}}
}

func tableTerminated(reason string, code int32) corev1.ContainerState {
	return corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{Reason: reason, ExitCode: code}}
}

// tablePod builds a pod with one container per status given.
func tablePod(phase corev1.PodPhase, statuses ...corev1.ContainerStatus) *corev1.Pod {
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default", CreationTimestamp: tableAgo(10 * time.Minute)},
		Status:     corev1.PodStatus{Phase: phase, ContainerStatuses: statuses},
	}
	for _, s := range statuses {
		pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Name: s.Name, Image: "nginx"})
	}
	if len(statuses) == 0 {
		pod.Spec.Containers = []corev1.Container{{Name: "app", Image: "nginx"}}
	}
	return pod
}

func TestPodRow(t *testing.T) {
	always := corev1.ContainerRestartPolicyAlways
	started := true

	tests := []struct {
		name                    string
		pod                     func() *corev1.Pod
		ready, status, restarts string
	}{
		{
			name:  "pending unscheduled",
			pod:   func() *corev1.Pod { return tablePod(corev1.PodPending) },
			ready: "0/1", status: "Pending", restarts: "0",
		},
		{
			name: "container creating",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodPending, corev1.ContainerStatus{Name: "app", State: tableWaiting("ContainerCreating")})
			},
			ready: "0/1", status: "ContainerCreating", restarts: "0",
		},
		{
			name: "running and ready",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodRunning,
					corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning()},
					corev1.ContainerStatus{Name: "sidecar", Ready: true, State: tableRunning()})
			},
			ready: "2/2", status: "Running", restarts: "0",
		},
		{
			name: "running, one container not ready",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodRunning,
					corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning()},
					corev1.ContainerStatus{Name: "sidecar", State: tableRunning()})
			},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "crash loop back-off with last restart age",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodRunning, corev1.ContainerStatus{
					Name: "app", State: tableWaiting("CrashLoopBackOff"), RestartCount: 3,
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{
						Reason: "Error", ExitCode: 1, FinishedAt: tableAgo(2 * time.Minute),
					}},
				})
			},
			ready: "0/1", status: "CrashLoopBackOff", restarts: "3 (2m ago)",
		},
		{
			name: "restarts counted over containers, latest restart wins",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodRunning,
					corev1.ContainerStatus{Name: "a", Ready: true, State: tableRunning(), RestartCount: 1,
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: tableAgo(3 * time.Hour)}}},
					corev1.ContainerStatus{Name: "b", Ready: true, State: tableRunning(), RestartCount: 4,
						LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: tableAgo(90 * time.Second)}}})
			},
			ready: "2/2", status: "Running", restarts: "5 (90s ago)",
		},
		{
			name: "restarts without a termination time",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodRunning, corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning(), RestartCount: 2})
			},
			ready: "1/1", status: "Running", restarts: "2",
		},
		{
			name: "completed",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodSucceeded, corev1.ContainerStatus{Name: "app", State: tableTerminated("Completed", 0)})
			},
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "error",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodFailed, corev1.ContainerStatus{Name: "app", State: tableTerminated("Error", 1)})
			},
			ready: "0/1", status: "Error", restarts: "0",
		},
		{
			name: "terminated without reason shows the exit code",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodFailed, corev1.ContainerStatus{Name: "app", State: tableTerminated("", 137)})
			},
			ready: "0/1", status: "ExitCode:137", restarts: "0",
		},
		{
			name: "completed container next to a running one",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodRunning,
					corev1.ContainerStatus{Name: "main", Ready: true, State: tableRunning()},
					corev1.ContainerStatus{Name: "job", State: tableTerminated("Completed", 0)})
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
				return p
			},
			ready: "1/2", status: "Running", restarts: "0",
		},
		{
			name: "completed container next to a running one, pod not ready",
			pod: func() *corev1.Pod {
				return tablePod(corev1.PodRunning,
					corev1.ContainerStatus{Name: "main", Ready: true, State: tableRunning()},
					corev1.ContainerStatus{Name: "job", State: tableTerminated("Completed", 0)})
			},
			ready: "1/2", status: "NotReady", restarts: "0",
		},
		{
			name: "terminating",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodRunning, corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning()})
				ts := tableAgo(time.Second)
				p.DeletionTimestamp = &ts
				return p
			},
			ready: "1/1", status: "Terminating", restarts: "0",
		},
		{
			name: "deleted after completion keeps its status",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodSucceeded, corev1.ContainerStatus{Name: "app", State: tableTerminated("Completed", 0)})
				ts := tableAgo(time.Second)
				p.DeletionTimestamp = &ts
				return p
			},
			ready: "0/1", status: "Completed", restarts: "0",
		},
		{
			name: "deleted on a lost node",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodRunning, corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning()})
				p.Status.Reason = "NodeLost"
				ts := tableAgo(time.Second)
				p.DeletionTimestamp = &ts
				return p
			},
			ready: "1/1", status: "Unknown", restarts: "0",
		},
		{
			name: "evicted shows the status reason",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodFailed)
				p.Status.Reason = "Evicted"
				return p
			},
			ready: "0/1", status: "Evicted", restarts: "0",
		},
		{
			name: "scheduling gated",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodPending)
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse, Reason: "SchedulingGated"}}
				return p
			},
			ready: "0/1", status: "SchedulingGated", restarts: "0",
		},
		{
			name: "first of one init container running",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodPending, corev1.ContainerStatus{Name: "app", State: tableWaiting("PodInitializing")})
				p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: tableRunning()}}
				return p
			},
			ready: "0/1", status: "Init:0/1", restarts: "0",
		},
		{
			name: "second of two init containers running",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodPending, corev1.ContainerStatus{Name: "app", State: tableWaiting("PodInitializing")})
				p.Spec.InitContainers = []corev1.Container{{Name: "first"}, {Name: "second"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{
					{Name: "first", State: tableTerminated("Completed", 0)},
					{Name: "second", State: tableRunning()},
				}
				return p
			},
			ready: "0/1", status: "Init:1/2", restarts: "0",
		},
		{
			name: "init container crash looping",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodPending, corev1.ContainerStatus{Name: "app", State: tableWaiting("PodInitializing")})
				p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
					Name: "init", State: tableWaiting("CrashLoopBackOff"), RestartCount: 4,
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{ExitCode: 1, FinishedAt: tableAgo(30 * time.Second)}},
				}}
				return p
			},
			ready: "0/1", status: "Init:CrashLoopBackOff", restarts: "4 (30s ago)",
		},
		{
			name: "init container failed",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodPending, corev1.ContainerStatus{Name: "app", State: tableWaiting("PodInitializing")})
				p.Spec.InitContainers = []corev1.Container{{Name: "init"}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{Name: "init", State: tableTerminated("", 2)}}
				return p
			},
			ready: "0/1", status: "Init:ExitCode:2", restarts: "0",
		},
		{
			name: "started sidecar counts as a ready container",
			pod: func() *corev1.Pod {
				p := tablePod(corev1.PodRunning, corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning()})
				p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: &always}}
				p.Status.InitContainerStatuses = []corev1.ContainerStatus{{
					Name: "proxy", Ready: true, Started: &started, State: tableRunning(), RestartCount: 1,
					LastTerminationState: corev1.ContainerState{Terminated: &corev1.ContainerStateTerminated{FinishedAt: tableAgo(5 * time.Minute)}},
				}}
				p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodInitialized, Status: corev1.ConditionTrue}}
				return p
			},
			ready: "2/2", status: "Running", restarts: "1 (5m ago)",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			row := printPodRow(tt.pod(), tableNow)
			if got := row[1]; got != tt.ready {
				t.Errorf("READY = %v, want %v", got, tt.ready)
			}
			if got := row[2]; got != tt.status {
				t.Errorf("STATUS = %v, want %v", got, tt.status)
			}
			if got := row[3]; got != tt.restarts {
				t.Errorf("RESTARTS = %v, want %v", got, tt.restarts)
			}
			if got := row[4]; got != "10m" {
				t.Errorf("AGE = %v, want 10m", got)
			}
		})
	}
}

func TestPodRowWide(t *testing.T) {
	pod := tablePod(corev1.PodRunning, corev1.ContainerStatus{Name: "app", Ready: true, State: tableRunning()})
	bare := printPodRow(pod, tableNow)
	if got, want := bare[5:], []interface{}{"<none>", "<none>", "<none>", "<none>"}; !tableCellsEqual(got, want) {
		t.Errorf("wide cells of a bare pod = %v, want %v", got, want)
	}

	pod.Spec.NodeName = "node-1"
	pod.Status.PodIP = "10.0.0.9" // legacy field, used when podIPs is empty
	pod.Status.NominatedNodeName = "node-2"
	pod.Spec.ReadinessGates = []corev1.PodReadinessGate{{ConditionType: "example.com/lb"}, {ConditionType: "example.com/dns"}}
	pod.Status.Conditions = []corev1.PodCondition{{Type: "example.com/lb", Status: corev1.ConditionTrue}}
	if got, want := printPodRow(pod, tableNow)[5:], []interface{}{"10.0.0.9", "node-1", "node-2", "1/2"}; !tableCellsEqual(got, want) {
		t.Errorf("wide cells = %v, want %v", got, want)
	}
	pod.Status.PodIPs = []corev1.PodIP{{IP: "10.0.0.7"}, {IP: "fd00::7"}}
	if got := printPodRow(pod, tableNow)[5]; got != "10.0.0.7" {
		t.Errorf("IP = %v, want the first of podIPs", got)
	}
}

func tableCellsEqual(a, b []interface{}) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
