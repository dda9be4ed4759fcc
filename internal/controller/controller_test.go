package controller_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gantry-dev/gantry/internal/controller"
)

// recorder counts reconciles per key and returns scripted outcomes.
type recorder struct {
	mu    sync.Mutex
	calls map[string]int
	fn    func(key string, call int) (controller.Result, error)
}

func (r *recorder) Reconcile(_ context.Context, key string) (controller.Result, error) {
	r.mu.Lock()
	r.calls[key]++
	n := r.calls[key]
	r.mu.Unlock()
	return r.fn(key, n)
}

func (r *recorder) count(key string) int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.calls[key]
}

func testLogger(t *testing.T) *slog.Logger {
	t.Helper()
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

func TestController(t *testing.T) {
	errBoom := errors.New("boom")
	tests := []struct {
		name string
		fn   func(key string, call int) (controller.Result, error)
		// want is the number of calls for key "a" that must be reached.
		want int
	}{
		{
			name: "success once",
			fn:   func(string, int) (controller.Result, error) { return controller.Result{}, nil },
			want: 1,
		},
		{
			name: "error retries with back-off until success",
			fn: func(_ string, call int) (controller.Result, error) {
				if call < 4 {
					return controller.Result{}, errBoom
				}
				return controller.Result{}, nil
			},
			want: 4,
		},
		{
			name: "requeue after",
			fn: func(_ string, call int) (controller.Result, error) {
				if call < 3 {
					return controller.Result{RequeueAfter: 10 * time.Millisecond}, nil
				}
				return controller.Result{}, nil
			},
			want: 3,
		},
		{
			name: "panic is recovered and retried",
			fn: func(_ string, call int) (controller.Result, error) {
				if call == 1 {
					panic("oops")
				}
				return controller.Result{}, nil
			},
			want: 2,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := &recorder{calls: map[string]int{}, fn: tt.fn}
			c := controller.New("test", r, 2, testLogger(t), controller.WithBackoff(time.Millisecond, 20*time.Millisecond))
			c.Enqueue("a") // before Run: waits in the queue
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan error, 1)
			go func() { done <- c.Run(ctx) }()
			err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
				return r.count("a") >= tt.want, nil
			})
			if err != nil {
				t.Fatalf("calls = %d, want %d: %v", r.count("a"), tt.want, err)
			}
			cancel()
			if err := <-done; err != nil {
				t.Fatalf("Run: %v", err)
			}
			if got := r.count("a"); got != tt.want {
				t.Fatalf("calls = %d after stop, want exactly %d", got, tt.want)
			}
			if err := c.Run(t.Context()); !errors.Is(err, controller.ErrAlreadyRun) {
				t.Fatalf("second Run = %v, want ErrAlreadyRun", err)
			}
		})
	}
}

func TestControllerKeysAreNotProcessedConcurrently(t *testing.T) {
	var mu sync.Mutex
	active, maxActive, total := 0, 0, 0
	r := controller.ReconcilerFunc(func(context.Context, string) (controller.Result, error) {
		mu.Lock()
		active++
		total++
		maxActive = max(maxActive, active)
		mu.Unlock()
		time.Sleep(time.Millisecond) // hold the key so that re-adds overlap
		mu.Lock()
		active--
		mu.Unlock()
		return controller.Result{}, nil
	})
	c := controller.New("serial", r, 4, testLogger(t))
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	for range 50 {
		c.Enqueue("same")
	}
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		mu.Lock()
		defer mu.Unlock()
		return total > 0 && active == 0 && c.Len() == 0, nil
	})
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
	if maxActive != 1 {
		t.Fatalf("one key was reconciled by %d workers at once", maxActive)
	}
}

func TestControllerMetrics(t *testing.T) {
	r := controller.ReconcilerFunc(func(_ context.Context, key string) (controller.Result, error) {
		if key == "bad" {
			return controller.Result{}, errors.New("bad")
		}
		return controller.Result{}, nil
	})
	c := controller.New("metrics", r, 1, testLogger(t), controller.WithBackoff(time.Hour, time.Hour))
	reg := prometheus.NewPedanticRegistry()
	for _, col := range c.Collectors() {
		reg.MustRegister(col)
	}
	// A second controller's collectors fit in the same registry.
	for _, col := range controller.New("other", r, 1, nil).Collectors() {
		reg.MustRegister(col)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	c.Enqueue("good")
	c.Enqueue("bad")
	err := wait.PollUntilContextTimeout(t.Context(), 5*time.Millisecond, 10*time.Second, true, func(context.Context) (bool, error) {
		families, err := reg.Gather()
		if err != nil {
			return false, err
		}
		results := map[string]bool{}
		for _, f := range families {
			if f.GetName() != "gantry_controller_reconcile_total" {
				continue
			}
			for _, m := range f.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "result" && m.GetCounter().GetValue() > 0 {
						results[l.GetValue()] = true
					}
				}
			}
		}
		return results["success"] && results["error"], nil
	})
	cancel()
	<-done
	if err != nil {
		t.Fatal(err)
	}
}
