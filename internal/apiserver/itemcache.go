package apiserver

import (
	"slices"
	"sync"
)

// itemCache remembers how stored objects are encoded as items of list
// responses, so that listing an unchanged collection again costs a read of
// etcd and a copy per object instead of a decode and an encode
// (kube-apiserver's watch cache saves the decode the same way; it encodes
// each time).
//
// An entry belongs to one storage key and is valid for exactly one
// modification revision: etcd never writes two values of a key at one
// revision, so an entry found at the revision etcd returned is that value,
// whichever server wrote it. One key can be served as several versions
// and media types; each has its own encoding in the entry.
//
// The cache holds at most max bytes of encodings. Past that it drops the
// least recently used entries until a quarter of the room is free. Safe
// for concurrent use.
type itemCache struct {
	mu      sync.Mutex
	max     int
	size    int
	clock   uint64
	entries map[string]*cachedItem // by storage key
}

// cachedItem holds the encodings of one stored value.
type cachedItem struct {
	rev  int64
	used uint64 // clock of the last hit or fill
	encs []itemEncoding
}

// itemEncoding is one encoding of a stored value; variant names the media
// type and served group/version.
type itemEncoding struct {
	variant string
	data    []byte
}

// defaultItemCacheBytes is the default size of the list item cache: the
// JSON and protobuf items of about 10,000 pods.
const defaultItemCacheBytes = 64 << 20

func newItemCache(max int) *itemCache {
	return &itemCache{max: max, entries: make(map[string]*cachedItem)}
}

// get returns the encoding of key's value at revision rev in variant, or
// nil.
func (c *itemCache) get(key string, rev int64, variant string) []byte {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := c.entries[key]
	if e == nil || e.rev != rev {
		return nil
	}
	for _, enc := range e.encs {
		if enc.variant == variant {
			c.clock++
			e.used = c.clock
			return enc.data
		}
	}
	return nil
}

// put remembers data as the encoding of key's value at revision rev in
// variant. An entry of another revision is replaced.
func (c *itemCache) put(key string, rev int64, variant string, data []byte) {
	if len(data) > c.max/16 {
		return // one object must not push out a whole collection
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	c.clock++
	e := c.entries[key]
	if e == nil || e.rev != rev {
		if e != nil {
			c.size -= e.bytes()
		}
		e = &cachedItem{rev: rev}
		c.entries[key] = e
	}
	e.used = c.clock
	for i, enc := range e.encs {
		if enc.variant == variant {
			c.size += len(data) - len(enc.data)
			e.encs[i].data = data
			c.shrink()
			return
		}
	}
	e.encs = append(e.encs, itemEncoding{variant: variant, data: data})
	c.size += len(data)
	c.shrink()
}

// shrink drops the least recently used entries while the cache is over
// its size, until it is at three quarters of it.
func (c *itemCache) shrink() {
	if c.size <= c.max {
		return
	}
	type aged struct {
		key  string
		used uint64
	}
	all := make([]aged, 0, len(c.entries))
	for k, e := range c.entries {
		all = append(all, aged{k, e.used})
	}
	slices.SortFunc(all, func(a, b aged) int {
		switch {
		case a.used < b.used:
			return -1
		case a.used > b.used:
			return 1
		}
		return 0
	})
	for _, a := range all {
		if c.size <= c.max/4*3 {
			break
		}
		c.size -= c.entries[a.key].bytes()
		delete(c.entries, a.key)
	}
}

func (e *cachedItem) bytes() int {
	n := 0
	for _, enc := range e.encs {
		n += len(enc.data)
	}
	return n
}
