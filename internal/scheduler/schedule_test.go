package scheduler

import (
	"errors"
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestFitErrorMessage(t *testing.T) {
	cpu := framework.NewStatus(framework.Unschedulable, "Insufficient cpu")
	cpuMem := framework.NewStatus(framework.Unschedulable, "Insufficient cpu", "Insufficient memory")
	taint := framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) had untolerated taint {dedicated: db}")
	tests := []struct {
		name string
		err  *fitError
		want string
	}{
		{"histogram sorted as strings", &fitError{numAllNodes: 3, statuses: map[string]*framework.Status{"a": cpu, "b": cpu, "c": taint}},
			"0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu."},
		{"a node counts once per reason", &fitError{numAllNodes: 2, statuses: map[string]*framework.Status{"a": cpuMem, "b": cpu}},
			"0/2 nodes are available: 1 Insufficient memory, 2 Insufficient cpu."},
		{"preemption message appended", &fitError{numAllNodes: 1, statuses: map[string]*framework.Status{"a": cpu}, postFilterMsg: preemptionNever},
			"0/1 nodes are available: 1 Insufficient cpu. preemption: not eligible due to preemptionPolicy=Never."},
		{"prefilter rejection", &fitError{numAllNodes: 5, preFilter: framework.NewStatus(framework.UnschedulableAndUnresolvable, "node(s) didn't match Pod's node affinity/selector")},
			"0/5 nodes are available: node(s) didn't match Pod's node affinity/selector."},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.err.Error(); got != tt.want {
				t.Errorf("got  %q\nwant %q", got, tt.want)
			}
		})
	}
}

// scheduleOn runs one cycle for pod on nodes with the default plugins.
func scheduleOn(t *testing.T, cfg Config, pod *corev1.Pod, nodes ...*framework.NodeInfo) (string, error) {
	t.Helper()
	cfg = cfg.withDefaults()
	c := newCycle(newProfile(cfg), cfg)
	snap := framework.NewSnapshot(nodes...)
	pi := framework.NewPodInfo(pod)
	state := framework.NewCycleState()
	node, err := c.schedule(state, pi, snap)
	var fe *fitError
	if errors.As(err, &fe) {
		msg, cands := c.evaluatePreemption(state, pi, snap, fe)
		fe.postFilterMsg = msg
		if len(cands) > 0 {
			best := pickCandidate(cands)
			var names []string
			for _, v := range best.victims {
				names = append(names, v.Name)
			}
			return "", fmt.Errorf("preempt on %s: %v", best.node, names)
		}
	}
	return node, err
}

func TestScheduleCycle(t *testing.T) {
	small := func(name string, pods ...*corev1.Pod) *framework.NodeInfo {
		return st.Node(name).Allocatable("cpu", "2", "memory", "4Gi").Info(pods...)
	}
	tests := []struct {
		name    string
		cfg     Config
		pod     *corev1.Pod
		nodes   []*framework.NodeInfo
		want    string // node, or the error
		wantErr bool
	}{
		{"least allocated picks the emptiest", Config{}, st.Pod("p").Req("cpu", "500m").Obj(),
			[]*framework.NodeInfo{small("busy", st.Pod("a").Req("cpu", "1").Obj()), small("idle")}, "idle", false},
		{"most allocated picks the fullest that fits", Config{ScoringStrategy: "MostAllocated"}, st.Pod("p").Req("cpu", "500m").Obj(),
			[]*framework.NodeInfo{small("busy", st.Pod("a").Req("cpu", "1").Obj()), small("idle")}, "busy", false},
		{"preferred node affinity outweighs resources", Config{}, st.Pod("p").PreferredNodeAffinity(100, "disk", "ssd").Obj(),
			[]*framework.NodeInfo{small("idle"), st.Node("ssd").Label("disk", "ssd").Allocatable("cpu", "2", "memory", "4Gi").Info(st.Pod("a").Req("cpu", "1").Obj())}, "ssd", false},
		{"filters in Kubernetes order: the taint hides the cpu shortage", Config{}, st.Pod("p").Req("cpu", "3").Obj(),
			[]*framework.NodeInfo{small("a"), small("b"), st.Node("db").Taint("dedicated", "db", corev1.TaintEffectNoSchedule).Allocatable("cpu", "1").Info()},
			"0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu. " +
				"preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.", true},
		{"cordoned and mismatched", Config{}, st.Pod("p").NodeSelector("disk", "ssd").Obj(),
			[]*framework.NodeInfo{st.Node("a").Unschedulable().Info(), small("b")},
			"0/2 nodes are available: 1 node(s) didn't match Pod's node affinity/selector, 1 node(s) were unschedulable. " +
				"preemption: 0/2 nodes are available: 2 Preemption is not helpful for scheduling.", true},
		{"preemption evicts the fewest lowest-priority pods", Config{}, st.Pod("p").Priority(100).Req("cpu", "1500m").Obj(),
			[]*framework.NodeInfo{
				small("n1", st.Pod("hi").Priority(1000).Req("cpu", "1").Obj(), st.Pod("lo").Priority(1).Req("cpu", "500m").Obj()),
				small("n2", st.Pod("lo1").Priority(1).Req("cpu", "1").Obj(), st.Pod("lo2").Priority(2).Req("cpu", "500m").Obj()),
			}, "preempt on n2: [lo1]", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			node, err := scheduleOn(t, tt.cfg, tt.pod, tt.nodes...)
			got := node
			if err != nil {
				got = err.Error()
			}
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("got %q (err %v), want %q", got, err != nil, tt.want)
			}
		})
	}
}

func TestNumFeasibleNodesToFind(t *testing.T) {
	tests := []struct {
		pct, nodes, want int
	}{
		{0, 50, 50}, {0, 500, 230}, {0, 5000, 500}, {0, 10000, 500}, {0, 200, 100}, {100, 5000, 5000}, {10, 500, 100},
	}
	for _, tt := range tests {
		c := &cycle{percentage: tt.pct}
		if got := c.numFeasibleNodesToFind(tt.nodes); got != tt.want {
			t.Errorf("percentage %d, %d nodes: %d, want %d", tt.pct, tt.nodes, got, tt.want)
		}
	}
}
