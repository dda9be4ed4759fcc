package disruption

import (
	"errors"
	"fmt"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apimeta "k8s.io/apimachinery/pkg/api/meta"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// fakeWorkloads is an in-memory Workloads.
type fakeWorkloads struct {
	rs  map[string]*appsv1.ReplicaSet
	d   map[string]*appsv1.Deployment
	sts map[string]*appsv1.StatefulSet
}

func (f fakeWorkloads) ReplicaSet(_, name string) (*appsv1.ReplicaSet, error) { return f.rs[name], nil }
func (f fakeWorkloads) Deployment(_, name string) (*appsv1.Deployment, error) { return f.d[name], nil }
func (f fakeWorkloads) StatefulSet(_, name string) (*appsv1.StatefulSet, error) {
	return f.sts[name], nil
}

func ptr[T any](v T) *T { return &v }

func ownerRef(kind, name string, uid types.UID) metav1.OwnerReference {
	return metav1.OwnerReference{APIVersion: "apps/v1", Kind: kind, Name: name, UID: uid, Controller: ptr(true)}
}

// workloads: Deployment "web" (replicas 10) → ReplicaSet "web-1"; a bare
// ReplicaSet "bare" (4); StatefulSet "db" (3).
func workloads() fakeWorkloads {
	return fakeWorkloads{
		d: map[string]*appsv1.Deployment{"web": {ObjectMeta: metav1.ObjectMeta{Name: "web", UID: "d-web"}, Spec: appsv1.DeploymentSpec{Replicas: ptr(int32(10))}}},
		rs: map[string]*appsv1.ReplicaSet{
			"web-1": {ObjectMeta: metav1.ObjectMeta{Name: "web-1", UID: "rs-web-1", OwnerReferences: []metav1.OwnerReference{ownerRef("Deployment", "web", "d-web")}},
				Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(7))}},
			"bare": {ObjectMeta: metav1.ObjectMeta{Name: "bare", UID: "rs-bare"}, Spec: appsv1.ReplicaSetSpec{Replicas: ptr(int32(4))}},
		},
		sts: map[string]*appsv1.StatefulSet{"db": {ObjectMeta: metav1.ObjectMeta{Name: "db", UID: "ss-db"}, Spec: appsv1.StatefulSetSpec{Replicas: ptr(int32(3))}}},
	}
}

// pods returns n ready pods named <prefix>-i owned by ref (nil: none).
func pods(prefix string, n int, ref *metav1.OwnerReference, ready bool) []*corev1.Pod {
	var out []*corev1.Pod
	for i := range n {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s-%d", prefix, i), Namespace: "ns"}}
		if ref != nil {
			p.OwnerReferences = []metav1.OwnerReference{*ref}
		}
		status := corev1.ConditionFalse
		if ready {
			status = corev1.ConditionTrue
		}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		out = append(out, p)
	}
	return out
}

func TestExpectedCounts(t *testing.T) {
	web := ownerRef("ReplicaSet", "web-1", "rs-web-1")
	bare := ownerRef("ReplicaSet", "bare", "rs-bare")
	db := ownerRef("StatefulSet", "db", "ss-db")
	unknown := ownerRef("ReplicaSet", "gone", "rs-gone")
	tests := []struct {
		name              string
		minAvail, maxUnav *intstr.IntOrString
		pods              []*corev1.Pod
		expected, desired int32
		unmanaged         int
		wantErr           error
	}{
		{"int minAvailable counts pods", ptr(intstr.FromInt32(2)), nil, pods("a", 3, nil, true), 3, 2, 0, nil},
		{"percent minAvailable uses the deployment's scale, rounded up", ptr(intstr.FromString("25%")), nil, pods("w", 5, &web, true), 10, 3, 0, nil},
		{"maxUnavailable int from scale", nil, ptr(intstr.FromInt32(1)), pods("s", 2, &db, true), 3, 2, 0, nil},
		{"maxUnavailable percent rounds up", nil, ptr(intstr.FromString("30%")), pods("b", 4, &bare, true), 4, 2, 0, nil},
		{"scales of several controllers add up", nil, ptr(intstr.FromInt32(0)), append(pods("b", 1, &bare, true), pods("s", 1, &db, true)...), 7, 7, 0, nil},
		{"maxUnavailable beyond scale floors at 0", nil, ptr(intstr.FromInt32(9)), pods("s", 3, &db, true), 3, 0, 0, nil},
		{"unmanaged pods are ignored", ptr(intstr.FromString("50%")), nil, append(pods("b", 2, &bare, true), pods("x", 2, nil, true)...), 4, 2, 2, nil},
		{"unknown controller is an error", nil, ptr(intstr.FromInt32(1)), pods("u", 1, &unknown, true), 0, 0, 0, ErrNoController},
		{"int minAvailable needs no controller", ptr(intstr.FromInt32(1)), nil, pods("u", 1, &unknown, true), 1, 1, 0, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: tt.minAvail, MaxUnavailable: tt.maxUnav}}
			expected, desired, unmanaged, err := expectedCounts(pdb, tt.pods, workloads())
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if expected != tt.expected || desired != tt.desired || len(unmanaged) != tt.unmanaged {
				t.Errorf("expected %d desired %d unmanaged %v; want %d %d %d", expected, desired, unmanaged, tt.expected, tt.desired, tt.unmanaged)
			}
		})
	}
}

