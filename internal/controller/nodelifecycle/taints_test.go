package nodelifecycle

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

func TestReconcileTaints(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	earlier := metav1.NewTime(now.Add(-time.Minute))
	custom := corev1.Taint{Key: "dedicated", Value: "db", Effect: corev1.TaintEffectNoSchedule}
	unreachableNE := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &earlier}
	unreachableNS := corev1.Taint{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule}
	tests := []struct {
		name    string
		in      []corev1.Taint
		key     string
		want    string
		changed bool
	}{
		{"healthy node keeps others", []corev1.Taint{custom}, "", "[dedicated:NoSchedule]", false},
		{"unreachable added with time", []corev1.Taint{custom}, corev1.TaintNodeUnreachable,
			"[dedicated:NoSchedule node.kubernetes.io/unreachable:NoSchedule node.kubernetes.io/unreachable:NoExecute@12:00:00]", true},
		{"already there: time kept", []corev1.Taint{unreachableNS, unreachableNE}, corev1.TaintNodeUnreachable,
			"[node.kubernetes.io/unreachable:NoSchedule node.kubernetes.io/unreachable:NoExecute@11:59:00]", false},
		{"not-ready replaces unreachable", []corev1.Taint{unreachableNS, unreachableNE, custom}, corev1.TaintNodeNotReady,
			"[dedicated:NoSchedule node.kubernetes.io/not-ready:NoSchedule node.kubernetes.io/not-ready:NoExecute@12:00:00]", true},
		{"ready removes them", []corev1.Taint{unreachableNS, custom, unreachableNE}, "", "[dedicated:NoSchedule]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, changed := reconcileTaints(tt.in, tt.key, now)
			var got []string
			for _, taint := range out {
				s := taint.Key + ":" + string(taint.Effect)
				if taint.TimeAdded != nil {
					s += "@" + taint.TimeAdded.UTC().Format("15:04:05")
				}
				got = append(got, s)
			}
			if fmt.Sprint(got) != tt.want || changed != tt.changed {
				t.Fatalf("taints %v changed %v; want %s changed %v", got, changed, tt.want, tt.changed)
			}
		})
	}
}

func TestWantedTaintKey(t *testing.T) {
	for status, want := range map[corev1.ConditionStatus]string{
		corev1.ConditionTrue: "", corev1.ConditionFalse: corev1.TaintNodeNotReady, corev1.ConditionUnknown: corev1.TaintNodeUnreachable,
	} {
		if got, ok := wantedTaintKey(&corev1.NodeCondition{Type: corev1.NodeReady, Status: status}); got != want || !ok {
			t.Errorf("Ready=%s: key %q ok %v, want %q", status, got, ok, want)
		}
	}
	if _, ok := wantedTaintKey(nil); ok {
		t.Error("a node that never reported readiness got a taint decision")
	}
}

func TestEvictionTime(t *testing.T) {
	added := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	created := metav1.NewTime(added.Add(-time.Hour))
	unreachable := []corev1.Taint{
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoSchedule},
		{Key: corev1.TaintNodeUnreachable, Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}},
	}
	custom := corev1.Taint{Key: "maintenance", Effect: corev1.TaintEffectNoExecute, TimeAdded: &metav1.Time{Time: added}}
	tol := func(key string, seconds *int64) corev1.Toleration {
		op := corev1.TolerationOpExists
		return corev1.Toleration{Key: key, Operator: op, Effect: corev1.TaintEffectNoExecute, TolerationSeconds: seconds}
	}
	tests := []struct {
		name        string
		taints      []corev1.Taint
		tolerations []corev1.Toleration
		created     *metav1.Time
		wantEvict   bool
		wantAfter   time.Duration // after added
	}{
		{"no NoExecute taint", unreachable[:1], nil, nil, false, 0},
		{"no toleration: the default", unreachable, nil, nil, true, 10 * time.Second},
		{"own tolerationSeconds", unreachable, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](60))}, nil, true, time.Minute},
		{"zero seconds: at once", unreachable, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, ptr.To[int64](0))}, nil, true, 0},
		{"tolerated forever", unreachable, []corev1.Toleration{tol(corev1.TaintNodeUnreachable, nil)}, nil, false, 0},
		{"wildcard toleration (DaemonSet-like)", unreachable, []corev1.Toleration{{Operator: corev1.TolerationOpExists}}, nil, false, 0},
		{"another taint's toleration does not count", unreachable, []corev1.Toleration{tol(corev1.TaintNodeNotReady, nil)}, nil, true, 10 * time.Second},
		{"untolerated custom taint: at once", []corev1.Taint{custom}, nil, nil, true, 0},
		{"smallest seconds wins", append([]corev1.Taint{custom}, unreachable...), []corev1.Toleration{
			tol("maintenance", ptr.To[int64](30)), tol(corev1.TaintNodeUnreachable, ptr.To[int64](300)),
		}, nil, true, 30 * time.Second},
		{"pod created after the taint counts from creation", unreachable, nil, &metav1.Time{Time: added.Add(5 * time.Second)}, true, 15 * time.Second},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{CreationTimestamp: created}, Spec: corev1.PodSpec{Tolerations: tt.tolerations}}
			if tt.created != nil {
				pod.CreationTimestamp = *tt.created
			}
			at, evict := evictionTime(pod, tt.taints, 10)
			if evict != tt.wantEvict {
				t.Fatalf("evict = %v, want %v", evict, tt.wantEvict)
			}
			if evict && !at.Equal(added.Add(tt.wantAfter)) {
				t.Fatalf("evicted %v after the taint, want %v", at.Sub(added), tt.wantAfter)
			}
		})
	}
}
