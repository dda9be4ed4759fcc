package etcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/embedetcd"
	"github.com/gantry-dev/gantry/internal/storage"
	"github.com/gantry-dev/gantry/internal/storage/storagetest"
)

// Store offers compaction to the conformance suite.
var _ storagetest.Compactor = (*Store)(nil)

// tlog is a slog.Handler writing to testing.TB.Log.
type tlog struct{ tb testing.TB }

func (h tlog) Enabled(context.Context, slog.Level) bool { return true }
func (h tlog) Handle(_ context.Context, r slog.Record) error {
	h.tb.Logf("etcd %s: %s", r.Level, r.Message)
	return nil
}
func (h tlog) WithAttrs([]slog.Attr) slog.Handler { return h }
func (h tlog) WithGroup(string) slog.Handler      { return h }

// startEtcd starts an embedded etcd in a temporary directory, stopped when
// the test ends.
func startEtcd(tb testing.TB, cfg embedetcd.Config) (*embedetcd.Etcd, *clientv3.Client) {
	tb.Helper()
	cfg.DataDir = tb.TempDir()
	e := embedetcd.New(cfg, slog.New(tlog{tb}))
	tb.Cleanup(e.Close)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	client, err := e.Start(ctx)
	if err != nil {
		tb.Fatalf("start etcd: %v", err)
	}
	return e, client
}

func TestConformance(t *testing.T) {
	_, client := startEtcd(t, embedetcd.DefaultConfig())
	var n atomic.Int64
	// Every subtest gets its own store prefix on the one etcd.
	storagetest.Run(t, func(t *testing.T) storage.Interface {
		return New(client, fmt.Sprintf("/registry-%d/", n.Add(1)))
	})
}

func TestConformanceExternalClient(t *testing.T) {
	cfg := embedetcd.DefaultConfig()
	cfg.ClientURL = "http://127.0.0.1:0"
	e, _ := startEtcd(t, cfg)
	client, err := NewClient(e.ClientEndpoints(), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { client.Close() })
	storagetest.Run(t, func(t *testing.T) storage.Interface { return New(client, "/registry/") })
}

func TestPrefixIsolation(t *testing.T) {
	_, client := startEtcd(t, embedetcd.DefaultConfig())
	ctx := t.Context()
	a, b := New(client, "/a/"), New(client, "/b/")
	if _, err := a.Create(ctx, "k", []byte("a")); err != nil {
		t.Fatal(err)
	}
	if _, err := b.Get(ctx, "k"); !errors.Is(err, storage.ErrNotFound) {
		t.Fatalf("store /b/ sees /a/'s key: %v", err)
	}
	raw, err := client.Get(ctx, "/a/k")
	if err != nil || len(raw.Kvs) != 1 || string(raw.Kvs[0].Value) != "a" {
		t.Fatalf("etcd key /a/k = %v, %v", raw, err)
	}
	res, err := a.List(ctx, "", storage.ListOptions{})
	if err != nil || len(res.Items) != 1 || res.Items[0].Key != "k" {
		t.Fatalf("List = %+v, %v; want the one key k without the store prefix", res, err)
	}
}

func TestUnavailable(t *testing.T) {
	t.Run("embedded etcd stopped", func(t *testing.T) {
		e, client := startEtcd(t, embedetcd.DefaultConfig())
		s := New(client, "/registry/")
		w, err := s.Watch(t.Context(), "", 0)
		if err != nil {
			t.Fatal(err)
		}
		e.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
		defer cancel()
		if _, err := s.Get(ctx, "k"); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Get after the server stopped = %v, want ErrUnavailable", err)
		}
		if _, err := s.Create(ctx, "k", nil); !errors.Is(err, storage.ErrUnavailable) {
			t.Fatalf("Create after the server stopped = %v, want ErrUnavailable", err)
		}
		select {
		case <-drained(w):
		case <-ctx.Done():
			t.Fatal("watch did not end after the server stopped")
		}
		if !errors.Is(w.Err(), storage.ErrUnavailable) {
			t.Fatalf("watch Err = %v, want ErrUnavailable", w.Err())
		}
	})
	t.Run("external etcd unreachable", func(t *testing.T) {
		client, err := NewClient([]string{"http://127.0.0.1:1"}, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer client.Close()
		ctx, cancel := context.WithTimeout(t.Context(), 500*time.Millisecond)
		defer cancel()
		_, err = New(client, "/registry/").Get(ctx, "k")
		if !errors.Is(err, storage.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Get from an unreachable etcd = %v, want ErrUnavailable and DeadlineExceeded", err)
		}
	})
}

// drained closes the returned channel once w's Events is closed.
func drained(w storage.Watch) <-chan struct{} {
	done := make(chan struct{})
	go func() {
		for range w.Events() {
		}
		close(done)
	}()
	return done
}

func TestNewClientNoEndpoints(t *testing.T) {
	if _, err := NewClient(nil, nil); err == nil {
		t.Fatal("NewClient without endpoints succeeded")
	}
}
