package nodeunschedulable_test

import (
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodeunschedulable"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		node *framework.NodeInfo
		want string
	}{
		{"schedulable", st.Pod("p").Obj(), st.Node("n").Info(), ""},
		{"cordoned", st.Pod("p").Obj(), st.Node("n").Unschedulable().Info(), "node(s) were unschedulable"},
		{"cordoned, tolerated", st.Pod("p").Toleration(corev1.TaintNodeUnschedulable, "", corev1.TaintEffectNoSchedule).Obj(), st.Node("n").Unschedulable().Info(), ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(nodeunschedulable.New(), framework.NewPodInfo(tt.pod), tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if got["n"] != tt.want {
				t.Errorf("got %q, want %q", got["n"], tt.want)
			}
		})
	}
}
