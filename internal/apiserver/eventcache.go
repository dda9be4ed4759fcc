package apiserver

import (
	"sync"

	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/watch"
)

// eventCache shares the encoding of a watch event among the watches that
// send it in the same form: each watch of a resource reads the change from
// storage itself, but with 1,000 watchers an event is encoded once per
// media type instead of 1,000 times (kube-apiserver's watch cache caches
// encodings per event the same way). It keeps the most recent
// eventCacheSize events; an encoding larger than eventCacheMaxBytes is not
// kept. Safe for concurrent use.
type eventCache struct {
	mu      sync.Mutex
	entries map[eventKey]*cachedEvent
	ring    []eventKey // insertion order, for eviction
	next    int        // oldest slot of ring once it is full
}

const (
	eventCacheSize     = 256
	eventCacheMaxBytes = 256 << 10
)

// eventKey identifies the encoding of one event: the object at a storage
// key and revision, served as one resource version, as one event type, in
// one media type.
type eventKey struct {
	gvr       schema.GroupVersionResource
	mediaType string
	key       string
	rev       int64
	typ       watch.EventType
}

// cachedEvent is one encoded event, computed once.
type cachedEvent struct {
	once sync.Once
	data []byte // the encoded metav1.WatchEvent, before stream framing
	err  error
}

func newEventCache() *eventCache {
	return &eventCache{entries: make(map[eventKey]*cachedEvent, eventCacheSize)}
}

// encoded returns the encoding of the event k, computing it with encode if
// no other watch has.
func (c *eventCache) encoded(k eventKey, encode func() ([]byte, error)) ([]byte, error) {
	c.mu.Lock()
	e, ok := c.entries[k]
	if !ok {
		e = &cachedEvent{}
		if len(c.ring) < eventCacheSize {
			c.ring = append(c.ring, k)
		} else {
			delete(c.entries, c.ring[c.next])
			c.ring[c.next] = k
			c.next = (c.next + 1) % eventCacheSize
		}
		c.entries[k] = e
	}
	c.mu.Unlock()
	e.once.Do(func() { e.data, e.err = encode() })
	if e.err == nil && len(e.data) > eventCacheMaxBytes {
		c.mu.Lock()
		if c.entries[k] == e {
			delete(c.entries, k) // its ring slot is reused in turn
		}
		c.mu.Unlock()
	}
	return e.data, e.err
}
