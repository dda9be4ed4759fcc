package job

import (
	"sync"
	"time"

	"k8s.io/apimachinery/pkg/types"
)

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