func TestDisruptedPodsAndHealth(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	timeout := 2 * time.Minute
	ps := pods("p", 4, nil, true)
	ps[3].DeletionTimestamp = &metav1.Time{Time: now}
	pdb := &policyv1.PodDisruptionBudget{Status: policyv1.PodDisruptionBudgetStatus{DisruptedPods: map[string]metav1.Time{
		"p-0":  metav1.NewTime(now.Add(-time.Minute)),     // recent: kept
		"p-1":  metav1.NewTime(now.Add(-3 * time.Minute)), // not deleted in time: dropped
		"p-3":  metav1.NewTime(now.Add(-time.Minute)),     // terminating: dropped
		"gone": metav1.NewTime(now),                       // deleted: dropped
	}}}
	kept, expired, recheck := disruptedPodMap(pdb, ps, now, timeout)
	if _, ok := kept["p-0"]; len(kept) != 1 || !ok {
		t.Errorf("kept %v, want p-0 only", kept)
	}
	if len(expired) != 1 || expired[0] != "p-1" {
		t.Errorf("expired %v, want [p-1]", expired)
	}
	if recheck == nil || !recheck.Equal(now.Add(time.Minute)) {
		t.Errorf("recheck %v, want %v", recheck, now.Add(time.Minute))
	}
	// p-0 is about to go, p-3 is terminating: p-1 and p-2 are healthy.
	if got := countHealthy(ps, kept, now, timeout); got != 2 {
		t.Errorf("healthy %d, want 2", got)
	}
}

func TestNewStatus(t *testing.T) {
	tests := []struct {
		name                       string
		healthy, desired, expected int32
		wantAllowed                int32
		wantCond                   metav1.ConditionStatus
		wantReason                 string
	}{
		{"spare pods", 5, 3, 5, 2, metav1.ConditionTrue, policyv1.SufficientPodsReason},
		{"exactly enough", 3, 3, 5, 0, metav1.ConditionFalse, policyv1.InsufficientPodsReason},
		{"too few", 1, 3, 5, 0, metav1.ConditionFalse, policyv1.InsufficientPodsReason},
		{"no expected pods", 2, 0, 0, 0, metav1.ConditionFalse, policyv1.InsufficientPodsReason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Generation: 3}}
			s, changed := newStatus(pdb, tt.healthy, tt.desired, tt.expected, map[string]metav1.Time{})
			if !changed {
				t.Fatal("first status reported unchanged")
			}
			c := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
			if s.DisruptionsAllowed != tt.wantAllowed || s.ObservedGeneration != 3 || c == nil || c.Status != tt.wantCond || c.Reason != tt.wantReason {
				t.Fatalf("status %+v", s)
			}
			pdb.Status = s
			if _, changed := newStatus(pdb, tt.healthy, tt.desired, tt.expected, map[string]metav1.Time{}); changed {
				t.Error("same inputs reported a change")
			}
		})
	}
}

func TestFailSafeStatus(t *testing.T) {
	pdb := &policyv1.PodDisruptionBudget{Status: policyv1.PodDisruptionBudgetStatus{DisruptionsAllowed: 3}}
	s := failSafeStatus(pdb, errors.New("boom"))
	c := apimeta.FindStatusCondition(s.Conditions, policyv1.DisruptionAllowedCondition)
	if s.DisruptionsAllowed != 0 || c == nil || c.Reason != policyv1.SyncFailedReason || c.Message != "boom" {
		t.Errorf("status %+v", s)
	}
}

func TestStaleDisruption(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	cond := func(status corev1.ConditionStatus, reason string, age time.Duration) corev1.PodCondition {
		return corev1.PodCondition{Type: corev1.DisruptionTarget, Status: status, Reason: reason, LastTransitionTime: metav1.NewTime(now.Add(-age))}
	}
	tests := []struct {
		name      string
		cond      *corev1.PodCondition
		phase     corev1.PodPhase
		deleting  bool
		wantStale bool
		wantIn    time.Duration
	}{
		{"no condition", nil, corev1.PodRunning, false, false, 0},
		{"recent", ptr(cond(corev1.ConditionTrue, "EvictionByEvictionAPI", 30*time.Second)), corev1.PodRunning, false, true, 90 * time.Second},
		{"old", ptr(cond(corev1.ConditionTrue, "EvictionByEvictionAPI", 3*time.Minute)), corev1.PodRunning, false, true, 0},
		{"already false", ptr(cond(corev1.ConditionFalse, "", 3*time.Minute)), corev1.PodRunning, false, false, 0},
		{"terminating", ptr(cond(corev1.ConditionTrue, "EvictionByEvictionAPI", 3*time.Minute)), corev1.PodRunning, true, false, 0},
		{"finished", ptr(cond(corev1.ConditionTrue, "EvictionByEvictionAPI", 3*time.Minute)), corev1.PodFailed, false, false, 0},
		{"set by the node agent", ptr(cond(corev1.ConditionTrue, corev1.PodReasonTerminationByKubelet, 3*time.Minute)), corev1.PodRunning, false, false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := &corev1.Pod{Status: corev1.PodStatus{Phase: tt.phase}}
			if tt.cond != nil {
				p.Status.Conditions = []corev1.PodCondition{*tt.cond}
			}
			if tt.deleting {
				p.DeletionTimestamp = &metav1.Time{Time: now}
			}
			stale, in := staleDisruption(p, 2*time.Minute, now)
			if stale != tt.wantStale || in != tt.wantIn {
				t.Errorf("stale %v in %v, want %v %v", stale, in, tt.wantStale, tt.wantIn)
			}
		})
	}
}
