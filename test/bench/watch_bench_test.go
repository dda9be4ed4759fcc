package bench

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
)

const (
	// fanoutWatchers is how many clients watch the namespace.
	fanoutWatchers = 1000
	// fanoutConns spreads the watchers over this many connections (one
	// transport each), 125 watch streams per HTTP/2 connection: below Go's
	// default MaxConcurrentStreams of 250, so no watch waits for a stream.
	fanoutConns = 8
)

// BenchmarkWatchFanout opens 1,000 watches of the ConfigMaps in one
// namespace, then updates a ConfigMap there once per op and waits until
// every watcher has received the change. Latency is measured per watcher
// from just before the update is sent (so it includes the write itself,
// reported alone as update-ms) until that watcher's client has decoded the
// event. Metrics: p50-ms, p99-ms and max-ms over all rounds' deliveries.
// The server runs with --disable-agent (see startAPITarget).
func BenchmarkWatchFanout(b *testing.B) {
	t := startAPITarget(b)
	t.run(b, func(b *testing.B) {
		admin := newClient(b, t.cfg, codecProtobuf)
		// The watches outlive each run of a sub-benchmark; they end with
		// this, the parent benchmark.
		ctx, cancel := context.WithCancel(context.Background())
		b.Cleanup(cancel)
		for _, c := range codecs {
			var f *fanout // set up once, reused by every run of the sub-benchmark
			b.Run(fmt.Sprintf("watchers=%d/codec=%s", fanoutWatchers, c.name), func(b *testing.B) {
				if f == nil {
					f = startFanout(ctx, b, t, admin, c)
				}
				var lats []time.Duration
				var update time.Duration
				b.ResetTimer()
				for i := 0; i < b.N; i++ {
					l, u := f.round(b)
					lats = append(lats, l...)
					update += u
				}
				b.StopTimer()
				slices.Sort(lats)
				b.ReportMetric(ms(percentile(lats, 50)), "p50-ms")
				b.ReportMetric(ms(percentile(lats, 99)), "p99-ms")
				b.ReportMetric(ms(lats[len(lats)-1]), "max-ms")
				b.ReportMetric(ms(update)/float64(b.N), "update-ms")
			})
		}
	})
}

// fanout is a ConfigMap and the watchers of its namespace.
type fanout struct {
	admin   client
	cm      *corev1.ConfigMap
	sent    atomic.Int64 // UnixNano just before the current round's update
	results chan delivery
	errs    chan error
	n       int // rounds so far
}

// delivery is one watcher's receipt of one round's update.
type delivery struct {
	round   int
	latency time.Duration
}

// startFanout creates the namespace and ConfigMap for codec c, opens the
// watches and checks with one unmeasured round that all of them deliver.
// The watches end with ctx.
func startFanout(ctx context.Context, b *testing.B, t apiTarget, admin client, c codec) *fanout {
	b.Helper()
	ns := createNamespace(b, admin, "bench-watch-"+c.name)
	cm, err := admin.CoreV1().ConfigMaps(ns).Create(ctx, &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: "fanout"},
		Data:       map[string]string{"round": "0"},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	f := &fanout{
		admin:   admin,
		cm:      cm,
		results: make(chan delivery, fanoutWatchers),
		errs:    make(chan error, fanoutWatchers),
	}
	conns := make([]client, fanoutConns)
	for i := range conns {
		conns[i] = newClient(b, t.cfg, c)
	}
	// Open the watches 32 at a time; each Watch returns once the server has
	// answered with its headers, i.e. its storage watch is in place.
	var wg sync.WaitGroup
	sem := make(chan struct{}, 32)
	var failed firstError
	for i := range fanoutWatchers {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			w, err := conns[i%fanoutConns].CoreV1().ConfigMaps(ns).Watch(ctx, metav1.ListOptions{ResourceVersion: cm.ResourceVersion})
			if err != nil {
				failed.set(err)
				return
			}
			go f.receive(w)
		}()
	}
	wg.Wait()
	if err := failed.get(); err != nil {
		b.Fatalf("opening watches: %v", err)
	}
	f.round(b) // warm-up: every watcher is live
	return f
}

// receive forwards one watcher's events as deliveries.
func (f *fanout) receive(w watch.Interface) {
	defer w.Stop()
	for ev := range w.ResultChan() {
		now := time.Now()
		cm, ok := ev.Object.(*corev1.ConfigMap)
		if ev.Type != watch.Modified || !ok {
			f.errs <- fmt.Errorf("unexpected %s event: %v", ev.Type, ev.Object)
			return
		}
		r, err := strconv.Atoi(cm.Data["round"])
		if err != nil {
			f.errs <- fmt.Errorf("event without a round: %v", cm.Data)
			return
		}
		f.results <- delivery{round: r, latency: now.Sub(time.Unix(0, f.sent.Load()))}
	}
}

// round updates the ConfigMap and returns every watcher's latency and the
// update's own duration.
func (f *fanout) round(b *testing.B) ([]time.Duration, time.Duration) {
	b.Helper()
	f.n++
	cm := f.cm.DeepCopy()
	cm.Data["round"] = strconv.Itoa(f.n)
	start := time.Now()
	f.sent.Store(start.UnixNano())
	cm, err := f.admin.CoreV1().ConfigMaps(cm.Namespace).Update(context.Background(), cm, metav1.UpdateOptions{})
	update := time.Since(start)
	if err != nil {
		b.Fatal(err)
	}
	f.cm = cm
	lats := make([]time.Duration, 0, fanoutWatchers)
	timeout := time.After(60 * time.Second)
	for len(lats) < fanoutWatchers {
		select {
		case d := <-f.results:
			if d.round != f.n {
				b.Fatalf("delivery of round %d during round %d", d.round, f.n)
			}
			lats = append(lats, d.latency)
		case err := <-f.errs:
			b.Fatal(err)
		case <-timeout:
			b.Fatalf("round %d: %d of %d watchers received the update within 60s", f.n, len(lats), fanoutWatchers)
		}
	}
	return lats, update
}

// percentile returns the p-th percentile of sorted (nearest rank).
func percentile(sorted []time.Duration, p int) time.Duration {
	i := (len(sorted)*p + 99) / 100
	return sorted[max(i-1, 0)]
}
