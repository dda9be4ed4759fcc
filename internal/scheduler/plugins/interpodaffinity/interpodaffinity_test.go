package interpodaffinity_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/interpodaffinity"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

const (
	zone     = "topology.kubernetes.io/zone"
	hostname = corev1.LabelHostname
)

var (
	web = map[string]string{"app": "web"}
	db  = map[string]string{"app": "db"}
)

// cluster: zone a has a1 (db pod) and a2 (empty); zone b has b1 (web pod);
// "nozone" has no zone label.
func cluster(extra ...*corev1.Pod) []*framework.NodeInfo {
	b1Pods := append([]*corev1.Pod{st.Pod("web-1").Label("app", "web").Obj()}, extra...)
	return []*framework.NodeInfo{
		st.Node("a1").Label(zone, "a").Info(st.Pod("db-1").Label("app", "db").Obj()),
		st.Node("a2").Label(zone, "a").Info(),
		st.Node("b1").Label(zone, "b").Info(b1Pods...),
		st.Node("nozone").Info(),
	}
}

func TestFilter(t *testing.T) {
	const (
		affinity = "node(s) didn't match pod affinity rules"
		anti     = "node(s) didn't match pod anti-affinity rules"
		existing = "node(s) didn't satisfy existing pods anti-affinity rules"
	)
	tests := []struct {
		name  string
		pod   *corev1.Pod
		nodes []*framework.NodeInfo
		want  map[string]string
	}{
		{"no terms", st.Pod("p").Obj(), cluster(),
			map[string]string{"a1": "", "a2": "", "b1": "", "nozone": ""}},
		{"affinity to db by zone", st.Pod("p").PodAffinity(0, zone, db).Obj(), cluster(),
			map[string]string{"a1": "", "a2": "", "b1": affinity, "nozone": affinity}},
		{"affinity to db by host", st.Pod("p").PodAffinity(0, hostname, db).Obj(), cluster(),
			map[string]string{"a1": "", "a2": affinity, "b1": affinity, "nozone": affinity}},
		{"affinity to nothing", st.Pod("p").PodAffinity(0, zone, map[string]string{"app": "none"}).Obj(), cluster(),
			map[string]string{"a1": affinity, "a2": affinity, "b1": affinity, "nozone": affinity}},
		{"first pod of a self-affine group goes where the key exists", st.Pod("p").Label("app", "cache").PodAffinity(0, zone, map[string]string{"app": "cache"}).Obj(), cluster(),
			map[string]string{"a1": "", "a2": "", "b1": "", "nozone": affinity}},
		{"anti-affinity to web by zone", st.Pod("p").PodAntiAffinity(0, zone, web).Obj(), cluster(),
			map[string]string{"a1": "", "a2": "", "b1": anti, "nozone": ""}},
		{"anti-affinity in another namespace does not match", st.Pod("p").Namespace("other").PodAntiAffinity(0, zone, web).Obj(), cluster(),
			map[string]string{"a1": "", "a2": "", "b1": "", "nozone": ""}},
		{"existing pod's anti-affinity", st.Pod("p").Label("app", "lonely").Obj(),
			cluster(st.Pod("guard").PodAntiAffinity(0, zone, map[string]string{"app": "lonely"}).Obj()),
			map[string]string{"a1": "", "a2": "", "b1": existing, "nozone": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(interpodaffinity.New(), framework.NewPodInfo(tt.pod), tt.nodes...)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
}

func TestScore(t *testing.T) {
	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]int64
	}{
		{"preferred affinity to web", st.Pod("p").PodAffinity(10, zone, web).Obj(),
			map[string]int64{"a1": 0, "a2": 0, "b1": 100, "nozone": 0}},
		{"preferred anti-affinity to db", st.Pod("p").PodAntiAffinity(10, zone, db).Obj(),
			map[string]int64{"a1": 0, "a2": 0, "b1": 100, "nozone": 100}},
		{"both", st.Pod("p").PodAffinity(10, zone, web).PodAntiAffinity(10, zone, db).Obj(),
			map[string]int64{"a1": 0, "a2": 0, "b1": 100, "nozone": 50}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Score(interpodaffinity.New(), framework.NewPodInfo(tt.pod), cluster()...)
			if err != nil {
				t.Fatal(err)
			}
			if d := cmp.Diff(tt.want, got); d != "" {
				t.Errorf("(-want +got):\n%s", d)
			}
		})
	}
	t.Run("existing pods' preferred affinity attracts", func(t *testing.T) {
		nodes := cluster(st.Pod("fan").PodAffinity(5, hostname, map[string]string{"app": "star"}).Obj())
		got, err := st.Score(interpodaffinity.New(), st.Pod("p").Label("app", "star").Info(), nodes...)
		if err != nil {
			t.Fatal(err)
		}
		if d := cmp.Diff(map[string]int64{"a1": 0, "a2": 0, "b1": 100, "nozone": 0}, got); d != "" {
			t.Errorf("(-want +got):\n%s", d)
		}
	})
}

