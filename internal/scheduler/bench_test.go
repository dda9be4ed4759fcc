package scheduler

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

// BenchmarkSchedule schedules 3,000 replica-like pods (100m cpu, 128Mi)
// onto hollow nodes through the cache, snapshot and plugins, assuming each
// placement as the scheduler does, without the API. It reports pods/s.
//
//	go test -run '^$' -bench Schedule -benchtime 3x ./internal/scheduler
func BenchmarkSchedule(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		for _, anti := range []bool{false, true} {
			name := fmt.Sprintf("nodes=%d/pods=3000", nodes)
			if anti {
				name += "/preferredAntiAffinity"
			}
			b.Run(name, func(b *testing.B) { benchmarkSchedule(b, nodes, 3000, anti) })
		}
	}
}

func benchmarkSchedule(b *testing.B, numNodes, numPods int, anti bool) {
	nodes := make([]*corev1.Node, numNodes)
	for i := range nodes {
		nodes[i] = st.Node(fmt.Sprintf("node-%d", i)).Label(corev1.LabelTopologyZone, fmt.Sprintf("zone-%d", i%3)).
			Allocatable("cpu", "32", "memory", "128Gi").Obj()
	}
	pods := make([]*corev1.Pod, numPods)
	for i := range pods {
		pb := st.Pod(fmt.Sprintf("web-%d", i)).Label("app", "web").Req("cpu", "100m", "memory", "128Mi")
		if anti {
			pb.PodAntiAffinity(100, corev1.LabelHostname, map[string]string{"app": "web"})
		}
		pods[i] = pb.Obj()
		pods[i].UID = types.UID(fmt.Sprintf("uid-%d", i))
	}
	cfg := DefaultConfig().withDefaults()
	var elapsed time.Duration
	for b.Loop() {
		c := newCache()
		for _, n := range nodes {
			c.setNode(n)
		}
		cy := newCycle(newProfile(cfg), cfg)
		var s snapshotState
		start := time.Now()
		for _, pod := range pods {
			c.updateSnapshot(&s)
			pi := framework.NewPodInfo(pod)
			node, err := cy.schedule(framework.NewCycleState(), pi, s.snap)
			if err != nil {
				b.Fatal(err)
			}
			assumed := pod.DeepCopy()
			assumed.Spec.NodeName = node
			api := *pi
			api.Pod = assumed
			c.assume(&api)
		}
		elapsed += time.Since(start)
	}
	b.ReportMetric(float64(numPods)*float64(b.N)/elapsed.Seconds(), "pods/s")
}
