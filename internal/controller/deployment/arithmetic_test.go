package deployment

import (
	"strconv"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func rolling(replicas int32, surge, unavailable string) *appsv1.Deployment {
	s, u := intstr.Parse(surge), intstr.Parse(unavailable)
	return &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Generation: 1},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Strategy: appsv1.DeploymentStrategy{
				Type:          appsv1.RollingUpdateDeploymentStrategyType,
				RollingUpdate: &appsv1.RollingUpdateDeployment{MaxSurge: &s, MaxUnavailable: &u},
			},
		},
	}
}

func rs(name string, spec, available int32, age time.Duration, annotations ...string) *appsv1.ReplicaSet {
	r := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: name, UID: types.UID(name), CreationTimestamp: metav1.NewTime(time.Unix(1e9, 0).Add(-age)), Annotations: map[string]string{}},
		Spec:       appsv1.ReplicaSetSpec{Replicas: &spec},
		Status:     appsv1.ReplicaSetStatus{Replicas: spec, AvailableReplicas: available},
	}
	for i := 0; i+1 < len(annotations); i += 2 {
		r.Annotations[annotations[i]] = annotations[i+1]
	}
	return r
}

func TestResolveFenceposts(t *testing.T) {
	tests := []struct {
		surge, unavailable string
		desired            int32
		wantS, wantU       int32
	}{
		{"25%", "25%", 10, 3, 2}, // surge rounds up, unavailable down
		{"25%", "25%", 1, 1, 0},
		{"25%", "25%", 4, 1, 1},
		{"0", "25%", 3, 0, 1}, // both zero after rounding: unavailable 1
		{"10%", "0", 5, 1, 0},
		{"2", "1", 10, 2, 1},
		{"50%", "50%", 7, 4, 3},
		{"0", "0%", 0, 0, 1},
	}
	for _, tt := range tests {
		s, u := intstr.Parse(tt.surge), intstr.Parse(tt.unavailable)
		gotS, gotU, err := resolveFenceposts(&s, &u, tt.desired)
		if err != nil || gotS != tt.wantS || gotU != tt.wantU {
			t.Errorf("resolveFenceposts(%s, %s, %d) = %d, %d, %v; want %d, %d", tt.surge, tt.unavailable, tt.desired, gotS, gotU, err, tt.wantS, tt.wantU)
		}
	}
	if got := maxUnavailable(rolling(3, "0", "5")); got != 3 {
		t.Errorf("maxUnavailable is capped at replicas: got %d", got)
	}
	recreate := rolling(3, "1", "1")
	recreate.Spec.Strategy = appsv1.DeploymentStrategy{Type: appsv1.RecreateDeploymentStrategyType}
	if maxUnavailable(recreate) != 0 || maxSurge(recreate) != 0 {
		t.Error("Recreate has no surge or unavailability budget")
	}
}

func TestNewRSNewReplicas(t *testing.T) {
	tests := []struct {
		name    string
		d       *appsv1.Deployment
		old     []*appsv1.ReplicaSet
		newSize int32
		want    int32
	}{
		{"fresh rollout of 10 with 25% surge", rolling(10, "25%", "25%"), []*appsv1.ReplicaSet{rs("old", 10, 10, time.Hour)}, 0, 3},
		{"surge used up", rolling(10, "25%", "25%"), []*appsv1.ReplicaSet{rs("old", 10, 10, time.Hour)}, 3, 3},
		{"old scaled down makes room", rolling(10, "25%", "25%"), []*appsv1.ReplicaSet{rs("old", 8, 8, time.Hour)}, 3, 5},
		{"never above desired", rolling(10, "25%", "25%"), []*appsv1.ReplicaSet{rs("old", 0, 0, time.Hour)}, 8, 10},
		{"first rollout", rolling(5, "1", "0"), nil, 0, 5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newRS := rs("new", tt.newSize, 0, 0)
			got, err := newRSNewReplicas(tt.d, append(tt.old, newRS), newRS)
			if err != nil || got != tt.want {
				t.Fatalf("got %d, %v; want %d", got, err, tt.want)
			}
		})
	}
}

