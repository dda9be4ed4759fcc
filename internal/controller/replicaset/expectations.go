package replicaset

import (
	"sync"
	"time"
)

// expectations remembers, per ReplicaSet key, the pod creations and
// deletions the controller has asked for and not yet seen in its pod
// cache. While some are outstanding the cache cannot be trusted to count
// pods, so the ReplicaSet is not scaled again (a slow informer would
// otherwise cause double creates or deletes). Entries older than ttl are
// considered satisfied, so a lost event never wedges a ReplicaSet.
//
// Deletions are tracked by pod key ("namespace/name"), so a delete event
// observed twice (an update with deletionTimestamp, then the delete) counts
// once. It is safe for concurrent use.
type expectations struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]struct{} // pod keys expected to go
	at      time.Time
}

func newExpectations(ttl time.Duration) *expectations {
	return &expectations{ttl: ttl, now: time.Now, m: map[string]*expectation{}}
}

// satisfied reports whether key may be scaled: nothing is outstanding, the
// outstanding expectations expired, or none were ever recorded.
func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok {
		return true
	}
	if x.adds <= 0 && len(x.deletes) == 0 {
		return true
	}
	return e.now().Sub(x.at) > e.ttl
}

// expectCreations records that n pods are about to be created for key,
// replacing whatever was outstanding.
func (e *expectations) expectCreations(key string, n int) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.m[key] = &expectation{adds: n, deletes: map[string]struct{}{}, at: e.now()}
}

// expectDeletions records that the pods podKeys are about to be deleted for
// key, replacing whatever was outstanding.
func (e *expectations) expectDeletions(key string, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{deletes: make(map[string]struct{}, len(podKeys)), at: e.now()}
	for _, k := range podKeys {
		x.deletes[k] = struct{}{}
	}
	e.m[key] = x
}

// creationObserved lowers the outstanding creations of key by one (a pod
// was seen, or its create failed or was skipped).
func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// deletionObserved marks podKey as gone for key.
func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// forget drops key (its ReplicaSet is gone).
func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
