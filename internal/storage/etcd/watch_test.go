package etcd

import (
	"context"
	"errors"
	"testing"
	"time"

	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/mvccpb"
	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/storage"
)

// TestWatchResponses feeds etcd watch responses to a watch's loop, for the
// endings a live etcd produces only under races (compaction after the
// watch started, lost leader).
func TestWatchResponses(t *testing.T) {
	header := func(rev int64) *etcdserverpb.ResponseHeader { return &etcdserverpb.ResponseHeader{Revision: rev} }
	kv := func(key, value string, create, mod int64) *mvccpb.KeyValue {
		return &mvccpb.KeyValue{Key: []byte("/p/" + key), Value: []byte(value), CreateRevision: create, ModRevision: mod}
	}
	tests := []struct {
		name       string
		responses  []clientv3.WatchResponse
		closeEarly bool // close the channel without a final response
		want       []storage.Event
		wantErr    error
	}{
		{
			name: "events then compaction",
			responses: []clientv3.WatchResponse{
				{Header: header(5), Events: []*clientv3.Event{
					{Type: clientv3.EventTypePut, Kv: kv("a", "1", 5, 5)},
				}},
				{Header: header(6), Events: []*clientv3.Event{
					{Type: clientv3.EventTypePut, Kv: kv("a", "2", 5, 6), PrevKv: kv("a", "1", 5, 5)},
					{Type: clientv3.EventTypeDelete, Kv: kv("a", "", 0, 7), PrevKv: kv("a", "2", 5, 6)},
				}},
				{Header: header(7)}, // progress
				{Header: header(9), CompactRevision: 8, Canceled: true},
			},
			want: []storage.Event{
				{Type: storage.Added, KV: storage.KV{Key: "a", Value: []byte("1"), Revision: 5}, Revision: 5},
				{Type: storage.Modified, KV: storage.KV{Key: "a", Value: []byte("2"), Revision: 6}, Prev: []byte("1"), Revision: 6},
				{Type: storage.Deleted, KV: storage.KV{Key: "a", Value: []byte("2"), Revision: 7}, Revision: 7},
				{Type: storage.Progress, Revision: 7},
			},
			wantErr: storage.ErrCompacted,
		},
		{
			name:      "cancelled for lost leader",
			responses: []clientv3.WatchResponse{{Header: header(3), Canceled: true, CancelReason: "etcdserver: no leader"}},
			wantErr:   storage.ErrUnavailable,
		},
		{
			name:       "channel closed by the client",
			closeEarly: true,
			wantErr:    storage.ErrUnavailable,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ctx, cancel := context.WithCancel(t.Context())
			defer cancel()
			w := &watch{store: New(nil, "/p/"), ctx: ctx, cancel: cancel, events: make(chan storage.Event, watchBuffer)}
			wch := make(chan clientv3.WatchResponse, len(tt.responses))
			for _, r := range tt.responses {
				wch <- r
			}
			close(wch)
			go w.run(wch)

			var got []storage.Event
			timeout := time.After(10 * time.Second)
		loop:
			for {
				select {
				case ev, ok := <-w.Events():
					if !ok {
						break loop
					}
					got = append(got, ev)
				case <-timeout:
					t.Fatal("Events not closed")
				}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("got %d events %+v, want %d", len(got), got, len(tt.want))
			}
			for i := range got {
				g, w := got[i], tt.want[i]
				if g.Type != w.Type || g.Revision != w.Revision || g.KV.Key != w.KV.Key || string(g.KV.Value) != string(w.KV.Value) || g.KV.Revision != w.KV.Revision || string(g.Prev) != string(w.Prev) || (g.Prev == nil) != (w.Prev == nil) {
					t.Errorf("event %d = %+v, want %+v", i, g, w)
				}
			}
			if !errors.Is(w.Err(), tt.wantErr) {
				t.Fatalf("Err = %v, want %v", w.Err(), tt.wantErr)
			}
		})
	}
}
