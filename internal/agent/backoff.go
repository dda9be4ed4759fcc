package agent

import (
	"strings"
	"sync"
	"time"
)

// backoff is the crash-loop back-off of containers, as the kubelet keeps
// it: a container that failed is restarted at once the first time; each
// failure after that waits the current delay (base, doubling up to max)
// counted from when the container finished. A failure more than reset
// after the previous one starts over at base.
type backoff struct {
	base, max, reset time.Duration
	now              func() time.Time

	mu      sync.Mutex
	entries map[string]*backoffEntry
}

type backoffEntry struct {
	delay time.Duration
	last  time.Time // the failure the delay was computed for
}

func newBackoff(base, max, reset time.Duration) *backoff {
	return &backoff{base: base, max: max, reset: reset, now: time.Now, entries: map[string]*backoffEntry{}}
}

// wait returns how long key must still wait before restarting after a
// failure at finishedAt (0: restart now), and the current delay.
func (b *backoff) wait(key string, finishedAt time.Time) (time.Duration, time.Duration) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	if e == nil || finishedAt.Sub(e.last) > b.reset {
		return 0, b.base
	}
	if w := e.delay - b.now().Sub(finishedAt); w > 0 {
		return w, e.delay
	}
	return 0, e.delay
}

// next records a restart after the failure at finishedAt: the delay for
// the next failure doubles. Recording the same failure twice changes
// nothing.
func (b *backoff) next(key string, finishedAt time.Time) {
	b.mu.Lock()
	defer b.mu.Unlock()
	e := b.entries[key]
	switch {
	case e == nil || finishedAt.Sub(e.last) > b.reset:
		b.entries[key] = &backoffEntry{delay: b.base, last: finishedAt}
	case finishedAt.Equal(e.last):
	default:
		e.delay = min(2*e.delay, b.max)
		e.last = finishedAt
	}
}

// forgetPrefix drops every key starting with prefix (a pod's UID).
func (b *backoff) forgetPrefix(prefix string) {
	b.mu.Lock()
	for k := range b.entries {
		if strings.HasPrefix(k, prefix) {
			delete(b.entries, k)
		}
	}
	b.mu.Unlock()
}
