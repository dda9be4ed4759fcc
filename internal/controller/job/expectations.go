package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

// expectations remembers, per Job key, the pod creations the controller
// asked for and has not yet seen in its pod cache. While some are
// outstanding no more pods are created (a slow informer would otherwise
// cause duplicates). Entries older than ttl count as satisfied, so a lost
// event never wedges a Job. Safe for concurrent use.
type expectations struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds int
	at   time.Time
}

func newExpectations(ttl time.Duration, now func() time.Time) *expectations {
	return &expectations{ttl: ttl, now: now, m: map[string]*expectation{}}
}

// satisfied reports whether pods may be created for key.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || x.adds <= 0 {
		return true
	}
	return e.now().Sub(x.at) > e.ttl
}

// expectCreations records that n pods are about to be created for key.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, at: e.now()}
}

// creationObserved lowers the outstanding creations of key by one.
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// forget drops key (its Job is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}

// backoffRecords remembers, per Job key, the failures counted since the
// last success and when the last one was counted; they delay replacement
// pods as Kubernetes' pod back-off does. In memory only: after a restart
// replacements are created at once.
type backoffRecords struct {
	mu sync.Mutex
	m  map[string]backoffRecord
}

type backoffRecord struct {
	failures int
	last     time.Time
}

func newBackoffRecords() *backoffRecords { return &backoffRecords{m: map[string]backoffRecord{}} }

func (b *backoffRecords) get(key string) backoffRecord {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.m[key]
}

// update adds failed failures at now, or resets the record after a success.
func (b *backoffRecords) update(key string, succeeded, failed int, now time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	r := b.m[key]
	if succeeded > 0 {
		r = backoffRecord{}
	}
	if failed > 0 {
		r.failures += failed
		r.last = now
	}
	b.m[key] = r
}

func (b *backoffRecords) forget(key string) {
	b.mu.Lock()
	defer b.mu.Unlock()
	delete(b.m, key)
}

// backoffDelay is how long after r.last a replacement pod may be created:
// base·2^(failures-1), capped at max; zero without failures.
func backoffDelay(r backoffRecord, base, max time.Duration) time.Duration {
	if r.failures <= 0 || base <= 0 {
		return 0
	}
	d := base
	for i := 1; i < r.failures; i++ {
		d *= 2
		if d >= max {
			return max
		}
	}
	if d > max {
		return max
	}
	return d
}

// releasedPods remembers the pods whose tracking finalizer the controller
// removed until the pod cache shows it gone: a lagging pod cache must not
// make a pod already counted (and flushed from uncountedTerminatedPods)
// look newly finished again. Safe for concurrent use.
type releasedPods struct {
	mu sync.Mutex
	m  map[types.UID]bool
}

func newReleasedPods() *releasedPods { return &releasedPods{m: map[types.UID]bool{}} }

func (r *releasedPods) add(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.m[uid] = true
}

// pending reports whether uid's finalizer was removed but the cache does
// not show it yet.
func (r *releasedPods) pending(uid types.UID) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[uid]
}

// observed forgets uid: the cache shows it without the finalizer, or gone.
func (r *releasedPods) observed(uid types.UID) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.m, uid)
}
