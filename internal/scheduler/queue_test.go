package scheduler

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

// fakeClock drives the queue's back-off without sleeping.
type fakeClock struct{ t time.Time }

func (c *fakeClock) now() time.Time          { return c.t }
func (c *fakeClock) advance(d time.Duration) { c.t = c.t.Add(d) }
func newTestQueue() (*queue, *fakeClock) {
	clk := &fakeClock{t: time.Unix(1000, 0)}
	q := newQueue(time.Second, 10*time.Second)
	q.now = clk.now
	return q, clk
}

func popNow(t *testing.T, q *queue) *queuedPod {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	cancel() // pop returns nil at once when nothing is active
	if p := q.pop(ctx); p != nil {
		return p
	}
	return nil
}

func names(t *testing.T, q *queue) []string {
	t.Helper()
	var out []string
	for p := popNow(t, q); p != nil; p = popNow(t, q) {
		out = append(out, p.pod.Name)
		q.done(p.pod.UID)
	}
	return out
}

func TestQueueOrder(t *testing.T) {
	q, clk := newTestQueue()
	q.add(st.Pod("low").Obj())
	clk.advance(time.Millisecond)
	q.add(st.Pod("high").Priority(10).Obj())
	clk.advance(time.Millisecond)
	q.add(st.Pod("low2").Obj())
	got := names(t, q)
	want := []string{"high", "low", "low2"}
	if len(got) != 3 || got[0] != want[0] || got[1] != want[1] || got[2] != want[2] {
		t.Errorf("order %v, want %v", got, want)
	}
}

func TestQueueUnschedulableAndBackoff(t *testing.T) {
	q, clk := newTestQueue()
	pod := st.Pod("p").Obj()
	q.add(pod)
	p := popNow(t, q)
	q.failed(p, true)
	if a, b, u := q.lengths(); a != 0 || b != 0 || u != 1 {
		t.Fatalf("after failure: active %d backoff %d unschedulable %d, want parked", a, b, u)
	}

	// A status-only update (our own condition) leaves it parked.
	withStatus := pod.DeepCopy()
	withStatus.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodScheduled, Status: corev1.ConditionFalse}}
	q.update(withStatus)
	if _, _, u := q.lengths(); u != 1 {
		t.Fatal("status-only update moved the pod")
	}

	// A cluster change moves it to back-off (1s not over yet), then active.
	q.moveAll()
	if a, b, _ := q.lengths(); a != 0 || b != 1 {
		t.Fatalf("after moveAll: active %d backoff %d, want backoff", a, b)
	}
	q.flush(time.Hour)
	if a, _, _ := q.lengths(); a != 0 {
		t.Fatal("left back-off early")
	}
	clk.advance(time.Second)
	q.flush(time.Hour)
	if a, _, _ := q.lengths(); a != 1 {
		t.Fatal("back-off over but not active")
	}

	// Second failure: back-off doubles to 2s.
	p = popNow(t, q)
	q.failed(p, false)
	clk.advance(1500 * time.Millisecond)
	q.flush(time.Hour)
	if a, b, _ := q.lengths(); a != 0 || b != 1 {
		t.Fatalf("second back-off: active %d backoff %d, want still backing off", a, b)
	}
	clk.advance(time.Second)
	q.flush(time.Hour)
	if a, _, _ := q.lengths(); a != 1 {
		t.Fatal("second back-off over but not active")
	}
}

func TestQueueChangeDuringCycleRetries(t *testing.T) {
	q, _ := newTestQueue()
	q.add(st.Pod("p").Obj())
	p := popNow(t, q)
	q.moveAll() // e.g. a node added while the pod was being scheduled
	q.failed(p, true)
	if _, b, u := q.lengths(); u != 0 || b != 1 {
		t.Errorf("backoff %d unschedulable %d: a pod whose cycle missed a cluster change must be retried", b, u)
	}
}

func TestQueuePeriodicFlush(t *testing.T) {
	q, clk := newTestQueue()
	q.add(st.Pod("p").Obj())
	q.failed(popNow(t, q), true)
	clk.advance(29 * time.Second)
	q.flush(30 * time.Second)
	if _, _, u := q.lengths(); u != 1 {
		t.Fatal("flushed too early")
	}
	clk.advance(time.Second)
	q.flush(30 * time.Second)
	if a, _, u := q.lengths(); u != 0 || a != 1 {
		t.Fatalf("after 30s: active %d unschedulable %d, want active", a, u)
	}
}

func TestQueueRemove(t *testing.T) {
	q, _ := newTestQueue()
	pod := st.Pod("p").Obj()
	q.add(pod)
	q.remove(pod.UID)
	if p := popNow(t, q); p != nil {
		t.Fatalf("popped removed pod %s", p.pod.Name)
	}
	q.add(pod)
	p := popNow(t, q)
	q.remove(pod.UID) // deleted while in flight
	q.failed(p, true)
	if a, b, u := q.lengths(); a+b+u != 0 {
		t.Error("a pod deleted during its cycle came back")
	}
}
