package memtrim

import (
	"context"
	"io"
	"log/slog"
	"sync"
	"testing"
	"time"
)

func TestShouldTrim(t *testing.T) {
	cfg := Config{Interval: time.Second, IdleAlloc: 16 << 20, MinFree: 4 << 20}
	base := Sample{Allocated: 100 << 20, Free: 1 << 20, Objects: 20 << 20, Live: 18 << 20}
	for _, tc := range []struct {
		name string
		cur  Sample
		want bool
	}{
		{"idle, 3 MiB reclaimable", Sample{Allocated: 101 << 20, Free: 1 << 20, Objects: 20 << 20, Live: 18 << 20}, false},
		{"idle, free memory held", Sample{Allocated: 101 << 20, Free: 5 << 20, Objects: 18 << 20, Live: 18 << 20}, true},
		{"idle, garbage since the last collection", Sample{Allocated: 110 << 20, Free: 0, Objects: 24 << 20, Live: 18 << 20}, true},
		{"busy", Sample{Allocated: 140 << 20, Free: 30 << 20, Objects: 40 << 20, Live: 18 << 20}, false},
		{"live above objects (collection since)", Sample{Allocated: 101 << 20, Free: 0, Objects: 17 << 20, Live: 18 << 20}, false},
		{"counters went back", Sample{Allocated: 1 << 20, Free: 30 << 20}, false},
	} {
		if got := cfg.ShouldTrim(base, tc.cur); got != tc.want {
			t.Errorf("%s: ShouldTrim = %v, want %v", tc.name, got, tc.want)
		}
	}
}

// TestRun drives the loop with scripted samples: it trims in an idle
// period with memory to return, not in a busy one, and compares each
// period with the state after the last trim.
func TestRun(t *testing.T) {
	samples := []Sample{
		{Allocated: 0}, // start
		{Allocated: 100 << 20, Free: 40 << 20, Objects: 30 << 20, Live: 10 << 20}, // busy: no trim
		{Allocated: 102 << 20, Free: 40 << 20, Objects: 32 << 20, Live: 10 << 20}, // idle: trim
		{Allocated: 102 << 20, Free: 0, Objects: 10 << 20, Live: 10 << 20},        // after the trim
		{Allocated: 103 << 20, Free: 0, Objects: 11 << 20, Live: 10 << 20},        // idle, nothing to return
		{Allocated: 110 << 20, Free: 0, Objects: 18 << 20, Live: 10 << 20},        // idle: trim
	}
	var mu sync.Mutex
	next, trims := 0, []int{}
	done := make(chan struct{})
	read := func() Sample {
		mu.Lock()
		defer mu.Unlock()
		if next >= len(samples) {
			select {
			case <-done:
			default:
				close(done)
			}
			return samples[len(samples)-1]
		}
		next++
		return samples[next-1]
	}
	trim := func() {
		mu.Lock()
		defer mu.Unlock()
		trims = append(trims, next-1) // the sample that led to it
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		run(ctx, Config{Interval: time.Millisecond, IdleAlloc: 16 << 20, MinFree: 4 << 20}, read, trim, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("run did not read all samples")
	}
	cancel()
	<-stopped
	mu.Lock()
	defer mu.Unlock()
	if len(trims) < 2 || trims[0] != 2 || trims[1] != 5 {
		t.Fatalf("trimmed after samples %v, want [2 5 …]", trims)
	}
}

func TestRunDisabled(t *testing.T) {
	done := make(chan struct{})
	go func() {
		defer close(done)
		Run(context.Background(), Config{}, slog.New(slog.NewTextHandler(io.Discard, nil)))
	}()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Run with Interval 0 did not return")
	}
}

var sink []byte

// TestRead: the samples are this process's heap counters.
func TestRead(t *testing.T) {
	before := Read()
	for range 16 {
		sink = make([]byte, 1<<20)
	}
	after := Read()
	if after.Allocated < before.Allocated+16<<20 {
		t.Fatalf("Allocated went from %d to %d after 16 MiB of allocations", before.Allocated, after.Allocated)
	}
	if after.Objects == 0 || after.Live == 0 {
		t.Fatalf("sample %+v lacks the heap's objects", after)
	}
}