// TestProportionalScaling mirrors Kubernetes' scale: a Deployment resized
// in the middle of a rollout grows or shrinks its ReplicaSets in proportion.
func TestProportionalScaling(t *testing.T) {
	tests := []struct {
		name      string
		replicas  int32
		sizes     []int32 // newest last
		maxBefore int32   // max-replicas annotation
		want      []int32
	}{
		// 10 → 30 replicas (maxSurge 3 → 8, max 13 → 38): 8 and 5 of 13 grow to
		// 23 and 15 (leftovers to the largest).
		{"scale up", 30, []int32{8, 5}, 13, []int32{23, 15}},
		// 10 → 5 (max 13 → 7): 8 and 5 shrink to 4 and 3.
		{"scale down", 5, []int32{8, 5}, 13, []int32{4, 3}},
		{"scale to zero", 0, []int32{8, 5}, 13, []int32{0, 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			d := rolling(tt.replicas, "25%", "25%")
			var all []*appsv1.ReplicaSet
			for i, s := range tt.sizes {
				all = append(all, rs(strconv.Itoa(i), s, s, time.Duration(len(tt.sizes)-i)*time.Hour,
					MaxReplicasAnnotation, strconv.Itoa(int(tt.maxBefore))))
			}
			_, sizes, _ := proportionalSizes(d, all)
			for i, r := range all {
				if sizes[r.Name] != tt.want[i] {
					t.Fatalf("sizes %v, want %v", sizes, tt.want)
				}
			}
		})
	}
}

func TestSafeAvailableReplicas(t *testing.T) {
	// Scaled down from 10 to 8; the status still counts the 10 pods.
	old := rs("old", 8, 10, time.Hour)
	if got := safeAvailableReplicas([]*appsv1.ReplicaSet{old, rs("new", 3, 1, 0)}); got != 9 {
		t.Fatalf("safeAvailableReplicas = %d, want 8+1", got)
	}
	if got := availableReplicas([]*appsv1.ReplicaSet{old}); got != 10 {
		t.Fatalf("availableReplicas = %d, want the reported 10", got)
	}
}

func TestFindNewReplicaSetIgnoresHashLabel(t *testing.T) {
	d := rolling(1, "1", "0")
	d.Spec.Template = corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "v2"}}},
	}
	v1, v2 := rs("v1", 1, 1, 2*time.Hour), rs("v2", 0, 0, time.Hour)
	v1.Spec.Template = *d.Spec.Template.DeepCopy()
	v1.Spec.Template.Spec.Containers[0].Image = "v1"
	v2.Spec.Template = *d.Spec.Template.DeepCopy()
	v2.Spec.Template.Labels[appsv1.DefaultDeploymentUniqueLabelKey] = "abc"
	if got := findNewReplicaSet(d, []*appsv1.ReplicaSet{v1, v2}); got != v2 {
		t.Fatalf("new replica set = %v, want v2", got)
	}
	if olds := oldReplicaSets(v2, []*appsv1.ReplicaSet{v1, v2}); len(olds) != 1 || olds[0] != v1 {
		t.Fatalf("old replica sets = %v", olds)
	}
}

func TestRevisionAnnotations(t *testing.T) {
	d := rolling(4, "1", "1")
	d.Annotations = map[string]string{"team": "a", corev1.LastAppliedConfigAnnotation: "{}", RevisionAnnotation: "9"}
	r := rs("r", 0, 0, 0)
	if !setNewReplicaSetAnnotations(d, r, "1", false) {
		t.Fatal("annotations must change")
	}
	want := map[string]string{"team": "a", RevisionAnnotation: "1", DesiredReplicasAnnotation: "4", MaxReplicasAnnotation: "5"}
	for k, v := range want {
		if r.Annotations[k] != v {
			t.Errorf("%s = %q, want %q", k, r.Annotations[k], v)
		}
	}
	if _, ok := r.Annotations[corev1.LastAppliedConfigAnnotation]; ok {
		t.Error("last-applied-configuration must not be copied")
	}
	// Rolling back to r makes it revision 5 and records revision 1.
	setNewReplicaSetAnnotations(d, r, "5", true)
	if r.Annotations[RevisionAnnotation] != "5" || r.Annotations[RevisionHistoryAnnotation] != "1" {
		t.Errorf("after rollback: revision %q history %q", r.Annotations[RevisionAnnotation], r.Annotations[RevisionHistoryAnnotation])
	}
	setNewReplicaSetAnnotations(d, r, "7", true)
	if r.Annotations[RevisionHistoryAnnotation] != "1,5" {
		t.Errorf("history %q, want 1,5", r.Annotations[RevisionHistoryAnnotation])
	}
	// A lower revision never lowers the annotation.
	if setNewReplicaSetAnnotations(d, r, "3", true) || r.Annotations[RevisionAnnotation] != "7" {
		t.Errorf("revision lowered to %q", r.Annotations[RevisionAnnotation])
	}
}
