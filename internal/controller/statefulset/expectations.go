package statefulset

import (
	"sync"
	"time"
)

// expectations remembers, per StatefulSet key, the pod creations and
// deletions asked for and not yet seen in the pod cache; while some are
// outstanding no pods are created or deleted (a lagging cache would cause
// duplicates). Entries older than ttl count as satisfied. Safe for
// concurrent use.
type expectations struct {
	ttl time.Duration
	now func() time.Time

	mu sync.Mutex
	m  map[string]*expectation
}

type expectation struct {
	adds    int
	deletes map[string]bool
	at      time.Time
}

func newExpectations(ttl time.Duration, now func() time.Time) *expectations {
	return &expectations{ttl: ttl, now: now, m: map[string]*expectation{}}
}

func (e *expectations) satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && len(x.deletes) == 0) {
		return true
	}
	return e.now().Sub(x.at) > e.ttl
}

// expect records n creations and the deletions of podKeys for key.
func (e *expectations) expect(key string, n int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: n, deletes: map[string]bool{}, at: e.now()}
	for _, k := range podKeys {
		x.deletes[k] = true
	}
	e.m[key] = x
}

func (e *expectations) creationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

func (e *expectations) deletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

func (e *expectations) forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
