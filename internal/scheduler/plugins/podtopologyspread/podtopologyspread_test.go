package podtopologyspread_test

import (
	"testing"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/podtopologyspread"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

const zone = "topology.kubernetes.io/zone"

var web = map[string]string{"app": "web"}

func webPod(name string) *corev1.Pod { return st.Pod(name).Label("app", "web").Obj() }

// cluster: zone a holds 2 web pods (a1), zone b 1 (b1), zone c none (c1);
// a1 and b1 have hdd disks, c1 ssd; "nozone" has no zone label.
func cluster() []*framework.NodeInfo {
	return []*framework.NodeInfo{
		st.Node("a1").Label(zone, "a").Label("disk", "hdd").Info(webPod("w1"), webPod("w2")),
		st.Node("b1").Label(zone, "b").Label("disk", "hdd").Info(webPod("w3"), st.Pod("other").Obj()),
		st.Node("c1").Label(zone, "c").Label("disk", "ssd").Info(),
		st.Node("nozone").Info(webPod("w4")),
	}
}

func TestFilter(t *testing.T) {
	const (
		skew    = "node(s) didn't match pod topology spread constraints"
		missing = "node(s) didn't match pod topology spread constraints (missing required label)"
	)
	tests := []struct {
		name string
		pod  *corev1.Pod
		want map[string]string
	}{
		{"maxSkew 1: only the emptiest zone", st.Pod("p").Label("app", "web").Spread(1, zone, corev1.DoNotSchedule, web).Obj(),
			map[string]string{"a1": skew, "b1": skew, "c1": "", "nozone": missing}},
		{"maxSkew 2", st.Pod("p").Label("app", "web").Spread(2, zone, corev1.DoNotSchedule, web).Obj(),
			map[string]string{"a1": skew, "b1": "", "c1": "", "nozone": missing}},
		{"a pod not matching its selector does not count itself", st.Pod("p").Spread(1, zone, corev1.DoNotSchedule, web).Obj(),
			map[string]string{"a1": skew, "b1": "", "c1": "", "nozone": missing}},
		{"node affinity limits the domains", st.Pod("p").Label("app", "web").NodeSelector("disk", "hdd").Spread(1, zone, corev1.DoNotSchedule, web).Obj(),
			// c is not eligible, so the minimum is b's 1 (NodeAffinity rejects c1).
			map[string]string{"a1": skew, "b1": "", "c1": "", "nozone": missing}},
		{"ScheduleAnyway does not filter", st.Pod("p").Label("app", "web").Spread(1, zone, corev1.ScheduleAnyway, web).Obj(),
			map[string]string{"a1": "", "b1": "", "c1": "", "nozone": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := st.Filter(podtopologyspread.New(), framework.NewPodInfo(tt.pod), cluster()...)
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
	got, err := st.Score(podtopologyspread.New(), st.Pod("p").Label("app", "web").Spread(1, zone, corev1.ScheduleAnyway, web).Info(), cluster()...)
	if err != nil {
		t.Fatal(err)
	}
	// counts a=2, b=1, c=0; weight ln(3+2); fewer is better, nozone ignored.
	if got["c1"] != 100 || !(got["c1"] > got["b1"] && got["b1"] > got["a1"]) || got["nozone"] != 0 {
		t.Errorf("scores %v: want c1=100 > b1 > a1, nozone 0", got)
	}
}
