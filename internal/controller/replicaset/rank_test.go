package replicaset

import (
	"errors"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var now = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

type podOpt func(*corev1.Pod)

func pod(name string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), CreationTimestamp: metav1.NewTime(now.Add(-time.Hour))},
		Spec:       corev1.PodSpec{NodeName: "node-a"},
		Status:     corev1.PodStatus{Phase: corev1.PodRunning},
	}
	ready(now.Add(-time.Hour))(p)
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(at time.Time) podOpt {
	return func(p *corev1.Pod) {
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(at)}}
	}
}

func notReady(p *corev1.Pod) {
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionFalse}}
}

func node(n string) podOpt            { return func(p *corev1.Pod) { p.Spec.NodeName = n } }
func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }
func created(t time.Time) podOpt {
	return func(p *corev1.Pod) { p.CreationTimestamp = metav1.NewTime(t) }
}
func cost(c string) podOpt {
	return func(p *corev1.Pod) { p.Annotations = map[string]string{PodDeletionCostAnnotation: c} }
}
func restarts(n int32) podOpt {
	return func(p *corev1.Pod) {
		p.Status.ContainerStatuses = []corev1.ContainerStatus{{Name: "c", RestartCount: n}}
	}
}

func TestPodsToDelete(t *testing.T) {
	tests := []struct {
		name    string
		pods    []*corev1.Pod
		related []*corev1.Pod // nil: the pods themselves
		diff    int
		want    []string
	}{
		{
			name: "unscheduled first",
			pods: []*corev1.Pod{pod("bound"), pod("unbound", node(""), phase(corev1.PodPending), notReady)},
			diff: 1, want: []string{"unbound"},
		},
		{
			name: "pending before unknown before running",
			pods: []*corev1.Pod{pod("running"), pod("unknown", phase(corev1.PodUnknown)), pod("pending", phase(corev1.PodPending))},
			diff: 2, want: []string{"pending", "unknown"},
		},
		{
			name: "not ready before ready",
			pods: []*corev1.Pod{pod("ready"), pod("notready", notReady)},
			diff: 1, want: []string{"notready"},
		},
		{
			name: "lower deletion cost first, even if newer pods exist",
			pods: []*corev1.Pod{pod("new", created(now.Add(-time.Second))), pod("cheap", cost("-10")), pod("dear", cost("100"))},
			diff: 2, want: []string{"cheap", "new"},
		},
		{
			name: "doubled-up node first",
			pods: []*corev1.Pod{pod("alone", node("b")), pod("crowded1", node("a")), pod("crowded2", node("a"), created(now.Add(-100*time.Hour)))},
			diff: 1, want: []string{"crowded1"},
		},
		{
			name: "ready for less time first",
			pods: []*corev1.Pod{pod("old-ready", ready(now.Add(-10*time.Hour))), pod("just-ready", ready(now.Add(-time.Second)), created(now.Add(-20*time.Hour)))},
			diff: 1, want: []string{"just-ready"},
		},
		{
			name: "more restarts first",
			pods: []*corev1.Pod{pod("stable", restarts(0)), pod("flappy", restarts(7))},
			diff: 1, want: []string{"flappy"},
		},
		{
			name: "newer first",
			pods: []*corev1.Pod{
				pod("old", created(now.Add(-100*time.Hour)), ready(now.Add(-time.Hour))),
				pod("young", created(now.Add(-time.Minute)), ready(now.Add(-time.Hour))),
			},
			diff: 1, want: []string{"young"},
		},
		{
			name: "everything when diff covers all",
			pods: []*corev1.Pod{pod("a"), pod("b")},
			diff: 2, want: []string{"a", "b"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			related := tt.related
			if related == nil {
				related = tt.pods
			}
			got := podsToDelete(tt.pods, related, tt.diff, now)
			var names []string
			for _, p := range got {
				names = append(names, p.Name)
			}
			if len(names) != len(tt.want) {
				t.Fatalf("deleted %v, want %v", names, tt.want)
			}
			for i := range names {
				if names[i] != tt.want[i] {
					t.Fatalf("deleted %v, want %v", names, tt.want)
				}
			}
		})
	}
}

func TestIsPodAvailable(t *testing.T) {
	p := pod("p", ready(now.Add(-5*time.Second)))
	if !isPodAvailable(p, 0, now) || !isPodAvailable(p, 4, now) {
		t.Error("ready for 5s must be available with minReadySeconds 0 and 4")
	}
	if isPodAvailable(p, 10, now) {
		t.Error("ready for 5s must not be available with minReadySeconds 10")
	}
	if d := untilAvailable(p, 10, now); d != 5*time.Second {
		t.Errorf("untilAvailable = %v, want 5s", d)
	}
	if isPodAvailable(pod("n", notReady), 0, now) {
		t.Error("a pod that is not ready is not available")
	}
}

func TestSlowStartBatch(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name      string
		count     int
		failFrom  int32 // calls numbered from 1; 0 never fails
		wantOK    int
		wantCalls int32
	}{
		{name: "all succeed", count: 10, wantOK: 10, wantCalls: 10},
		{name: "first call fails: one request only", count: 100, failFrom: 1, wantOK: 0, wantCalls: 1},
		// Batches 1, 2, 4: the 4th call fails within the third batch, which
		// still completes; the rest is skipped.
		{name: "stop after failing batch", count: 100, failFrom: 4, wantOK: 3, wantCalls: 7},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var calls atomic.Int32
			ok, err := slowStartBatch(tt.count, 1, func() error {
				n := calls.Add(1)
				if tt.failFrom > 0 && n >= tt.failFrom {
					return errBoom
				}
				return nil
			})
			if ok != tt.wantOK || calls.Load() != tt.wantCalls {
				t.Fatalf("successes %d calls %d, want %d and %d", ok, calls.Load(), tt.wantOK, tt.wantCalls)
			}
			if (tt.failFrom > 0) != errors.Is(err, errBoom) {
				t.Fatalf("err = %v", err)
			}
		})
	}
}
