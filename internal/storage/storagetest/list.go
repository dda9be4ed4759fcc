package storagetest

import (
	"fmt"
	"testing"

	"github.com/gantry-dev/gantry/internal/storage"
)

// fill creates n keys prefix+"000".. with values "v0".. and keys that share
// the prefix's text without being under it; it returns the last revision.
func fill(t *testing.T, s storage.Interface, prefix string, n int) int64 {
	t.Helper()
	var rev int64
	for i := range n {
		rev = create(t, s, fmt.Sprintf("%s%03d", prefix, i), fmt.Sprintf("v%d", i))
	}
	// Neighbours: "items" is prefix without its slash.
	stem := prefix[:len(prefix)-1]
	create(t, s, stem, "stem")
	create(t, s, stem+"-sibling", "sibling")
	create(t, s, stem+"0/x", "sibling")
	return rev
}

func list(t *testing.T, s storage.Interface, prefix string, opts storage.ListOptions) storage.ListResult {
	t.Helper()
	res, err := s.List(ctxFor(t), prefix, opts)
	if err != nil {
		t.Fatalf("List(%q, %+v): %v", prefix, opts, err)
	}
	return res
}

// wantItems checks keys and values of items against want (key → value,
// in order).
func wantItems(t *testing.T, what string, items []storage.KV, want [][2]string) {
	t.Helper()
	if len(items) != len(want) {
		t.Fatalf("%s: %d items, want %d", what, len(items), len(want))
	}
	for i, kv := range items {
		if kv.Key != want[i][0] || string(kv.Value) != want[i][1] || kv.Revision <= 0 {
			t.Fatalf("%s: item %d = %s, want %q=%q", what, i, fmtKV(kv), want[i][0], want[i][1])
		}
	}
}

func expected(prefix string, n int) [][2]string {
	var out [][2]string
	for i := range n {
		out = append(out, [2]string{fmt.Sprintf("%s%03d", prefix, i), fmt.Sprintf("v%d", i)})
	}
	return out
}

func testList(t *testing.T, s storage.Interface) {
	base := ns(t)
	prefix := base + "items/"
	const n = 12
	last := fill(t, s, prefix, n)
	all := expected(prefix, n)

	full := list(t, s, prefix, storage.ListOptions{})
	wantItems(t, "full list", full.Items, all)
	if full.More || full.Remaining != 0 || full.Revision < last {
		t.Fatalf("full list: More=%v Remaining=%d Revision=%d, want false, 0, >= %d", full.More, full.Remaining, full.Revision, last)
	}

	tests := []struct {
		name     string
		prefix   string
		opts     storage.ListOptions
		want     [][2]string
		wantMore bool
		// remaining after the page, when wantMore
		remaining int64
	}{
		{name: "limit", prefix: prefix, opts: storage.ListOptions{Limit: 5}, want: all[:5], wantMore: true, remaining: n - 5},
		{name: "limit equals count", prefix: prefix, opts: storage.ListOptions{Limit: n}, want: all},
		{name: "limit above count", prefix: prefix, opts: storage.ListOptions{Limit: 100}, want: all},
		{name: "after", prefix: prefix, opts: storage.ListOptions{After: all[3][0]}, want: all[4:]},
		{name: "after and limit", prefix: prefix, opts: storage.ListOptions{After: all[3][0], Limit: 2}, want: all[4:6], wantMore: true, remaining: n - 6},
		{name: "after a missing key", prefix: prefix, opts: storage.ListOptions{After: all[3][0] + "a"}, want: all[4:]},
		{name: "after the last key", prefix: prefix, opts: storage.ListOptions{After: all[n-1][0]}},
		{name: "after beyond the prefix", prefix: prefix, opts: storage.ListOptions{After: base + "zzz"}},
		{name: "after before the prefix", prefix: prefix, opts: storage.ListOptions{After: base + "a"}, want: all},
		{name: "empty prefix", prefix: base + "nothing/"},
		{name: "at the last write's revision", prefix: prefix, opts: storage.ListOptions{Revision: last}, want: all},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res := list(t, s, tt.prefix, tt.opts)
			wantItems(t, "List", res.Items, tt.want)
			if res.More != tt.wantMore {
				t.Fatalf("More = %v, want %v", res.More, tt.wantMore)
			}
			// Remaining may be 0 (unknown), else it must be exact.
			if res.Remaining != 0 && res.Remaining != tt.remaining {
				t.Fatalf("Remaining = %d, want %d", res.Remaining, tt.remaining)
			}
			if tt.opts.Revision != 0 && res.Revision != tt.opts.Revision {
				t.Fatalf("Revision = %d, want the requested %d", res.Revision, tt.opts.Revision)
			}
			if res.Revision < last {
				t.Fatalf("Revision = %d, want >= %d", res.Revision, last)
			}
		})
	}

	t.Run("future revision", func(t *testing.T) {
		_, err := s.List(ctxFor(t), prefix, storage.ListOptions{Revision: currentRevision(t, s) + 1000})
		wantErr(t, "List at a future revision", err, storage.ErrFutureRevision)
	})
}

