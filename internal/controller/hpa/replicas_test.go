package hpa

import (
	"errors"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// testPod is a running pod started an hour before t0, ready since start+1m,
// requesting cpuMilli of CPU and 100Mi of memory.
type testPod struct {
	phase      corev1.PodPhase
	ready      corev1.ConditionStatus // "" : no Ready condition
	started    time.Time
	transition time.Time
	cpuMilli   int64
	noRequest  bool
	deleting   bool
}

func running(cpuMilli int64) testPod {
	return testPod{phase: corev1.PodRunning, ready: corev1.ConditionTrue, started: t0.Add(-time.Hour), transition: t0.Add(-59 * time.Minute), cpuMilli: cpuMilli}
}

func makePods(specs ...testPod) []*corev1.Pod {
	var out []*corev1.Pod
	for i, s := range specs {
		p := &corev1.Pod{ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("p%d", i), Namespace: "ns"}}
		c := corev1.Container{Name: "app"}
		if !s.noRequest {
			c.Resources.Requests = corev1.ResourceList{
				corev1.ResourceCPU:    *resource.NewMilliQuantity(s.cpuMilli, resource.DecimalSI),
				corev1.ResourceMemory: resource.MustParse("100Mi"),
			}
		}
		p.Spec.Containers = []corev1.Container{c}
		p.Status.Phase = s.phase
		if !s.started.IsZero() {
			st := metav1.NewTime(s.started)
			p.Status.StartTime = &st
		}
		if s.ready != "" {
			p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: s.ready, LastTransitionTime: metav1.NewTime(s.transition)}}
		}
		if s.deleting {
			p.DeletionTimestamp = &metav1.Time{Time: t0}
		}
		out = append(out, p)
	}
	return out
}

// samples maps pod index to usage (milli-units); -1 means no sample.
func samples(values ...int64) PodMetrics {
	out := PodMetrics{}
	for i, v := range values {
		if v >= 0 {
			out[fmt.Sprintf("p%d", i)] = PodMetric{Timestamp: t0, Window: 30 * time.Second, Value: v}
		}
	}
	return out
}

func input(current int32, pods []*corev1.Pod, m PodMetrics, res corev1.ResourceName) resourceInput {
	return resourceInput{
		currentReplicas: current, pods: pods, metrics: m, resource: res,
		tolerance: Tolerance{Down: 0.1, Up: 0.1},
		timing:    podTiming{now: t0, cpuInitializationPeriod: 5 * time.Minute, initialReadinessDelay: 30 * time.Second},
	}
}

// Cases follow Kubernetes' replica_calculator_test.go and the algorithm
// documented at kubernetes.io (desired = ceil(current × usage/target)).
// neverReadyPod has run for an hour and is unready; its readiness last
// changed 10 s after it started: it has never been ready.
func neverReadyPod() testPod {
	return testPod{phase: corev1.PodRunning, ready: corev1.ConditionFalse, started: t0.Add(-time.Hour), transition: t0.Add(-time.Hour + 10*time.Second), cpuMilli: 1000}
}

