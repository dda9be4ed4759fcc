package storagetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/storage"
)

// Compactor is an optional capability of a store: discard history before
// rev, so reads and watches from older revisions fail with ErrCompacted.
type Compactor interface {
	Compact(ctx context.Context, rev int64) error
}

// timeout bounds every wait of the suite.
const timeout = 10 * time.Second

// Run runs the conformance suite against stores made by newStore.
func Run(t *testing.T, newStore func(t *testing.T) storage.Interface) {
	tests := []struct {
		name string
		run  func(t *testing.T, s storage.Interface)
	}{
		{"CreateGet", testCreateGet},
		{"CreateRace", testCreateRace},
		{"Update", testUpdate},
		{"UpdateRace", testUpdateRace},
		{"Delete", testDelete},
		{"List", testList},
		{"ListPagesAtRevision", testListPages},
		{"Count", testCount},
		{"WatchFromNow", testWatchFromNow},
		{"WatchFromRevision", testWatchFromRevision},
		{"WatchPrevOfModified", testWatchPrev},
		{"WatchEndsWithContext", testWatchEnds},
		{"WatchProgress", testWatchProgress},
		{"Compaction", testCompaction},
		{"GetLocal", testGetLocal},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.run(t, newStore(t)) })
	}
}

// ns returns a key prefix private to the running subtest.
func ns(t *testing.T) string {
	return "conformance/" + strings.ReplaceAll(t.Name(), "/", ".") + "/"
}

func ctxFor(t *testing.T) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 4*timeout)
	t.Cleanup(cancel)
	return ctx
}

func create(t *testing.T, s storage.Interface, key, value string) int64 {
	t.Helper()
	rev, err := s.Create(ctxFor(t), key, []byte(value))
	if err != nil {
		t.Fatalf("Create(%q): %v", key, err)
	}
	return rev
}

func update(t *testing.T, s storage.Interface, key, value string, expected int64) int64 {
	t.Helper()
	rev, err := s.Update(ctxFor(t), key, []byte(value), expected)
	if err != nil {
		t.Fatalf("Update(%q, %d): %v", key, expected, err)
	}
	if rev <= expected {
		t.Fatalf("Update(%q, %d) = revision %d, want a later one", key, expected, rev)
	}
	return rev
}

func del(t *testing.T, s storage.Interface, key string) int64 {
	t.Helper()
	kv, err := s.Delete(ctxFor(t), key, 0)
	if err != nil {
		t.Fatalf("Delete(%q): %v", key, err)
	}
	return kv.Revision
}

func currentRevision(t *testing.T, s storage.Interface) int64 {
	t.Helper()
	rev, err := s.CurrentRevision(ctxFor(t))
	if err != nil {
		t.Fatalf("CurrentRevision: %v", err)
	}
	return rev
}

// wantKV checks that key holds value at revision rev (rev 0: any).
func wantKV(t *testing.T, s storage.Interface, key, value string, rev int64) {
	t.Helper()
	got, err := s.Get(ctxFor(t), key)
	if err != nil {
		t.Fatalf("Get(%q): %v", key, err)
	}
	if got.Key != key || string(got.Value) != value || (rev != 0 && got.Revision != rev) {
		t.Fatalf("Get(%q) = %s, want %q=%q at revision %d", key, fmtKV(got), key, value, rev)
	}
}

func wantMissing(t *testing.T, s storage.Interface, key string) {
	t.Helper()
	if got, err := s.Get(ctxFor(t), key); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("Get(%q) = %s, %v; want ErrNotFound", key, fmtKV(got), err)
	}
}

func wantErr(t *testing.T, what string, err, want error) {
	t.Helper()
	if !errors.Is(err, want) {
		t.Fatalf("%s: err = %v, want %v", what, err, want)
	}
}

func fmtKV(kv storage.KV) string {
	return fmt.Sprintf("%q=%q@%d", kv.Key, kv.Value, kv.Revision)
}

func sameKV(a, b storage.KV) bool {
	return a.Key == b.Key && bytes.Equal(a.Value, b.Value) && a.Revision == b.Revision
}
