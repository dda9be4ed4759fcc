package noderesources_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/noderesources"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestPodRequests(t *testing.T) {
	tests := []struct {
		name     string
		pod      *corev1.Pod
		cpu, mem int64 // millicores, bytes
		gpu      int64
	}{
		{"app containers are summed", st.Pod("p").Req("cpu", "1", "memory", "1Gi").Container("cpu", "500m").Obj(), 1500, 1 << 30, 0},
		{"a larger init container wins", st.Pod("p").Req("cpu", "1").Init(false, "cpu", "2", "memory", "64Mi").Obj(), 2000, 64 << 20, 0},
		{"a smaller init container does not count", st.Pod("p").Req("cpu", "1").Init(false, "cpu", "500m").Obj(), 1000, 0, 0},
		{"init containers are not summed", st.Pod("p").Req("cpu", "1").Init(false, "cpu", "2").Init(false, "cpu", "2").Obj(), 2000, 0, 0},
		{"sidecars add to the app containers", st.Pod("p").Req("cpu", "1").Init(true, "cpu", "500m").Obj(), 1500, 0, 0},
		{"an init container after a sidecar runs beside it", st.Pod("p").Req("cpu", "1").Init(true, "cpu", "500m").Init(false, "cpu", "2").Obj(), 2500, 0, 0},
		{"overhead is added", st.Pod("p").Req("cpu", "1").Overhead("cpu", "250m", "memory", "10Mi").Obj(), 1250, 10 << 20, 0},
		{"extended resources", st.Pod("p").Req("example.com/gpu", "2").Init(false, "example.com/gpu", "3").Obj(), 0, 0, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := framework.PodRequests(tt.pod, false)
			if r.MilliCPU != tt.cpu || r.Memory != tt.mem || r.Scalar["example.com/gpu"] != tt.gpu {
				t.Errorf("requests cpu=%d memory=%d gpu=%d, want %d %d %d", r.MilliCPU, r.Memory, r.Scalar["example.com/gpu"], tt.cpu, tt.mem, tt.gpu)
			}
		})
	}
	t.Run("non-zero defaults for scoring", func(t *testing.T) {
		r := framework.PodRequests(st.Pod("p").Container("memory", "1Gi").Obj(), true)
		if r.MilliCPU != 2*framework.DefaultMilliCPURequest || r.Memory != framework.DefaultMemoryRequest+1<<30 {
			t.Errorf("cpu=%d memory=%d", r.MilliCPU, r.Memory)
		}
	})
}

func TestFitFilter(t *testing.T) {
	node := func() *st.NodeBuilder {
		return st.Node("n").Allocatable("cpu", "2", "memory", "4Gi", "ephemeral-storage", "10Gi", "example.com/gpu", "1")
	}
	tests := []struct {
		name string
		pod  *corev1.Pod
		node *framework.NodeInfo
		want string
	}{
		{"fits", st.Pod("p").Req("cpu", "1", "memory", "1Gi").Obj(), node().Info(), ""},
		{"fits exactly", st.Pod("p").Req("cpu", "1").Obj(), node().Info(st.Pod("a").Req("cpu", "1").Obj()), ""},
		{"cpu taken by others", st.Pod("p").Req("cpu", "1").Obj(), node().Info(st.Pod("a").Req("cpu", "1500m").Obj()), "Insufficient cpu"},
		{"every missing resource, in order", st.Pod("p").Req("cpu", "3", "memory", "5Gi", "ephemeral-storage", "11Gi", "example.com/gpu", "2").Obj(), node().Info(),
			"Insufficient cpu, Insufficient memory, Insufficient ephemeral-storage, Insufficient example.com/gpu"},
		{"extended resource the node lacks", st.Pod("p").Req("example.com/fpga", "1").Obj(), node().Info(), "Insufficient example.com/fpga"},
		{"init container too big", st.Pod("p").Req("cpu", "1").Init(false, "cpu", "3").Obj(), node().Info(), "Insufficient cpu"},
		{"overhead tips it over", st.Pod("p").Req("cpu", "2").Overhead("cpu", "100m").Obj(), node().Info(), "Insufficient cpu"},
		{"pod count", st.Pod("p").Obj(), node().Allocatable("pods", "1").Info(st.Pod("a").Obj()), "Too many pods"},
		{"pod count and cpu", st.Pod("p").Req("cpu", "3").Obj(), node().Allocatable("pods", "1").Info(st.Pod("a").Obj()), "Too many pods, Insufficient cpu"},
		{"best effort fits a full node", st.Pod("p").Obj(), node().Info(st.Pod("a").Req("cpu", "2").Obj()), ""},
	}
	fit := noderesources.NewFit(noderesources.LeastAllocated, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(fit, framework.NewPodInfo(tt.pod), tt.node)
			if err != nil {
				t.Fatal(err)
			}
			if got["n"] != tt.want {
				t.Errorf("got %q, want %q", got["n"], tt.want)
			}
		})
	}
}

func TestFitScore(t *testing.T) {
	nodes := func() []*framework.NodeInfo {
		return []*framework.NodeInfo{
			st.Node("empty").Allocatable("cpu", "4", "memory", "8Gi").Info(),
			st.Node("half").Allocatable("cpu", "4", "memory", "8Gi").Info(st.Pod("a").Req("cpu", "2", "memory", "4Gi").Obj()),
			st.Node("full").Allocatable("cpu", "4", "memory", "8Gi").Info(st.Pod("b").Req("cpu", "3", "memory", "6Gi").Obj()),
		}
	}
	pod := st.Pod("p").Req("cpu", "1", "memory", "2Gi").Info()
	tests := []struct {
		name     string
		plugin   framework.ScorePlugin
		want     map[string]int64
		wantBest string
	}{
		// LeastAllocated: (free after placing / allocatable) × 100, cpu and memory averaged.
		{"least allocated spreads", noderesources.NewFit(noderesources.LeastAllocated, nil), map[string]int64{"empty": 75, "half": 25, "full": 0}, "empty"},
		{"most allocated packs", noderesources.NewFit(noderesources.MostAllocated, nil), map[string]int64{"empty": 25, "half": 75, "full": 100}, "full"},
		{"weights", noderesources.NewFit(noderesources.MostAllocated, []noderesources.ResourceWeight{{Name: corev1.ResourceCPU, Weight: 1}}), map[string]int64{"empty": 25, "half": 75, "full": 100}, "full"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Score(tt.plugin, pod, nodes()...)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("scores (-want +got):\n%s", d)
			}
		})
	}
}

func TestBalancedAllocation(t *testing.T) {
	nodes := []*framework.NodeInfo{
		// after placing: cpu 50%, memory 50% → perfectly balanced
		st.Node("balanced").Allocatable("cpu", "4", "memory", "8Gi").Info(st.Pod("a").Req("cpu", "1", "memory", "2Gi").Obj()),
		// after placing: cpu 100%, memory 25% → std 0.375
		st.Node("skewed").Allocatable("cpu", "2", "memory", "8Gi").Info(st.Pod("b").Req("cpu", "1").Obj()),
	}
	got, err := st.Score(noderesources.NewBalanced(nil), st.Pod("p").Req("cpu", "1", "memory", "2Gi").Info(), nodes...)
	if err != nil {
		t.Fatal(err)
	}
	if d := cmp.Diff(map[string]int64{"balanced": 100, "skewed": 62}, got); d != "" {
		t.Errorf("scores (-want +got):\n%s", d)
	}
}
