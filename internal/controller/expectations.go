package controller

import (
	"sync"
	"time"
)

// Expectations remembers, per root object key, the pod creations and
// deletions asked for and not yet seen in the pod cache; while some are
// outstanding no pods are created or deleted (a lagging cache would cause
// duplicates). Entries older than ttl count as satisfied. Safe for
// concurrent use.
type Expectations struct {
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

// NewExpectations returns expectations that count as satisfied after ttl,
// measured with now.
func NewExpectations(ttl time.Duration, now func() time.Time) *Expectations {
	return &Expectations{ttl: ttl, now: now, m: map[string]*expectation{}}
}

// Satisfied reports whether key may act on its pod cache: nothing is
// outstanding, or what is outstanding has expired.
func (e *Expectations) Satisfied(key string) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	x, ok := e.m[key]
	if !ok || (x.adds <= 0 && len(x.deletes) == 0) {
		return true
	}
	return e.now().Sub(x.at) > e.ttl
}

// Expect records n creations and the deletions of podKeys for key.
func (e *Expectations) Expect(key string, n int, podKeys []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	x := &expectation{adds: n, deletes: map[string]bool{}, at: e.now()}
	for _, k := range podKeys {
		x.deletes[k] = true
	}
	e.m[key] = x
}

// CreationObserved counts one expected creation of key as seen.
func (e *Expectations) CreationObserved(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok && x.adds > 0 {
		x.adds--
	}
}

// DeletionObserved counts the expected deletion of podKey as seen.
func (e *Expectations) DeletionObserved(key, podKey string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if x, ok := e.m[key]; ok {
		delete(x.deletes, podKey)
	}
}

// Forget drops key's expectations (its root object is gone).
func (e *Expectations) Forget(key string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.m, key)
}
