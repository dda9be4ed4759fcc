package tainttoleration_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/tainttoleration"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	db := func() *st.NodeBuilder {
		return st.Node("n").Taint("dedicated", "db", corev1.TaintEffectNoSchedule)
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		node *framework.NodeInfo
		want string
	}{
		{"untainted", st.Pod("p").Obj(), st.Node("n").Info(), ""},
		{"untolerated NoSchedule", st.Pod("p").Obj(), db().Info(), "node(s) had untolerated taint {dedicated: db}"},
		{"tolerated by value", st.Pod("p").Toleration("dedicated", "db", corev1.TaintEffectNoSchedule).Obj(), db().Info(), ""},
		{"tolerated by Exists", st.Pod("p").Toleration("dedicated", "", "").Obj(), db().Info(), ""},
		{"wrong value", st.Pod("p").Toleration("dedicated", "web", corev1.TaintEffectNoSchedule).Obj(), db().Info(), "node(s) had untolerated taint {dedicated: db}"},
		{"wrong effect", st.Pod("p").Toleration("dedicated", "db", corev1.TaintEffectNoExecute).Obj(), db().Info(), "node(s) had untolerated taint {dedicated: db}"},
		{"NoExecute filters too", st.Pod("p").Obj(), st.Node("n").Taint("gone", "", corev1.TaintEffectNoExecute).Info(), "node(s) had untolerated taint {gone: }"},
		{"PreferNoSchedule does not filter", st.Pod("p").Obj(), st.Node("n").Taint("soft", "x", corev1.TaintEffectPreferNoSchedule).Info(), ""},
		{"first untolerated named", st.Pod("p").Toleration("dedicated", "db", corev1.TaintEffectNoSchedule).Obj(),
			db().Taint("gpu", "yes", corev1.TaintEffectNoSchedule).Info(), "node(s) had untolerated taint {gpu: yes}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(tainttoleration.New(), framework.NewPodInfo(tt.pod), tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if got["n"] != tt.want {
				t.Errorf("got %q, want %q", got["n"], tt.want)
			}
		})
	}
}

func TestScore(t *testing.T) {
	nodes := []*framework.NodeInfo{
		st.Node("clean").Info(),
		st.Node("one").Taint("a", "1", corev1.TaintEffectPreferNoSchedule).Info(),
		st.Node("two").Taint("a", "1", corev1.TaintEffectPreferNoSchedule).Taint("b", "1", corev1.TaintEffectPreferNoSchedule).Info(),
		st.Node("tolerated").Taint("c", "1", corev1.TaintEffectPreferNoSchedule).Info(),
	}
	got, err := st.Score(tainttoleration.New(), st.Pod("p").Toleration("c", "", corev1.TaintEffectPreferNoSchedule).Info(), nodes...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int64{"clean": 100, "one": 50, "two": 0, "tolerated": 100}, got); d != "" {
		t.Errorf("scores (-want +got):\n%s", d)
	}
}
