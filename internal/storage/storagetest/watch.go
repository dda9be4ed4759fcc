package storagetest

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/storage"
)

func watch(t *testing.T, s storage.Interface, prefix string, fromRev int64) storage.Watch {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	w, err := s.Watch(ctx, prefix, fromRev)
	if err != nil {
		t.Fatalf("Watch(%q, %d): %v", prefix, fromRev, err)
	}
	return w
}

// next returns the next event of w that is not a Progress event.
func next(t *testing.T, w storage.Watch) storage.Event {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended (Err: %v), want an event", w.Err())
			}
			if ev.Type != storage.Progress {
				return ev
			}
		case <-deadline:
			t.Fatalf("no event within %v", timeout)
		}
	}
}

// change is an expected watch event.
type change struct {
	typ   storage.EventType
	key   string
	value string
	rev   int64
	// prev is the expected Prev of a Modified event; other events carry none.
	prev string
}

// wantEvents checks that the next events of w are want, in order.
func wantEvents(t *testing.T, w storage.Watch, want ...change) {
	t.Helper()
	for i, c := range want {
		ev := next(t, w)
		if ev.Type != c.typ || ev.KV.Key != c.key || string(ev.KV.Value) != c.value || ev.KV.Revision != c.rev || ev.Revision != c.rev {
			t.Fatalf("event %d = {%v %s rev %d}, want {%v %q=%q rev %d}", i, ev.Type, fmtKV(ev.KV), ev.Revision, c.typ, c.key, c.value, c.rev)
		}
		// An empty previous value may be reported as nil or empty.
		wantPrev := c.typ == storage.Modified && c.prev != ""
		if gotPrev := len(ev.Prev) > 0; gotPrev != wantPrev || string(ev.Prev) != c.prev || c.typ != storage.Modified && ev.Prev != nil {
			t.Fatalf("event %d (%v %s) Prev = %q (set: %v), want %q (set: %v)", i, ev.Type, fmtKV(ev.KV), ev.Prev, gotPrev, c.prev, wantPrev)
		}
	}
}

// history writes a key's life under prefix: created, updated, deleted,
// then another key created, and returns the expected events.
func history(t *testing.T, s storage.Interface, prefix string) []change {
	t.Helper()
	a, b := prefix+"a", prefix+"b"
	r1 := create(t, s, a, "v1")
	r2 := update(t, s, a, "v2", r1)
	r3 := del(t, s, a)
	r4 := create(t, s, b, "b1")
	return []change{
		{storage.Added, a, "v1", r1, ""},
		{storage.Modified, a, "v2", r2, "v1"}, // with the value it replaced
		{storage.Deleted, a, "v2", r3, ""},    // the last value, at the deletion's revision
		{storage.Added, b, "b1", r4, ""},
	}
}

func testWatchFromNow(t *testing.T, s storage.Interface) {
	base := ns(t)
	prefix := base + "items/"
	create(t, s, prefix+"before", "x") // before the watch: not replayed
	w := watch(t, s, prefix, 0)
	want := history(t, s, prefix)
	// Changes outside the prefix are not delivered: the next event after
	// them is the one under the prefix.
	create(t, s, base+"items", "neighbour")
	create(t, s, base+"items-sibling/c", "neighbour")
	r := create(t, s, prefix+"c", "c1")
	want = append(want, change{storage.Added, prefix + "c", "c1", r, ""})
	wantEvents(t, w, want...)
}

func testWatchFromRevision(t *testing.T, s storage.Interface) {
	base := ns(t)
	tests := []struct {
		name string
		// from picks the watch's start from the revision before the
		// history (r0) and the history's events; want the replay.
		from func(r0 int64, h []change) int64
		want func(h []change) []change
	}{
		{
			name: "replays everything after the revision",
			from: func(r0 int64, _ []change) int64 { return r0 },
			want: func(h []change) []change { return h },
		},
		{
			name: "replays from the middle",
			from: func(_ int64, h []change) int64 { return h[1].rev },
			want: func(h []change) []change { return h[2:] },
		},
		{
			name: "from the latest revision replays nothing",
			from: func(_ int64, h []change) int64 { return h[len(h)-1].rev },
			want: func([]change) []change { return nil },
		},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			prefix := fmt.Sprintf("%sitems%d/", base, i)
			r0 := create(t, s, prefix+"before", "x")
			h := history(t, s, prefix)
			w := watch(t, s, prefix, tt.from(r0, h))
			wantEvents(t, w, tt.want(h)...)
			// Live changes follow the replay.
			r := create(t, s, prefix+"live", "live")
			wantEvents(t, w, change{storage.Added, prefix + "live", "live", r, ""})
		})
	}

	t.Run("future revision waits", func(t *testing.T) {
		prefix := base + "future/"
		cur := currentRevision(t, s)
		w := watch(t, s, prefix, cur+1)     // events after cur+1
		create(t, s, prefix+"skipped", "x") // at cur+1 (or later, if others write)
		r := create(t, s, prefix+"seen", "y")
		ev := next(t, w)
		if ev.Revision <= cur+1 || ev.Revision > r {
			t.Fatalf("first event at revision %d, want in (%d, %d]", ev.Revision, cur+1, r)
		}
	})
}

