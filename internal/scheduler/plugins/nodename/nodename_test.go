package nodename_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/nodename"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestFilter(t *testing.T) {
	nodes := []*framework.NodeInfo{st.Node("a").Info(), st.Node("b").Info()}
	tests := []struct {
		name     string
		nodeName string
		want     map[string]string
	}{
		{"no node named", "", map[string]string{"a": "", "b": ""}},
		{"node a named", "a", map[string]string{"a": "", "b": "node(s) didn't match the requested node name"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			pod := st.Pod("p").Obj()
			pod.Spec.NodeName = tt.nodeName
			got, err := st.Filter(nodename.New(), framework.NewPodInfo(pod), nodes...)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}
