package nodeaffinity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodeaffinity"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

const reason = "node(s) didn't match Pod's node affinity/selector"

func TestFilter(t *testing.T) {
	ssd := st.Node("n").Label("disk", "ssd").Label("zone", "a").Info()
	tests := []struct {
		name string
		pod  *corev1.Pod
		want string
	}{
		{"no constraint", st.Pod("p").Obj(), ""},
		{"nodeSelector matches", st.Pod("p").NodeSelector("disk", "ssd").Obj(), ""},
		{"nodeSelector differs", st.Pod("p").NodeSelector("disk", "hdd").Obj(), reason},
		{"required In", st.Pod("p").RequiredNodeAffinity("zone", corev1.NodeSelectorOpIn, "a", "b").Obj(), ""},
		{"required NotIn", st.Pod("p").RequiredNodeAffinity("zone", corev1.NodeSelectorOpNotIn, "a").Obj(), reason},
		{"required DoesNotExist", st.Pod("p").RequiredNodeAffinity("gpu", corev1.NodeSelectorOpDoesNotExist).Obj(), ""},
		{"terms are ORed", st.Pod("p").RequiredNodeAffinity("zone", corev1.NodeSelectorOpIn, "x").RequiredNodeAffinity("disk", corev1.NodeSelectorOpExists).Obj(), ""},
		{"selector and affinity are ANDed", st.Pod("p").NodeSelector("disk", "hdd").RequiredNodeAffinity("zone", corev1.NodeSelectorOpIn, "a").Obj(), reason},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(nodeaffinity.New(), framework.NewPodInfo(tt.pod), ssd)
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
		st.Node("both").Label("zone", "a").Label("disk", "ssd").Info(),
		st.Node("zone").Label("zone", "a").Info(),
		st.Node("none").Info(),
	}
	pod := st.Pod("p").PreferredNodeAffinity(30, "zone", "a").PreferredNodeAffinity(10, "disk", "ssd").Info()
	got, err := st.Score(nodeaffinity.New(), pod, nodes...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int64{"both": 100, "zone": 75, "none": 0}, got); d != "" {
		t.Errorf("scores (-want +got):\n%s", d)
	}
}