// testWatchPrev: a Modified event carries the value it replaced, also when
// that value was written before the watch started, live or replayed.
func testWatchPrev(t *testing.T, s storage.Interface) {
	prefix := ns(t)
	key := prefix + "a"
	r1 := create(t, s, key, "v1")
	w := watch(t, s, prefix, 0)
	r2 := update(t, s, key, "v2", r1)
	r3 := update(t, s, key, "v3", r2)
	wantEvents(t, w,
		change{storage.Modified, key, "v2", r2, "v1"},
		change{storage.Modified, key, "v3", r3, "v2"},
	)
	replay := watch(t, s, prefix, r2)
	wantEvents(t, replay, change{storage.Modified, key, "v3", r3, "v2"})
	// An update to an empty value: Prev is set (not nil) and empty.
	r4 := update(t, s, key, "", r3)
	r5 := update(t, s, key, "v5", r4)
	wantEvents(t, w,
		change{storage.Modified, key, "", r4, "v3"},
		change{storage.Modified, key, "v5", r5, ""},
	)
}

func testWatchEnds(t *testing.T, s storage.Interface) {
	prefix := ns(t)
	ctx, cancel := context.WithCancel(t.Context())
	w, err := s.Watch(ctx, prefix, 0)
	if err != nil {
		t.Fatal(err)
	}
	r := create(t, s, prefix+"a", "x")
	wantEvents(t, w, change{storage.Added, prefix + "a", "x", r, ""})
	cancel()
	waitClosed(t, w)
	if err := w.Err(); err != nil {
		t.Fatalf("Err after the context ended = %v, want nil", err)
	}
}

// waitClosed drains w until Events closes.
func waitClosed(t *testing.T, w storage.Watch) {
	t.Helper()
	deadline := time.After(timeout)
	for {
		select {
		case _, ok := <-w.Events():
			if !ok {
				return
			}
		case <-deadline:
			t.Fatalf("Events not closed within %v", timeout)
		}
	}
}

func testWatchProgress(t *testing.T, s storage.Interface) {
	prefix := ns(t)
	w := watch(t, s, prefix, 0)
	r := create(t, s, prefix+"a", "x")
	wantEvents(t, w, change{storage.Added, prefix + "a", "x", r, ""})

	// A store may drop a request it cannot answer yet: ask again until a
	// Progress event arrives.
	ctx := ctxFor(t)
	deadline := time.After(timeout)
	ask := time.NewTicker(500 * time.Millisecond)
	defer ask.Stop()
	var progress int64
	for progress == 0 {
		if err := w.RequestProgress(ctx); err != nil {
			t.Fatalf("RequestProgress: %v", err)
		}
		select {
		case ev, ok := <-w.Events():
			if !ok {
				t.Fatalf("watch ended (Err: %v)", w.Err())
			}
			if ev.Type != storage.Progress {
				t.Fatalf("unexpected %v event %s", ev.Type, fmtKV(ev.KV))
			}
			if ev.Revision < r {
				t.Fatalf("Progress at revision %d, before the event seen at %d", ev.Revision, r)
			}
			if ev.KV.Key != "" {
				t.Fatalf("Progress event carries key %q", ev.KV.Key)
			}
			progress = ev.Revision
		case <-ask.C:
		case <-deadline:
			t.Fatalf("no Progress event within %v", timeout)
		}
	}
	// Later changes come after the reported progress.
	r2 := create(t, s, prefix+"b", "y")
	ev := next(t, w)
	if ev.Revision != r2 || ev.Revision <= progress {
		t.Fatalf("event after Progress(%d) at revision %d, want %d", progress, ev.Revision, r2)
	}
}

func testCompaction(t *testing.T, s storage.Interface) {
	c, ok := s.(Compactor)
	if !ok {
		t.Skip("store does not implement Compactor")
	}
	prefix := ns(t)
	key := prefix + "a"
	r1 := create(t, s, key, "v1")
	r2 := update(t, s, key, "v2", r1)
	r3 := update(t, s, key, "v3", r2)
	if err := c.Compact(ctxFor(t), r3); err != nil {
		t.Fatalf("Compact(%d): %v", r3, err)
	}

	_, err := s.List(ctxFor(t), prefix, storage.ListOptions{Revision: r1})
	wantErr(t, "List at a compacted revision", err, storage.ErrCompacted)
	res := list(t, s, prefix, storage.ListOptions{Revision: r3})
	wantItems(t, "List at the compaction revision", res.Items, [][2]string{{key, "v3"}})
	wantKV(t, s, key, "v3", r3)

	// A watch from r1 needs the change at r2, which is gone. Either Watch
	// fails or the watch ends with ErrCompacted.
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	if w, err := s.Watch(ctx, prefix, r1); err == nil {
		waitClosed(t, w)
		err = w.Err()
	}
	wantErr(t, "Watch from a compacted revision", err, storage.ErrCompacted)

	// From r2 the first change needed is r3, which is kept.
	// Its previous value (at r2) is compacted: Prev may be missing.
	w := watch(t, s, prefix, r2)
	ev := next(t, w)
	if ev.Type != storage.Modified || string(ev.KV.Value) != "v3" || ev.Revision != r3 || (len(ev.Prev) > 0 && string(ev.Prev) != "v2") {
		t.Fatalf("first event from %d = {%v %s rev %d prev %q}, want Modified v3 at %d with prev v2 or none", r2, ev.Type, fmtKV(ev.KV), ev.Revision, ev.Prev, r3)
	}

	// The store keeps working.
	r4 := update(t, s, key, "v4", r3)
	wantEvents(t, w, change{storage.Modified, key, "v4", r4, "v3"})
	if err := c.Compact(ctxFor(t), r1); !errors.Is(err, storage.ErrCompacted) {
		t.Fatalf("Compact(%d) again = %v, want ErrCompacted", r1, err)
	}
}
