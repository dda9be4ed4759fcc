package agent

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestKeepForeignConditions(t *testing.T) {
	st := corev1.NodeStatus{Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}}
	prev := []corev1.NodeCondition{
		{Type: corev1.NodeReady, Status: corev1.ConditionUnknown},
		{Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse, Reason: "RouteCreated"},
		{Type: "FrequentKubeletRestart", Status: corev1.ConditionFalse},
	}
	keepForeignConditions(&st, prev)
	var got []string
	for _, c := range st.Conditions {
		got = append(got, string(c.Type)+"="+string(c.Status))
	}
	want := []string{"Ready=True", "NetworkUnavailable=False", "FrequentKubeletRestart=False"}
	if len(got) != len(want) {
		t.Fatalf("conditions %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("conditions %v, want %v", got, want)
		}
	}
}