// testListPages reads a prefix in pages at the first page's revision while
// the prefix changes, and must see one consistent snapshot.
func testListPages(t *testing.T, s storage.Interface) {
	base := ns(t)
	prefix := base + "items/"
	const n, limit = 17, 5
	fill(t, s, prefix, n)
	all := expected(prefix, n)

	var (
		got  []storage.KV
		opts = storage.ListOptions{Limit: limit}
	)
	for page := 0; ; page++ {
		res := list(t, s, prefix, opts)
		got = append(got, res.Items...)
		remaining := int64(n - len(got))
		if res.More != (remaining > 0) {
			t.Fatalf("page %d: More = %v with %d keys left", page, res.More, remaining)
		}
		if res.Remaining != 0 && res.Remaining != remaining {
			t.Fatalf("page %d: Remaining = %d, want %d (or 0: unknown)", page, res.Remaining, remaining)
		}
		if page == 0 {
			opts.Revision = res.Revision
			// Change the prefix between pages: a key after the cursor
			// is updated, one deleted, new ones created before and after.
			kv, err := s.Get(ctxFor(t), all[n-2][0])
			if err != nil {
				t.Fatal(err)
			}
			update(t, s, kv.Key, "changed", kv.Revision)
			del(t, s, all[n-1][0])
			create(t, s, all[limit+1][0]+"a", "new")
			create(t, s, prefix+"999", "new")
			create(t, s, prefix+"000a", "new") // before the cursor
		} else if res.Revision != opts.Revision {
			t.Fatalf("page %d: Revision = %d, want %d", page, res.Revision, opts.Revision)
		}
		if !res.More {
			break
		}
		if len(res.Items) != limit {
			t.Fatalf("page %d: %d items with More, want %d", page, len(res.Items), limit)
		}
		opts.After = res.Items[len(res.Items)-1].Key
	}
	wantItems(t, "pages at the first page's revision", got, all)

	// The latest revision shows the changes.
	latest := list(t, s, prefix, storage.ListOptions{})
	if len(latest.Items) != n+2 || latest.Revision <= opts.Revision {
		t.Fatalf("latest list: %d items at revision %d, want %d after %d", len(latest.Items), latest.Revision, n+2, opts.Revision)
	}
	for _, kv := range latest.Items {
		if kv.Key == all[n-2][0] && string(kv.Value) != "changed" {
			t.Fatalf("latest list: %s, want the updated value", fmtKV(kv))
		}
	}
}

func testCount(t *testing.T, s storage.Interface) {
	base := ns(t)
	prefix := base + "items/"
	const n = 7
	fill(t, s, prefix, n)
	tests := []struct {
		prefix string
		want   int64
	}{
		{prefix, n},
		{fmt.Sprintf("%s00", prefix), n},
		{fmt.Sprintf("%s003", prefix), 1},
		{base + "nothing/", 0},
	}
	for _, tt := range tests {
		got, err := s.Count(ctxFor(t), tt.prefix)
		if err != nil || got != tt.want {
			t.Fatalf("Count(%q) = %d, %v; want %d", tt.prefix, got, err, tt.want)
		}
	}
	del(t, s, prefix+"000")
	if got, err := s.Count(ctxFor(t), prefix); err != nil || got != n-1 {
		t.Fatalf("Count after a delete = %d, %v; want %d", got, err, n-1)
	}
}
