package scheduler_test

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
)

// BenchmarkScenarioBind measures, on the in-process control plane with
// hollow nodes, the time from the first of 3,000 pod creations (16
// concurrent clients) until every pod is bound, as seen by a watch.
//
//	go test -run '^$' -bench ScenarioBind -benchtime 1x ./internal/scheduler
func BenchmarkScenarioBind(b *testing.B) {
	for _, nodes := range []int{500, 5000} {
		b.Run(fmt.Sprintf("nodes=%d/pods=3000", nodes), func(b *testing.B) {
			for range b.N {
				b.StopTimer()
				cs := startCluster(b).Client
				createHollowNodes(b, cs, nodes)
				b.StartTimer()
				created, all := createAndWaitBound(b, cs, 3000)
				b.StopTimer()
				b.ReportMetric(all.Seconds(), "s-to-all-bound")
				b.ReportMetric(created.Seconds(), "s-to-all-created")
				b.ReportMetric(3000/all.Seconds(), "pods/s")
			}
		})
	}
}

// TestScenarioManyPods binds a few hundred pods on many hollow nodes and
// checks that no node is given more than it can hold.
func TestScenarioManyPods(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	cs := startCluster(t).Client
	const nodes, pods = 50, 600
	createHollowNodes(t, cs, nodes) // 32 cpu each: 320 pods of 100m fit per node
	_, took := createAndWaitBound(t, cs, pods)
	t.Logf("%d pods bound on %d nodes in %v", pods, nodes, took)
	list, err := cs.CoreV1().Pods(metav1.NamespaceDefault).List(t.Context(), metav1.ListOptions{})
	if err != nil {
		t.Fatal(err)
	}
	perNode := map[string]int{}
	for _, p := range list.Items {
		perNode[p.Spec.NodeName]++
	}
	if len(perNode) < nodes/2 {
		t.Errorf("pods spread over %d of %d nodes; LeastAllocated should spread them: %v", len(perNode), nodes, perNode)
	}
}

func createHollowNodes(t testing.TB, cs kubernetes.Interface, n int) {
	t.Helper()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				createHollowNode(t, cs, hollowNode{name: fmt.Sprintf("hollow-%d", i), cpu: "32", memory: "128Gi"})
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
}

// createAndWaitBound creates n pods (100m cpu, 128Mi) with 16 clients and
// waits until a watch has seen every one bound. It returns the time to
// create them all and the time until all were bound.
func createAndWaitBound(t testing.TB, cs kubernetes.Interface, n int) (created, bound time.Duration) {
	t.Helper()
	ctx, cancel := context.WithCancel(t.Context())
	var nBound atomic.Int64
	done := make(chan struct{})
	factory := informers.NewSharedInformerFactory(cs, 0)
	inf := factory.Core().V1().Pods().Informer()
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			o, p := oldObj.(*corev1.Pod), newObj.(*corev1.Pod)
			if o.Spec.NodeName == "" && p.Spec.NodeName != "" && nBound.Add(1) == int64(n) {
				close(done)
			}
		},
	}); err != nil {
		t.Fatal(err)
	}
	factory.Start(ctx.Done())
	defer factory.Shutdown() // after cancel: Shutdown waits for the informers to stop
	defer cancel()
	cache.WaitForCacheSync(ctx.Done(), inf.HasSynced)

	start := time.Now()
	var wg sync.WaitGroup
	work := make(chan int)
	for range 16 {
		wg.Go(func() {
			for i := range work {
				p := &corev1.Pod{
					ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("web-%d", i), Labels: map[string]string{"app": "web"}},
					Spec: corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: "web", Resources: corev1.ResourceRequirements{
						Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					}}}},
				}
				if _, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, p, metav1.CreateOptions{}); err != nil {
					t.Error(err)
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	created = time.Since(start)
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatalf("%d/%d pods bound after 2 minutes", nBound.Load(), n)
	}
	return created, time.Since(start)
}
