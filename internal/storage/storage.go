// Package storage defines the key-value store the API server keeps objects
// in: values are opaque encoded objects, every write yields a new cluster-wide
// revision (the objects' resourceVersion), and watches replay changes from
// any revision that has not been compacted.
//
// Only internal/apiserver uses this package. The etcd implementation is in
// storage/etcd.
package storage

import (
	"context"
	"errors"
)

// Errors every implementation returns, checked with errors.Is.
var (
	// ErrNotFound: no value under the key.
	ErrNotFound = errors.New("storage: key not found")
	// ErrExists: Create found a value already under the key.
	ErrExists = errors.New("storage: key already exists")
	// ErrConflict: the expected revision is not the key's current revision.
	ErrConflict = errors.New("storage: revision conflict")
	// ErrCompacted: the requested revision has been compacted away.
	ErrCompacted = errors.New("storage: revision compacted")
	// ErrFutureRevision: the requested revision is newer than the store's.
	ErrFutureRevision = errors.New("storage: revision not yet reached")
	// ErrUnavailable: the backend cannot be reached; the caller may retry.
	ErrUnavailable = errors.New("storage: backend unavailable")
)

// KV is one stored value.
type KV struct {
	Key   string
	Value []byte
	// Revision is the revision of the write that produced Value (etcd's
	// mod_revision); it is the object's resourceVersion.
	Revision int64
}

// ListOptions selects a page of a prefix.
type ListOptions struct {
	// Revision reads the prefix as of this revision; 0 reads the latest.
	Revision int64
	// Limit caps the number of items; 0 means no limit.
	Limit int64
	// After continues a paged list: only keys strictly greater than After.
	After string
}

// ListResult is one page of a list.
type ListResult struct {
	Items []KV
	// Revision is the store revision the page was read at; later pages of
	// the same list must pass it in ListOptions.Revision.
	Revision int64
	// More reports whether keys remain after the last item; Remaining is
	// how many (0 when unknown).
	More      bool
	Remaining int64
}

// EventType is the kind of a watch event.
type EventType int

const (
	Added EventType = iota
	Modified
	Deleted
	// Progress carries no key: it reports that the watch has seen every
	// change up to Revision (used for bookmarks).
	Progress
)

// Event is one change seen by a watch.
type Event struct {
	Type EventType
	// KV is the new value; for Deleted, the last value before deletion with
	// Revision set to the deletion's revision.
	KV KV
	// Prev is the value the key held just before a Modified event, so a
	// watcher can tell whether the object matched its filter before the
	// change. It is nil for other event types, and empty for a Modified
	// event whose previous value was empty or the store no longer has.
	Prev []byte
	// Revision of the change.
	Revision int64
}

// Interface is the store. All methods are safe for concurrent use.
type Interface interface {
	// Get returns the current value of key, or ErrNotFound.
	Get(ctx context.Context, key string) (KV, error)
	// List returns keys with prefix in key order. ErrCompacted when
	// opts.Revision is compacted, ErrFutureRevision when it is ahead.
	List(ctx context.Context, prefix string, opts ListOptions) (ListResult, error)
	// Count returns the number of keys under prefix.
	Count(ctx context.Context, prefix string) (int64, error)
	// Create writes key only if absent and returns the new revision, or ErrExists.
	Create(ctx context.Context, key string, value []byte) (int64, error)
	// Update writes key only if its current revision equals expected and
	// returns the new revision; ErrNotFound if absent, ErrConflict if changed.
	Update(ctx context.Context, key string, value []byte, expected int64) (int64, error)
	// Delete removes key if its current revision equals expected (0: any)
	// and returns the deleted value with Revision set to the deletion's
	// revision; ErrNotFound if absent, ErrConflict if changed.
	Delete(ctx context.Context, key string, expected int64) (KV, error)
	// Watch streams every change under prefix after revision fromRev (0:
	// from now) until ctx ends. Returns ErrCompacted if fromRev is
	// compacted (also reported later through Watch.Err).
	Watch(ctx context.Context, prefix string, fromRev int64) (Watch, error)
	// CurrentRevision returns the store's latest revision.
	CurrentRevision(ctx context.Context) (int64, error)
}

// LocalReader is an optional capability of a store: a read served from the
// state the nearest replica has applied, without a consensus round. It may
// miss the latest writes made through other replicas (never those this
// store has acknowledged, on a single-member store), so callers use it only
// where a slightly stale answer is acceptable and confirm a miss with Get.
type LocalReader interface {
	// GetLocal returns the value of key as the replica has applied it, or
	// ErrNotFound.
	GetLocal(ctx context.Context, key string) (KV, error)
}

// Watch is a running watch.
type Watch interface {
	// Events delivers changes in revision order, and Progress events when
	// the store reports progress. It closes when the watch ends.
	Events() <-chan Event
	// Err reports why the watch ended once Events is closed: nil when the
	// context ended, ErrCompacted when the store compacted past it.
	Err() error
	// RequestProgress asks the store to send a Progress event soon.
	RequestProgress(ctx context.Context) error
}