func TestUtilizationReplicas(t *testing.T) {
	unready := neverReadyPod()
	pending := testPod{phase: corev1.PodPending, cpuMilli: 1000}
	// Started a minute ago, ready 10 s ago: the 30 s sample window began
	// before it was ready, so its CPU sample is not trusted yet.
	young := testPod{phase: corev1.PodRunning, ready: corev1.ConditionTrue, started: t0.Add(-time.Minute), transition: t0.Add(-10 * time.Second), cpuMilli: 1000}
	neverReady := neverReadyPod()
	// Long running, unready since recently after having been ready: counts.
	wasReady := testPod{phase: corev1.PodRunning, ready: corev1.ConditionFalse, started: t0.Add(-time.Hour), transition: t0.Add(-time.Minute), cpuMilli: 1000}
	deleting := running(1000)
	deleting.deleting = true
	failed := running(1000)
	failed.phase = corev1.PodFailed

	tests := []struct {
		name     string
		current  int32
		pods     []testPod
		usage    PodMetrics
		target   int32
		want     int32
		wantUtil int32
		wantRaw  int64
		wantErr  error
	}{
		{"usage twice the target doubles", 2, []testPod{running(100), running(100)}, samples(200, 200), 100, 4, 200, 200, nil},
		{"usage half the target halves", 4, []testPod{running(100), running(100), running(100), running(100)}, samples(50, 50, 50, 50), 100, 2, 50, 50, nil},
		{"scale up (testCPUScaleUp)", 3, []testPod{running(1000), running(1000), running(1000)}, samples(300, 500, 700), 30, 5, 50, 500, nil},
		{"scale down (testCPUScaleDown)", 5, []testPod{running(1000), running(1000), running(1000), running(1000), running(1000)}, samples(100, 300, 500, 250, 250), 50, 3, 28, 280, nil},
		{"within tolerance keeps the count", 3, []testPod{running(1000), running(1000), running(1000)}, samples(1050, 1050, 1050), 100, 3, 105, 1050, nil},
		{"just outside tolerance scales", 3, []testPod{running(1000), running(1000), running(1000)}, samples(1110, 1110, 1110), 100, 4, 111, 1110, nil},
		{"unready pod counts as 0 on scale-up (testCPUScaleUpUnreadyLessScale)", 3, []testPod{unready, running(1000), running(1000)}, samples(300, 500, 700), 30, 4, 60, 600, nil},
		{"pending pod counts as 0 on scale-up", 3, []testPod{pending, running(1000), running(1000)}, samples(-1, 500, 700), 30, 4, 60, 600, nil},
		{"unready pods do not block a scale-down", 3, []testPod{unready, running(1000), running(1000)}, samples(100, 100, 100), 50, 1, 10, 100, nil},
		{"missing sample counts as the request on scale-down", 4, []testPod{running(1000), running(1000), running(1000), running(1000)}, samples(100, 100, 100, -1), 50, 3, 10, 100, nil},
		{"missing sample counts as 0 on scale-up", 4, []testPod{running(1000), running(1000), running(1000), running(1000)}, samples(900, 900, 900, -1), 50, 6, 90, 900, nil},
		{"missing sample that would flip the direction keeps the count", 2, []testPod{running(1000), running(1000)}, samples(1200, -1), 100, 2, 120, 1200, nil},
		// The ignored pod's sample is replaced by 0 on a scale-up: 50%/25%.
		{"young pod's CPU sample is ignored", 2, []testPod{young, running(1000)}, samples(2000, 1000), 25, 4, 100, 1000, nil},
		{"never-ready pod's sample is ignored", 2, []testPod{neverReady, running(1000)}, samples(2000, 1000), 25, 4, 100, 1000, nil},
		// 100%/50% with the unready pod, 50%/50% without: no change.
		{"an ignored sample that brings the ratio within tolerance keeps the count", 2, []testPod{young, running(1000)}, samples(2000, 1000), 50, 2, 100, 1000, nil},
		{"pod that was ready counts", 2, []testPod{wasReady, running(1000)}, samples(2000, 1000), 50, 6, 150, 1500, nil},
		{"terminating and failed pods are ignored", 1, []testPod{deleting, failed, running(1000)}, samples(5000, 5000, 1000), 50, 2, 100, 1000, nil},
		{"no ready pod with a sample", 2, []testPod{unready, pending}, samples(500, -1), 50, 0, 0, 0, ErrNoReadyMetric},
		{"no pods", 2, nil, samples(), 50, 0, 0, 0, ErrNoPods},
		{"missing request", 1, []testPod{{phase: corev1.PodRunning, ready: corev1.ConditionTrue, started: t0.Add(-time.Hour), transition: t0.Add(-time.Hour), noRequest: true}}, samples(100), 50, 0, 0, 0, ErrMissingRequest},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, util, raw, err := utilizationReplicas(input(tt.current, makePods(tt.pods...), tt.usage, corev1.ResourceCPU), tt.target)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			if got != tt.want || util != tt.wantUtil || raw != tt.wantRaw {
				t.Errorf("replicas %d utilization %d raw %d, want %d %d %d", got, util, raw, tt.want, tt.wantUtil, tt.wantRaw)
			}
		})
	}
}

func TestAverageValueReplicas(t *testing.T) {
	unready := neverReadyPod()
	mi := int64(1 << 20 * 1000) // 1Mi in milli-units
	tests := []struct {
		name    string
		res     corev1.ResourceName
		current int32
		pods    []testPod
		usage   PodMetrics
		target  int64
		want    int32
		wantAvg int64
	}{
		{"memory above target", corev1.ResourceMemory, 3, []testPod{running(1), running(1), running(1)}, samples(200*mi, 200*mi, 200*mi), 100 * mi, 6, 200 * mi},
		{"memory below target", corev1.ResourceMemory, 4, []testPod{running(1), running(1), running(1), running(1)}, samples(20*mi, 20*mi, 20*mi, 20*mi), 100 * mi, 1, 20 * mi},
		{"within tolerance", corev1.ResourceMemory, 2, []testPod{running(1), running(1)}, samples(95*mi, 95*mi), 100 * mi, 2, 95 * mi},
		{"memory ignores readiness timing", corev1.ResourceMemory, 2, []testPod{unready, running(1)}, samples(300*mi, 300*mi), 100 * mi, 6, 300 * mi},
		{"missing sample counts as the target on scale-down", corev1.ResourceMemory, 4, []testPod{running(1), running(1), running(1), running(1)}, samples(10*mi, 10*mi, 10*mi, -1), 100 * mi, 2, 10 * mi},
		{"cpu average value, unready as 0 on scale-up", corev1.ResourceCPU, 3, []testPod{unready, running(1000), running(1000)}, samples(900, 900, 900), 300, 6, 900},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, avg, err := averageValueReplicas(input(tt.current, makePods(tt.pods...), tt.usage, tt.res), tt.target)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want || avg != tt.wantAvg {
				t.Errorf("replicas %d average %d, want %d %d", got, avg, tt.want, tt.wantAvg)
			}
		})
	}
}
