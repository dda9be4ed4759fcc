package etcd

import (
	"bytes"
	"fmt"
	"runtime"
	"sync/atomic"
	"testing"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/gantry-dev/gantry/internal/embedetcd"
	"github.com/gantry-dev/gantry/internal/storage"
)

// object is a small encoded object, about the size of a ConfigMap.
var object = bytes.Repeat([]byte("x"), 512)

func benchStore(b *testing.B) *Store {
	b.Helper()
	_, client := startEtcd(b, embedetcd.DefaultConfig())
	return New(client, "/registry/")
}

func reportRate(b *testing.B, unit string) {
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), unit)
}

// BenchmarkCreate: one client creating objects one after another; every
// create is a durable (fsynced) etcd transaction.
func BenchmarkCreate(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	i := 0
	for b.Loop() {
		if _, err := s.Create(ctx, fmt.Sprintf("configmaps/default/cm-%d", i), object); err != nil {
			b.Fatal(err)
		}
		i++
	}
	reportRate(b, "creates/s")
}

// BenchmarkCreateParallel: about 32 concurrent creators; etcd batches their
// transactions into shared raft entries and fsyncs.
func BenchmarkCreateParallel(b *testing.B) {
	s := benchStore(b)
	ctx := b.Context()
	var n atomic.Int64
	// RunParallel starts parallelism × GOMAXPROCS goroutines.
	procs := runtime.GOMAXPROCS(0)
	b.SetParallelism((32 + procs - 1) / procs)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.Create(ctx, fmt.Sprintf("configmaps/default/cm-%d", n.Add(1)), object); err != nil {
				b.Error(err)
				return
			}
		}
	})
	reportRate(b, "creates/s")
}

// BenchmarkList10000 lists a prefix of 10,000 small objects in one page.
func BenchmarkList10000(b *testing.B) {
	s := benchStore(b)
	const n = 10000
	fillBench(b, s.client, "/registry/configmaps/default/", n)
	ctx := b.Context()
	for b.Loop() {
		res, err := s.List(ctx, "configmaps/default/", storage.ListOptions{})
		if err != nil {
			b.Fatal(err)
		}
		if len(res.Items) != n {
			b.Fatalf("listed %d items, want %d", len(res.Items), n)
		}
	}
}

// fillBench writes n objects under prefix in transactions of 100 puts.
func fillBench(b *testing.B, c *clientv3.Client, prefix string, n int) {
	b.Helper()
	for i := 0; i < n; {
		var ops []clientv3.Op
		for ; i < n && len(ops) < 100; i++ {
			ops = append(ops, clientv3.OpPut(fmt.Sprintf("%scm-%05d", prefix, i), string(object)))
		}
		if _, err := c.Txn(b.Context()).Then(ops...).Commit(); err != nil {
			b.Fatal(err)
		}
	}
}
