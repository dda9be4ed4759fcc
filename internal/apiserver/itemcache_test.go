package apiserver

import (
	"bytes"
	"fmt"
	"testing"
)

func TestItemCache(t *testing.T) {
	t.Run("an entry answers only its revision and variant", func(t *testing.T) {
		c := newItemCache(1 << 20)
		c.put("pods/ns/a", 5, "json v1", []byte("a5"))
		if got := c.get("pods/ns/a", 5, "json v1"); string(got) != "a5" {
			t.Fatalf("get = %q, want a5", got)
		}
		for _, miss := range []struct {
			key     string
			rev     int64
			variant string
		}{{"pods/ns/a", 6, "json v1"}, {"pods/ns/a", 4, "json v1"}, {"pods/ns/a", 5, "protobuf v1"}, {"pods/ns/b", 5, "json v1"}} {
			if got := c.get(miss.key, miss.rev, miss.variant); got != nil {
				t.Errorf("get(%s, %d, %s) = %q, want a miss", miss.key, miss.rev, miss.variant, got)
			}
		}
	})

	t.Run("a new revision replaces every variant", func(t *testing.T) {
		c := newItemCache(1 << 20)
		c.put("k", 1, "json v1", []byte("json-1"))
		c.put("k", 1, "protobuf v1", []byte("pb-1"))
		c.put("k", 2, "json v1", []byte("json-22"))
		if got := c.get("k", 2, "json v1"); string(got) != "json-22" {
			t.Fatalf("get = %q", got)
		}
		if got := c.get("k", 1, "protobuf v1"); got != nil {
			t.Errorf("revision 1 protobuf survived revision 2: %q", got)
		}
		if c.size != len("json-22") {
			t.Errorf("size = %d, want %d", c.size, len("json-22"))
		}
	})

	t.Run("past its size it drops the least recently used", func(t *testing.T) {
		const item = 100
		c := newItemCache(40 * item)
		data := bytes.Repeat([]byte("x"), item)
		for i := range 40 {
			c.put(fmt.Sprint(i), 1, "v", data)
		}
		// Touch the first ten: they are now the most recently used.
		for i := range 10 {
			if c.get(fmt.Sprint(i), 1, "v") == nil {
				t.Fatalf("entry %d missing before the cache was full", i)
			}
		}
		c.put("new", 1, "v", data) // 41 items: over the size
		if c.size > 40*item*3/4 {
			t.Errorf("size %d after shrinking, want at most %d", c.size, 40*item*3/4)
		}
		for i := range 10 {
			if c.get(fmt.Sprint(i), 1, "v") == nil {
				t.Errorf("recently used entry %d was dropped", i)
			}
		}
		if c.get("new", 1, "v") == nil {
			t.Error("the newest entry was dropped")
		}
		if c.get("10", 1, "v") != nil {
			t.Error("the least recently used entry survived")
		}
	})

	t.Run("an item too large for it is not kept", func(t *testing.T) {
		c := newItemCache(1600)
		c.put("big", 1, "v", make([]byte, 101))
		if c.get("big", 1, "v") != nil || c.size != 0 {
			t.Errorf("an item of more than 1/16 of the cache was kept")
		}
	})
}
