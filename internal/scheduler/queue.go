package scheduler

import (
	"container/heap"
	"context"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/types"
)

// queue holds the pods waiting to be scheduled:
//
//	      Add / moved after a cluster change (back-off over)
//	          ▼
//	active (by priority, then age) ──Pop──► in flight ──done──► (gone)
//	    ▲          ▲                          │ failed
//	    │          └── backoff (by expiry) ◄──┤ (an error, or the cluster
//	    │                                     │  changed during the cycle)
//	    └── moveAll / flush ── unschedulable ◄┘ (nothing changed)
//
// A failed pod waits PodInitialBackoff doubling per attempt up to
// PodMaxBackoff. Unschedulable pods wait for a cluster change that could
// help (moveAll) or for the periodic flush.
type queue struct {
	initialBackoff, maxBackoff time.Duration
	now                        func() time.Time

	mu            sync.Mutex
	wake          chan struct{} // signalled (non-blocking) when active gains a pod
	active        podHeap
	backoff       podHeap
	unschedulable map[types.UID]*queuedPod
	inFlight      map[types.UID]*queuedPod
	// cycle counts Pops; moveCycle is the cycle during which the last
	// cluster change arrived, so a pod failing in a cycle that a change
	// overtook is retried rather than parked.
	cycle, moveCycle int64
}

type queuedPod struct {
	pod      *corev1.Pod
	attempts int
	added    time.Time // first time queued (ordering among equal priorities)
	failedAt time.Time
	// parkedAt is when it became unschedulable (for the periodic flush).
	parkedAt time.Time
	// updated is set when the pod changed while in flight.
	updated bool
	cycle   int64
	index   int
	byTime  bool // heap ordering: backoff expiry instead of priority
	expiry  time.Time
}

func newQueue(initial, maxBackoff time.Duration) *queue {
	q := &queue{
		initialBackoff: initial, maxBackoff: maxBackoff, now: time.Now,
		wake:          make(chan struct{}, 1),
		unschedulable: map[types.UID]*queuedPod{},
		inFlight:      map[types.UID]*queuedPod{},
	}
	q.backoff.byTime = true
	return q
}

func (q *queue) signal() {
	select {
	case q.wake <- struct{}{}:
	default:
	}
}

// add queues a new pending pod.
func (q *queue) add(pod *corev1.Pod) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if q.findLocked(pod.UID) != nil {
		return
	}
	heap.Push(&q.active, &queuedPod{pod: pod, added: q.now()})
	q.signal()
}

func (q *queue) findLocked(uid types.UID) *queuedPod {
	if p := q.active.find(uid); p != nil {
		return p
	}
	if p := q.backoff.find(uid); p != nil {
		return p
	}
	if p, ok := q.unschedulable[uid]; ok {
		return p
	}
	return q.inFlight[uid]
}

// update replaces a pending pod's object. A pod parked as unschedulable
// whose spec, labels or annotations changed is tried again (status-only
// changes, such as our own PodScheduled condition, leave it parked).
// It reports whether the pod was known.
func (q *queue) update(pod *corev1.Pod) bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p, ok := q.inFlight[pod.UID]; ok {
		p.updated = p.updated || relevantChange(p.pod, pod)
		p.pod = pod
		return true
	}
	if p, ok := q.unschedulable[pod.UID]; ok {
		changed := relevantChange(p.pod, pod)
		p.pod = pod
		if changed {
			delete(q.unschedulable, pod.UID)
			q.requeueLocked(p)
		}
		return true
	}
	if p := q.active.find(pod.UID); p != nil {
		p.pod = pod
		heap.Fix(&q.active, p.index)
		return true
	}
	if p := q.backoff.find(pod.UID); p != nil {
		p.pod = pod
		return true
	}
	return false
}

func relevantChange(old, cur *corev1.Pod) bool {
	return !maps.Equal(old.Labels, cur.Labels) || !maps.Equal(old.Annotations, cur.Annotations) ||
		!equality.Semantic.DeepEqual(old.Spec, cur.Spec)
}

// remove drops a pod (deleted, or bound elsewhere).
func (q *queue) remove(uid types.UID) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if p := q.active.find(uid); p != nil {
		heap.Remove(&q.active, p.index)
	}
	if p := q.backoff.find(uid); p != nil {
		heap.Remove(&q.backoff, p.index)
	}
	delete(q.unschedulable, uid)
	delete(q.inFlight, uid)
}

