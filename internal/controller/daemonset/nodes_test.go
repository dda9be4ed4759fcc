package daemonset

import (
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func node(name string, labels map[string]string, taints ...corev1.Taint) *corev1.Node {
	return &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: labels}, Spec: corev1.NodeSpec{Taints: taints}}
}

func TestShouldRun(t *testing.T) {
	ds := &appsv1.DaemonSet{}
	ds.Spec.Template.Spec.NodeSelector = map[string]string{"role": "web"}
	web := map[string]string{"role": "web"}
	tests := []struct {
		name      string
		node      *corev1.Node
		run, keep bool
	}{
		{"matching", node("a", web), true, true},
		{"selector mismatch", node("a", map[string]string{"role": "db"}), false, false},
		{"untolerated NoSchedule keeps running pods", node("a", web, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoSchedule}), false, true},
		{"untolerated NoExecute evicts", node("a", web, corev1.Taint{Key: "x", Effect: corev1.TaintEffectNoExecute}), false, false},
		{"not-ready is tolerated", node("a", web, corev1.Taint{Key: corev1.TaintNodeNotReady, Effect: corev1.TaintEffectNoExecute}), true, true},
		{"cordoned is tolerated", node("a", web, corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}), true, true},
		{"PreferNoSchedule ignored", node("a", web, corev1.Taint{Key: "x", Effect: corev1.TaintEffectPreferNoSchedule}), true, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			run, keep := shouldRun(templatePod(ds), tt.node)
			if run != tt.run || keep != tt.keep {
				t.Errorf("run,keep = %v,%v want %v,%v", run, keep, tt.run, tt.keep)
			}
		})
	}
	aff := &appsv1.DaemonSet{}
	aff.Spec.Template.Spec.Affinity = &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
		NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: "zone", Operator: corev1.NodeSelectorOpIn, Values: []string{"z1"}}}}},
	}}}
	if run, _ := shouldRun(templatePod(aff), node("a", map[string]string{"zone": "z2"})); run {
		t.Error("node affinity ignored")
	}
	if run, _ := shouldRun(templatePod(aff), node("a", map[string]string{"zone": "z1"})); !run {
		t.Error("node affinity should match")
	}
}

func TestNewPodAffinityAndTolerations(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d", Namespace: "ns", UID: "u"}}
	ds.Spec.Template.Labels = map[string]string{"app": "d"}
	ds.Spec.Template.Spec.HostNetwork = true
	ds.Spec.Template.Spec.Tolerations = []corev1.Toleration{{Key: corev1.TaintNodeNotReady, Operator: corev1.TolerationOpExists, Effect: corev1.TaintEffectNoExecute}}
	p := newPod(ds, "n1", "h")
	if targetNode(p) != "n1" || p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] != "h" || p.GenerateName != "d-" {
		t.Errorf("pod %+v", p.ObjectMeta)
	}
	count := map[string]int{}
	for _, tol := range p.Spec.Tolerations {
		count[tol.Key]++
	}
	if count[corev1.TaintNodeNotReady] != 1 || count[corev1.TaintNodeNetworkUnavailable] != 1 || len(p.Spec.Tolerations) != 7 {
		t.Errorf("tolerations %+v", p.Spec.Tolerations)
	}
	if ds.Spec.Template.Spec.Affinity != nil || len(ds.Spec.Template.Spec.Tolerations) != 1 {
		t.Error("newPod changed the template")
	}
}

func TestSurgeAndUnavailable(t *testing.T) {
	ds := func(surge, unavail intstr.IntOrString) *appsv1.DaemonSet {
		d := &appsv1.DaemonSet{}
		d.Spec.UpdateStrategy = appsv1.DaemonSetUpdateStrategy{Type: appsv1.RollingUpdateDaemonSetStrategyType,
			RollingUpdate: &appsv1.RollingUpdateDaemonSet{MaxSurge: &surge, MaxUnavailable: &unavail}}
		return d
	}
	tests := []struct {
		ds             *appsv1.DaemonSet
		desired        int
		surge, unavail int
	}{
		{ds(intstr.FromInt32(0), intstr.FromInt32(1)), 10, 0, 1},
		{ds(intstr.FromString("25%"), intstr.FromInt32(0)), 10, 3, 0}, // surge rounds up
		{ds(intstr.FromInt32(0), intstr.FromString("25%")), 10, 0, 2}, // unavailable down
		{ds(intstr.FromInt32(0), intstr.FromString("10%")), 5, 0, 1},  // both zero → 1
	}
	for i, tt := range tests {
		s, u := surgeAndUnavailable(tt.ds, tt.desired)
		if s != tt.surge || u != tt.unavail {
			t.Errorf("%d: surge,unavailable = %d,%d want %d,%d", i, s, u, tt.surge, tt.unavail)
		}
	}
}

func readyPod(name, hash string, ready bool, created int64) *corev1.Pod {
	p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{appsv1.DefaultDaemonSetUniqueLabelKey: hash}, CreationTimestamp: metav1.Unix(created, 0)}}
	p.Spec.NodeName = "n"
	st := corev1.ConditionFalse
	if ready {
		st = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: st}}
	return p
}

func TestExtraPods(t *testing.T) {
	now := func() time.Time { return time.Unix(1000, 0) }
	names := func(ps []*corev1.Pod) string {
		var s []string
		for _, p := range ps {
			s = append(s, p.Name)
		}
		return strings.Join(s, ",")
	}
	oldReady, newNotReady, newReady := readyPod("old", "a", true, 1), readyPod("new", "b", false, 2), readyPod("new", "b", true, 2)
	tests := []struct {
		name  string
		pods  []*corev1.Pod
		surge bool
		want  string
	}{
		{"no surge keeps the oldest", []*corev1.Pod{oldReady, readyPod("dup", "a", true, 3)}, false, "dup"},
		{"surge keeps old while new is not ready", []*corev1.Pod{oldReady, newNotReady}, true, ""},
		{"surge drops old once new is available", []*corev1.Pod{oldReady, newReady}, true, "old"},
		{"surge drops an unready old pod", []*corev1.Pod{readyPod("old", "a", false, 1), newNotReady}, true, "old"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := names(extraPods(tt.pods, "b", tt.surge, 0, now)); got != tt.want {
				t.Errorf("got %q want %q", got, tt.want)
			}
		})
	}
}

func TestGetPatchAndHash(t *testing.T) {
	ds := &appsv1.DaemonSet{ObjectMeta: metav1.ObjectMeta{Name: "d"}}
	ds.Spec.Template.Labels = map[string]string{"app": "d"}
	ds.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "i"}}
	patch, err := getPatch(ds)
	if err != nil {
		t.Fatal(err)
	}
	want := `{"spec":{"template":{"$patch":"replace","metadata":{"labels":{"app":"d"}},"spec":{"containers":[{"image":"i","name":"c","resources":{}}]}}}}`
	if string(patch) != want {
		t.Errorf("patch\n%s\nwant\n%s", patch, want)
	}
	h1 := computeHash(&ds.Spec.Template, nil)
	one := int32(1)
	if h1 == computeHash(&ds.Spec.Template, &one) || h1 != computeHash(ds.Spec.Template.DeepCopy(), nil) {
		t.Error("hash must be stable and change with the collision count")
	}
}
