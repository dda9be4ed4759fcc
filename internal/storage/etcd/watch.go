package etcd

import (
	"context"
	"errors"
	"fmt"
	"sync"

	clientv3 "go.etcd.io/etcd/client/v3"
	"google.golang.org/grpc/metadata"

	"github.com/gantry-dev/gantry/internal/storage"
)

// watchBuffer is how many events a watch holds for a slow reader before
// it stops reading from etcd.
const watchBuffer = 100

// errWatchEnded is returned by RequestProgress once the watch has ended.
var errWatchEnded = errors.New("etcd: watch has ended")

// Watch streams the changes under prefix after fromRev (0: after the
// current revision). A compacted fromRev fails here with ErrCompacted, or,
// if etcd compacts while the watch starts, through Err once Events closes.
func (s *Store) Watch(ctx context.Context, prefix string, fromRev int64) (storage.Watch, error) {
	if fromRev < 0 {
		return nil, fmt.Errorf("etcd: watch from negative revision %d", fromRev)
	}
	key := s.prefix + prefix
	// One read pins the start: "now" becomes the current revision, so every
	// change made after Watch returns is delivered; and a compacted fromRev
	// fails here at once, where the watch would only report it later. A
	// future fromRev is fine for a watch: it waits.
	var start int64
	if fromRev == 0 {
		resp, err := s.client.Get(ctx, key, clientv3.WithCountOnly(), clientv3.WithLimit(1))
		if err != nil {
			return nil, s.translate(ctx, err)
		}
		start = resp.Header.Revision + 1
	} else {
		start = fromRev + 1
		_, err := s.client.Get(ctx, key, clientv3.WithRev(start), clientv3.WithSerializable(), clientv3.WithCountOnly(), clientv3.WithLimit(1))
		if err = s.translate(ctx, err); err != nil && !errors.Is(err, storage.ErrFutureRevision) {
			return nil, err
		}
	}
	ops := []clientv3.OpOption{clientv3.WithPrefix(), clientv3.WithRev(start), clientv3.WithPrevKV(), clientv3.WithProgressNotify()}
	// Require a leader: without one, etcd ends the watch (ErrUnavailable)
	// instead of leaving it silently stalled.
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	w := &watch{
		store:  s,
		ctx:    wctx,
		cancel: cancel,
		events: make(chan storage.Event, watchBuffer),
	}
	go w.run(s.client.Watch(wctx, key, ops...))
	return w, nil
}

// watch is a running etcd watch; one goroutine (run) converts etcd's
// responses into events and owns the events channel.
type watch struct {
	store  *Store
	ctx    context.Context
	cancel context.CancelFunc
	events chan storage.Event

	mu  sync.Mutex
	err error
}

func (w *watch) Events() <-chan storage.Event { return w.events }

func (w *watch) Err() error {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.err
}

// RequestProgress asks etcd for a progress notification on this watch's
// gRPC stream. etcd shares one stream among the watches of a client with
// the same context metadata, and answers on all of them.
func (w *watch) RequestProgress(ctx context.Context) error {
	if w.ctx.Err() != nil {
		return errWatchEnded
	}
	// The stream is found by the watch context's metadata; a request with
	// other metadata would open a new, empty stream.
	md, _ := metadata.FromOutgoingContext(w.ctx)
	err := w.store.client.RequestProgress(metadata.NewOutgoingContext(ctx, md))
	return w.store.translate(ctx, err)
}

func (w *watch) run(wch clientv3.WatchChan) {
	defer w.cancel()
	err := w.loop(wch)
	if w.ctx.Err() != nil {
		err = nil // the caller ended the watch
	}
	w.mu.Lock()
	w.err = err
	w.mu.Unlock()
	close(w.events)
}

// loop forwards responses until the watch ends and returns why.
func (w *watch) loop(wch clientv3.WatchChan) error {
	for resp := range wch {
		if err := resp.Err(); err != nil {
			return w.store.translate(w.ctx, err)
		}
		if resp.IsProgressNotify() {
			if !w.send(storage.Event{Type: storage.Progress, Revision: resp.Header.Revision}) {
				return nil
			}
			continue
		}
		for _, ev := range resp.Events {
			if !w.send(w.event(ev)) {
				return nil
			}
		}
	}
	// etcd closes the channel when the context ends or the client closes.
	if w.ctx.Err() == nil {
		return fmt.Errorf("%w: etcd watch closed", storage.ErrUnavailable)
	}
	return nil
}

func (w *watch) send(e storage.Event) bool {
	select {
	case w.events <- e:
		return true
	case <-w.ctx.Done():
		return false
	}
}

// event converts one etcd event. A deletion carries the previous value
// (WithPrevKV) at the deletion's revision, and a modification the previous
// value in Prev; etcd omits it only if that value was already compacted
// away, and then Value (or Prev) is nil.
func (w *watch) event(ev *clientv3.Event) storage.Event {
	rev := ev.Kv.ModRevision
	switch {
	case ev.Type == clientv3.EventTypeDelete:
		kv := w.store.kv(ev.Kv)
		if ev.PrevKv != nil {
			kv = w.store.deleted(ev.PrevKv, rev)
		}
		return storage.Event{Type: storage.Deleted, KV: kv, Revision: rev}
	case ev.IsCreate():
		return storage.Event{Type: storage.Added, KV: w.store.kv(ev.Kv), Revision: rev}
	default:
		e := storage.Event{Type: storage.Modified, KV: w.store.kv(ev.Kv), Revision: rev}
		if ev.PrevKv != nil {
			e.Prev = ev.PrevKv.Value
		}
		return e
	}
}
