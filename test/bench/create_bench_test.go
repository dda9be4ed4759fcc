package bench

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// createsPerOp is how many ConfigMaps one op of BenchmarkCreate creates:
// enough that the figure means something with -benchtime 3x (with one
// create per op, 3 creates spread over 32 clients measured only noise).
const createsPerOp = 1000

// BenchmarkCreate measures ConfigMap creates per second from 1 and from 32
// concurrent clients, each client with its own connection, in JSON and in
// protobuf. One op is createsPerOp creates; creates/s is b.N×createsPerOp
// over the elapsed time. The server runs with --disable-agent (see
// startAPITarget).
func BenchmarkCreate(b *testing.B) {
	t := startAPITarget(b)
	t.run(b, func(b *testing.B) {
		admin := newClient(b, t.cfg, codecProtobuf)
		ns := createNamespace(b, admin, "bench-create")
		run := 0 // names stay unique across the benchmark's repeated runs
		for _, clients := range []int{1, 32} {
			for _, c := range codecs {
				b.Run(fmt.Sprintf("clients=%d/codec=%s", clients, c.name), func(b *testing.B) {
					cs := make([]client, clients)
					for i := range cs {
						cs[i] = newClient(b, t.cfg, c)
						// Connect (TLS handshake) before the clock starts.
						if _, err := cs[i].CoreV1().Namespaces().Get(b.Context(), ns, metav1.GetOptions{}); err != nil {
							b.Fatal(err)
						}
					}
					run++
					prefix := fmt.Sprintf("c%d-%s-r%d-", clients, c.name, run)
					total := int64(b.N) * createsPerOp
					var next atomic.Int64
					var failed firstError
					var wg sync.WaitGroup
					b.ResetTimer()
					for _, cl := range cs {
						wg.Add(1)
						go func() {
							defer wg.Done()
							for {
								i := next.Add(1)
								if i > total || failed.get() != nil {
									return
								}
								if _, err := cl.CoreV1().ConfigMaps(ns).Create(context.Background(), benchConfigMap(prefix, i), metav1.CreateOptions{}); err != nil {
									failed.set(err)
									return
								}
							}
						}()
					}
					wg.Wait()
					b.StopTimer()
					if err := failed.get(); err != nil {
						b.Fatal(err)
					}
					b.ReportMetric(float64(total)/b.Elapsed().Seconds(), "creates/s")
				})
			}
		}
	})
}

// benchConfigMap is a small ConfigMap (about 300 bytes of JSON).
func benchConfigMap(prefix string, i int64) *corev1.ConfigMap {
	return &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:   fmt.Sprintf("%s%d", prefix, i),
			Labels: map[string]string{"app": "bench", "shard": fmt.Sprint(i % 16)},
		},
		Data: map[string]string{
			"config.yaml": "listen: 0.0.0.0:8080\nlogLevel: info\ntimeout: 30s\n",
			"index":       fmt.Sprint(i),
		},
	}
}

// createNamespace creates a namespace for one benchmark.
func createNamespace(b *testing.B, cs kubernetes.Interface, name string) string {
	b.Helper()
	_, err := cs.CoreV1().Namespaces().Create(b.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	return name
}

// firstError keeps the first error of concurrent workers.
type firstError struct {
	mu  sync.Mutex
	err error
}

func (f *firstError) set(err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.err == nil {
		f.err = err
	}
}

func (f *firstError) get() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.err
}