// rawScores runs PreScore and Score (without normalising) on nodes.
func rawScores(t *testing.T, pl *interpodaffinity.Plugin, pod *corev1.Pod, nodes []*framework.NodeInfo) map[string]int64 {
	t.Helper()
	pi := framework.NewPodInfo(pod)
	state := framework.NewCycleState()
	if st := pl.PreScore(state, pi, framework.NewSnapshot(nodes...), nodes); !st.IsSuccess() {
		t.Fatalf("PreScore: %s", st.Message())
	}
	out := map[string]int64{}
	for _, n := range nodes {
		s, st := pl.Score(state, pi, n)
		if !st.IsSuccess() {
			t.Fatalf("Score %s: %s", n.Name(), st.Message())
		}
		out[n.Name()] = s
	}
	return out
}

// TestPreScoreReusesWorkAcrossPods scores a sequence of pods with one
// plugin, which keeps the domain sums between pods of one signature, while
// the cluster changes the ways a scheduler's snapshot does; after each
// step the scores must equal those of a new plugin that computes
// everything afresh.
func TestPreScoreReusesWorkAcrossPods(t *testing.T) {
	antiWeb := func(name string) *corev1.Pod {
		return st.Pod(name).Label("app", "web").PodAntiAffinity(10, hostname, web).PodAntiAffinity(3, zone, web).Obj()
	}
	node := func(name, z string, pods ...*corev1.Pod) *framework.NodeInfo {
		b := st.Node(name).Label(hostname, name)
		if z != "" {
			b = b.Label(zone, z)
		}
		return b.Info(pods...)
	}
	with := func(n *framework.NodeInfo, pod *corev1.Pod) *framework.NodeInfo {
		c := n.Clone()
		c.AddPod(framework.NewPodInfo(pod))
		c.Generation++
		return c
	}
	nodes := []*framework.NodeInfo{
		node("a1", "a", antiWeb("web-0")),
		node("a2", "a"),
		node("b1", "b", st.Pod("db-0").Label("app", "db").Obj()),
		node("nozone", ""),
	}
	steps := []struct {
		name   string
		change func()
		pod    *corev1.Pod
	}{
		{"first pod", func() {}, antiWeb("web-1")},
		{"a pod placed on a2 (NodeInfo replaced)", func() { nodes[1] = with(nodes[1], antiWeb("web-1")) }, antiWeb("web-2")},
		{"a pod added to b1 in place", func() { nodes[2].AddPod(framework.NewPodInfo(antiWeb("web-2"))) }, antiWeb("web-3")},
		{"a node relabelled into another zone", func() {
			nodes[0] = node("a1", "b", antiWeb("web-0"))
		}, antiWeb("web-4")},
		{"a node removed", func() { nodes = nodes[:3] }, antiWeb("web-5")},
		{"a node added", func() { nodes = append(nodes, node("c1", "c", antiWeb("web-6"))) }, antiWeb("web-7")},
		{"a pod of another workload", func() {}, st.Pod("p").PodAffinity(10, zone, web).Obj()},
		{"the first workload again", func() {}, antiWeb("web-8")},
		{"existing pods' preferred affinity only", func() {
			nodes[1] = with(nodes[1], st.Pod("fan").PodAffinity(5, hostname, map[string]string{"app": "star"}).Obj())
		}, st.Pod("star-0").Label("app", "star").Obj()},
		{"and again after another fan", func() {
			nodes[3] = with(nodes[3], st.Pod("fan-2").PodAffinity(7, zone, map[string]string{"app": "star"}).Obj())
		}, st.Pod("star-1").Label("app", "star").Obj()},
	}
	reused := interpodaffinity.New()
	for _, step := range steps {
		step.change()
		got := rawScores(t, reused, step.pod, nodes)
		want := rawScores(t, interpodaffinity.New(), step.pod, nodes)
		if d := cmp.Diff(want, got); d != "" {
			t.Errorf("%s: reused plugin differs from a fresh one (-fresh +reused):\n%s", step.name, d)
		}
	}
}
