package statefulset

import (
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func testSet(replicas int32, policy appsv1.PodManagementPolicyType, partition int32) *appsv1.StatefulSet {
	s := &appsv1.StatefulSet{ObjectMeta: metav1.ObjectMeta{Name: "s", Namespace: "ns", UID: "u"}}
	s.Spec.Replicas = &replicas
	s.Spec.PodManagementPolicy = policy
	s.Spec.UpdateStrategy = appsv1.StatefulSetUpdateStrategy{Type: appsv1.RollingUpdateStatefulSetStrategyType,
		RollingUpdate: &appsv1.RollingUpdateStatefulSetStrategy{Partition: &partition}}
	return s
}

// pod spec: "<ordinal><state><rev>" — state r(eady), u(nready), t(erminating), f(ailed); rev a|b.
func pods(set *appsv1.StatefulSet, specs ...string) []*corev1.Pod {
	var out []*corev1.Pod
	for _, sp := range specs {
		var ord int
		fmt.Sscanf(sp[:len(sp)-2], "%d", &ord)
		state, rev := sp[len(sp)-2], sp[len(sp)-1:]
		p := newPod(set, ord, "rev-"+rev)
		p.Status.Phase = corev1.PodRunning
		switch state {
		case 'r':
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: corev1.ConditionTrue}}
		case 't':
			now := metav1.Now()
			p.DeletionTimestamp = &now
		case 'f':
			p.Status.Phase = corev1.PodFailed
		}
		out = append(out, p)
	}
	return out
}

func describe(s step) string {
	var parts []string
	for _, o := range s.create {
		parts = append(parts, fmt.Sprintf("+%d", o))
	}
	var del []string
	for _, p := range s.delete {
		del = append(del, "-"+p.Name[2:])
	}
	sort.Strings(del)
	return strings.Join(append(parts, del...), " ")
}

func TestDecide(t *testing.T) {
	ordered, parallel := appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement
	tests := []struct {
		name      string
		replicas  int32
		policy    appsv1.PodManagementPolicyType
		partition int32
		pods      []string
		want      string
		maxUnav   string // rollingUpdate.maxUnavailable: "2", "50%"; "" unset
	}{
		{"ordered creates the first missing", 3, ordered, 0, nil, "+0", ""},
		{"ordered waits for an unready pod", 3, ordered, 0, []string{"0ub"}, "", ""},
		{"ordered creates the next once ready", 3, ordered, 0, []string{"0rb"}, "+1", ""},
		{"parallel creates all", 3, parallel, 0, nil, "+0 +1 +2", ""},
		{"failed pod recreated", 2, ordered, 0, []string{"0fb", "1rb"}, "-0", ""},
		{"ordered scale down from the highest", 1, ordered, 0, []string{"0rb", "1rb", "2rb"}, "-2", ""},
		{"ordered scale down waits for termination", 1, ordered, 0, []string{"0rb", "1rb", "2tb"}, "", ""},
		{"parallel scale down all at once", 1, parallel, 0, []string{"0rb", "1rb", "2rb"}, "-1 -2", ""},
		{"rolling update from the highest", 3, ordered, 0, []string{"0ra", "1ra", "2ra"}, "-2", ""},
		{"rolling update waits for the updated pod", 3, ordered, 0, []string{"0ra", "1ra", "2ub"}, "", ""},
		{"rolling update continues below", 3, ordered, 0, []string{"0ra", "1ra", "2rb"}, "-1", ""},
		{"partition stops the update", 3, ordered, 1, []string{"0ra", "1rb", "2rb"}, "", ""},
		{"converged", 2, ordered, 0, []string{"0rb", "1rb"}, "", ""},
		{"an unready pod below the partition holds the update", 3, ordered, 1, []string{"0ua", "1ra", "2ra"}, "", ""},
		{"maxUnavailable 2 deletes two outdated pods at once", 4, ordered, 0, []string{"0ra", "1ra", "2ra", "3ra"}, "-2 -3", "2"},
		{"maxUnavailable counts the unhealthy pods (parallel)", 4, parallel, 0, []string{"0ra", "1ra", "2ra", "3ub"}, "-2", "2"},
		{"maxUnavailable reached: wait (parallel)", 4, parallel, 0, []string{"0ra", "1ra", "2ub", "3ub"}, "", "2"},
		{"maxUnavailable 50% of 5 rounds down to 2", 5, parallel, 0, []string{"0ra", "1ra", "2ra", "3ra", "4ra"}, "-3 -4", "50%"},
		{"maxUnavailable stops at the partition", 4, ordered, 3, []string{"0ra", "1ra", "2ra", "3ra"}, "-3", "3"},
		{"maxUnavailable 10% of 3 is still 1", 3, parallel, 0, []string{"0ra", "1ra", "2ra"}, "-2", "10%"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			set := testSet(tt.replicas, tt.policy, tt.partition)
			if tt.maxUnav != "" {
				v := intstr.Parse(tt.maxUnav)
				set.Spec.UpdateStrategy.RollingUpdate.MaxUnavailable = &v
			}
			c := &Controller{cfg: Config{Now: time.Now}}
			if got := describe(c.decide(set, pods(set, tt.pods...), "rev-a", "rev-b")); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestVersionedPod(t *testing.T) {
	set := testSet(3, appsv1.OrderedReadyPodManagement, 2)
	cur, upd := set.DeepCopy(), set.DeepCopy()
	cur.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "v1"}}
	upd.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "v2"}}
	for ord, want := range []string{"v1", "v1", "v2"} {
		p := versionedPod(set, cur, upd, ord, "a", "b")
		if p.Spec.Containers[0].Image != want || p.Name != fmt.Sprintf("s-%d", ord) {
			t.Errorf("ordinal %d: %s %s, want %s", ord, p.Name, p.Spec.Containers[0].Image, want)
		}
	}
}

func TestOrdinalAndRevisionHash(t *testing.T) {
	set := testSet(1, "", 0)
	for name, want := range map[string]int{"s-0": 0, "s-12": 12, "s-01": -1, "s-x": -1, "other-1": -1, "s-1-2": -1} {
		if got := ordinalOf(set, &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: name}}); got != want {
			t.Errorf("%s: %d, want %d", name, got, want)
		}
	}
	if hashRevision([]byte("x"), 0) == hashRevision([]byte("x"), 1) || hashRevision([]byte("x"), 0) != hashRevision([]byte("x"), 0) {
		t.Error("hash must be stable and change with the collision count")
	}
	set.Spec.Template.Spec.Containers = []corev1.Container{{Name: "c", Image: "v1"}}
	rev, err := newRevision(set, 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	back, err := applyRevision(testSet(1, "", 0), rev)
	if err != nil {
		t.Fatal(err)
	}
	if len(back.Spec.Template.Spec.Containers) != 1 || back.Spec.Template.Spec.Containers[0].Image != "v1" {
		t.Errorf("applyRevision lost the template: %+v", back.Spec.Template)
	}
	if rev.Name != "s-"+rev.Labels[revisionHashLabel] {
		t.Errorf("revision name %s", rev.Name)
	}
}
