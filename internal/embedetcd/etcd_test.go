package embedetcd

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// recorder is a slog.Handler that keeps records and echoes them to t.Log.
type recorder struct {
	t  testing.TB
	mu *sync.Mutex
	rs *[]slog.Record
}

func newRecorder(t testing.TB) *recorder {
	return &recorder{t: t, mu: new(sync.Mutex), rs: new([]slog.Record)}
}

func (r *recorder) Enabled(context.Context, slog.Level) bool { return true }
func (r *recorder) Handle(_ context.Context, rec slog.Record) error {
	r.mu.Lock()
	*r.rs = append(*r.rs, rec)
	r.mu.Unlock()
	var b strings.Builder
	rec.Attrs(func(a slog.Attr) bool { fmt.Fprintf(&b, " %s=%v", a.Key, a.Value); return true })
	r.t.Logf("etcd %s: %s%s", rec.Level, rec.Message, b.String())
	return nil
}
func (r *recorder) WithAttrs([]slog.Attr) slog.Handler { return r }
func (r *recorder) WithGroup(string) slog.Handler      { return r }

func (r *recorder) records() []slog.Record {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]slog.Record(nil), *r.rs...)
}

func start(t *testing.T, cfg Config, log *slog.Logger) (*Etcd, *clientv3.Client, time.Duration) {
	t.Helper()
	e := New(cfg, log)
	t.Cleanup(e.Close)
	begin := time.Now()
	c, err := e.Start(t.Context())
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	return e, c, time.Since(begin)
}

func TestRestartKeepsData(t *testing.T) {
	rec := newRecorder(t)
	cfg := DefaultConfig()
	cfg.DataDir = filepath.Join(t.TempDir(), "etcd")

	e, c, took := start(t, cfg, slog.New(rec))
	t.Logf("start on empty data dir: %v", took)
	put, err := c.Put(t.Context(), "/k", "v1")
	if err != nil {
		t.Fatalf("Put: %v", err)
	}
	e.Close()
	e.Close() // idempotent
	if _, err := e.Start(t.Context()); !errors.Is(err, ErrClosed) {
		t.Fatalf("Start after Close = %v, want ErrClosed", err)
	}

	_, c, took = start(t, cfg, slog.New(rec))
	t.Logf("start on existing data dir: %v", took)
	got, err := c.Get(t.Context(), "/k")
	if err != nil {
		t.Fatalf("Get after restart: %v", err)
	}
	if len(got.Kvs) != 1 || string(got.Kvs[0].Value) != "v1" || got.Kvs[0].ModRevision != put.Header.Revision {
		t.Fatalf("after restart got %v, want v1 at revision %d", got.Kvs, put.Header.Revision)
	}
	for _, r := range rec.records() {
		if r.Level < slog.LevelWarn {
			t.Errorf("etcd logged below warn: %s %q", r.Level, r.Message)
		}
	}
}

func TestManyMembersInOneProcess(t *testing.T) {
	var wg sync.WaitGroup
	clients := make([]*clientv3.Client, 3)
	for i := range clients {
		wg.Go(func() {
			cfg := DefaultConfig()
			cfg.DataDir = t.TempDir()
			e := New(cfg, nil)
			t.Cleanup(e.Close)
			c, err := e.Start(t.Context())
			if err != nil {
				t.Errorf("member %d: %v", i, err)
				return
			}
			clients[i] = c
		})
	}
	wg.Wait()
	if t.Failed() {
		return
	}
	// Each member is its own store.
	for i, c := range clients {
		if _, err := c.Put(t.Context(), "/who", string(rune('a'+i))); err != nil {
			t.Fatalf("Put on member %d: %v", i, err)
		}
	}
	for i, c := range clients {
		got, err := c.Get(t.Context(), "/who")
		if err != nil || len(got.Kvs) != 1 || string(got.Kvs[0].Value) != string(rune('a'+i)) {
			t.Fatalf("member %d: Get = %v, %v", i, got, err)
		}
	}
}

func TestStartFailsOnUnusableDataDir(t *testing.T) {
	file := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(file, []byte("x"), 0o600); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		dir  string
	}{
		{"empty", ""},
		{"regular file", file},
		{"below a regular file", filepath.Join(file, "etcd")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := DefaultConfig()
			cfg.DataDir = tt.dir
			e := New(cfg, slog.New(newRecorder(t)))
			defer e.Close()
			ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
			defer cancel()
			if _, err := e.Start(ctx); err == nil {
				t.Fatal("Start succeeded")
			} else {
				t.Logf("Start: %v", err)
			}
		})
	}
}

func TestDataDirInUse(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	start(t, cfg, nil)
	second := New(cfg, nil)
	defer second.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	_, err := second.Start(ctx)
	if err == nil || errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("second Start on a data dir in use = %v, want an immediate error", err)
	}
	t.Logf("second Start: %v", err)
}

func TestStartRespectsContext(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	e := New(cfg, nil)
	defer e.Close()
	ctx, cancel := context.WithCancel(t.Context())
	cancel()
	if _, err := e.Start(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start with a cancelled context = %v, want context.Canceled", err)
	}
}

func TestClientURL(t *testing.T) {
	cfg := DefaultConfig()
	cfg.DataDir = t.TempDir()
	cfg.ClientURL = "http://127.0.0.1:0"
	e, _, _ := start(t, cfg, nil)
	eps := e.ClientEndpoints()
	if len(eps) != 1 {
		t.Fatalf("ClientEndpoints = %v, want one", eps)
	}
	c, err := clientv3.New(clientv3.Config{Endpoints: eps, DialTimeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if _, err := c.Put(ctx, "/k", "v"); err != nil {
		t.Fatalf("Put over %v: %v", eps, err)
	}

	cfg.DataDir, cfg.ClientURL = t.TempDir(), ""
	e, _, _ = start(t, cfg, nil)
	if eps := e.ClientEndpoints(); eps != nil {
		t.Fatalf("ClientEndpoints without ClientURL = %v, want none", eps)
	}
}
