// Package memtrim returns the Go heap's free memory to the operating
// system while the process is idle.
//
// The Go runtime keeps the memory its last collection freed, up to about
// the next collection's goal (twice the live heap by default), because a
// busy program would soon need it again. An idle server allocates slowly:
// its heap creeps up to that goal over minutes and then holds it, so an
// idle `gantry server` held some 8 MiB more anonymous memory than its live
// heap and stacks. Run looks every Interval at how much the process
// allocated since the last look; when that is little (the process is
// idle) and a collection would return at least MinFree, it collects and
// returns the free memory (debug.FreeOSMemory), as the JVM's G1 does for
// idle programs (JEP 346). A busy process is left alone: there the
// runtime's own pacing is the better trade.
package memtrim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Config tunes the trimmer.
type Config struct {
	// Interval is how often it looks; 0 disables trimming.
	Interval time.Duration
	// IdleAlloc: a period in which the process allocated less than this
	// many bytes is idle.
	IdleAlloc uint64
	// MinFree is the least a trim must be able to return, in bytes.
	MinFree uint64
}

// DefaultConfig looks every 10 s, counts under 8 MiB allocated in that
// time as idle (an idle server allocates about 1.5 MiB, a busy one
// hundreds) and trims when 2 MiB or more would be returned. A trim costs
// a collection of the live heap, some 10 ms of CPU for an idle server's
// 14 MB.
func DefaultConfig() Config {
	return Config{Interval: 10 * time.Second, IdleAlloc: 8 << 20, MinFree: 2 << 20}
}

// Sample is what a look reads from runtime/metrics, in bytes.
type Sample struct {
	// Allocated is the total ever allocated on the heap.
	Allocated uint64
	// Free is heap memory that is free but not returned to the system.
	Free uint64
	// Objects is the heap memory in objects, live or not yet swept.
	Objects uint64
	// Live is the heap the last collection found live.
	Live uint64
}

// Reclaimable is how much a collection and release would return: the
// free memory and the objects that died since the last collection.
func (s Sample) Reclaimable() uint64 {
	var dead uint64
	if s.Objects > s.Live {
		dead = s.Objects - s.Live
	}
	return s.Free + dead
}

// ShouldTrim decides from two consecutive samples: the process was idle
// between them and a trim would return at least MinFree.
func (c Config) ShouldTrim(prev, cur Sample) bool {
	if cur.Allocated < prev.Allocated { // not the same process's counters
		return false
	}
	return cur.Allocated-prev.Allocated < c.IdleAlloc && cur.Reclaimable() >= c.MinFree
}

var metricNames = []string{
	"/gc/heap/allocs:bytes",
	"/memory/classes/heap/free:bytes",
	"/memory/classes/heap/objects:bytes",
	"/gc/heap/live:bytes",
}

// Read samples this process's heap.
func Read() Sample {
	ms := make([]metrics.Sample, len(metricNames))
	for i, n := range metricNames {
		ms[i].Name = n
	}
	metrics.Read(ms)
	v := func(i int) uint64 {
		if ms[i].Value.Kind() != metrics.KindUint64 {
			return 0
		}
		return ms[i].Value.Uint64()
	}
	return Sample{Allocated: v(0), Free: v(1), Objects: v(2), Live: v(3)}
}

// Run trims as configured until ctx ends.
func Run(ctx context.Context, cfg Config, log *slog.Logger) {
	run(ctx, cfg, Read, debug.FreeOSMemory, log)
}

// run is Run reading samples with read and trimming with trim.
func run(ctx context.Context, cfg Config, read func() Sample, trim func(), log *slog.Logger) {
	if cfg.Interval <= 0 {
		return
	}
	tick := time.NewTicker(cfg.Interval)
	defer tick.Stop()
	prev := read()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		cur := read()
		if cfg.ShouldTrim(prev, cur) {
			trim()
			after := read()
			log.Debug("idle: returned free heap memory to the system", "reclaimable", cur.Reclaimable(), "live", after.Live)
			cur = after
		}
		prev = cur
	}
}