// pop blocks until a pod is active or ctx ends (nil).
func (q *queue) pop(ctx context.Context) *queuedPod {
	for {
		q.mu.Lock()
		if q.active.Len() > 0 {
			p := heap.Pop(&q.active).(*queuedPod)
			q.cycle++
			p.cycle = q.cycle
			p.attempts++
			p.updated = false
			q.inFlight[p.pod.UID] = p
			q.mu.Unlock()
			return p
		}
		q.mu.Unlock()
		select {
		case <-ctx.Done():
			return nil
		case <-q.wake:
		}
	}
}

// done ends a pod's cycle successfully (it is assumed and binding).
func (q *queue) done(uid types.UID) {
	q.mu.Lock()
	delete(q.inFlight, uid)
	q.mu.Unlock()
}

// failed ends a pod's cycle without a node. unschedulable says no node
// fitted (rather than an error); such a pod is parked until the cluster
// changes, unless it already has since the cycle began.
func (q *queue) failed(p *queuedPod, unschedulable bool) {
	q.mu.Lock()
	defer q.mu.Unlock()
	if _, ok := q.inFlight[p.pod.UID]; !ok {
		return // deleted or bound meanwhile
	}
	delete(q.inFlight, p.pod.UID)
	p.failedAt = q.now()
	if unschedulable && !p.updated && q.moveCycle < p.cycle {
		p.parkedAt = p.failedAt
		q.unschedulable[p.pod.UID] = p
		return
	}
	q.requeueLocked(p)
}

func (q *queue) backoffDuration(p *queuedPod) time.Duration {
	d := q.initialBackoff
	for i := 1; i < p.attempts && d < q.maxBackoff; i++ {
		d *= 2
	}
	return min(d, q.maxBackoff)
}

// requeueLocked puts p in backoff, or in active if its back-off is over.
func (q *queue) requeueLocked(p *queuedPod) {
	p.expiry = p.failedAt.Add(q.backoffDuration(p))
	if !p.failedAt.IsZero() && q.now().Before(p.expiry) {
		heap.Push(&q.backoff, p)
		return
	}
	heap.Push(&q.active, p)
	q.signal()
}

// moveAll retries every unschedulable pod (after a cluster change that
// may help them).
func (q *queue) moveAll() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.moveCycle = q.cycle
	for uid, p := range q.unschedulable {
		delete(q.unschedulable, uid)
		q.requeueLocked(p)
	}
}

// flush moves pods whose back-off is over to active, and pods parked for
// longer than maxPark back to the queue.
func (q *queue) flush(maxPark time.Duration) {
	q.mu.Lock()
	defer q.mu.Unlock()
	now := q.now()
	for q.backoff.Len() > 0 && !now.Before(q.backoff.items[0].expiry) {
		heap.Push(&q.active, heap.Pop(&q.backoff))
		q.signal()
	}
	for uid, p := range q.unschedulable {
		if now.Sub(p.parkedAt) >= maxPark {
			delete(q.unschedulable, uid)
			q.requeueLocked(p)
		}
	}
}

// lengths returns the number of pods active, backing off and parked.
func (q *queue) lengths() (active, backoff, unschedulable int) {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.active.Len(), q.backoff.Len(), len(q.unschedulable)
}

// podHeap orders by priority then age, or by expiry when byTime.
type podHeap struct {
	items  []*queuedPod
	byUID  map[types.UID]*queuedPod
	byTime bool
}

func priority(p *corev1.Pod) int32 {
	if p.Spec.Priority != nil {
		return *p.Spec.Priority
	}
	return 0
}

func (h *podHeap) find(uid types.UID) *queuedPod { return h.byUID[uid] }
func (h *podHeap) Len() int                      { return len(h.items) }
func (h *podHeap) Less(i, j int) bool {
	a, b := h.items[i], h.items[j]
	if h.byTime {
		return a.expiry.Before(b.expiry)
	}
	if pa, pb := priority(a.pod), priority(b.pod); pa != pb {
		return pa > pb
	}
	return a.added.Before(b.added)
}
func (h *podHeap) Swap(i, j int) {
	h.items[i], h.items[j] = h.items[j], h.items[i]
	h.items[i].index, h.items[j].index = i, j
}
func (h *podHeap) Push(x any) {
	p := x.(*queuedPod)
	p.index = len(h.items)
	h.items = append(h.items, p)
	if h.byUID == nil {
		h.byUID = map[types.UID]*queuedPod{}
	}
	h.byUID[p.pod.UID] = p
}
func (h *podHeap) Pop() any {
	n := len(h.items) - 1
	p := h.items[n]
	h.items[n] = nil
	h.items = h.items[:n]
	delete(h.byUID, p.pod.UID)
	return p
}
