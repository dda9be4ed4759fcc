package bench

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// BenchmarkPodStart measures issue #3's pod start latency on real Docker:
// the time from a pod's create request to the watch event that shows it
// Running with its container ready, for one pod at a time and for 100
// created at once (16 clients), and, in the same run, the same sandbox
// (Gantry's pause image) plus one app container created and started by
// hand through the Docker Engine API (the "handmade" sub-benchmarks). Each
// pod is a pause container and the test image's `sleep`.
//
//	go test -run '^$' -bench PodStart -benchtime 20x ./test/bench/
//
// Reported: p50 and p99 per-pod latency in ms, and for 100 pods the time
// until the last one runs (s-all). The server runs its in-process agent
// with its own node name and cluster CIDR, so it shares nothing with
// anything else on the host; its containers are removed at the end.
func BenchmarkPodStart(b *testing.B) {
	nodeName, cidr := benchNodeIdentity()
	image, err := testcluster.BuildTestImage(b.TempDir(), "gantry-bench/app")
	if err != nil {
		b.Fatal(err)
	}
	dk := newDockerAPI()
	network := "gantry-" + cidrName(cidr)
	b.Cleanup(func() {
		dk.removeLabelled(context.Background(), "io.gantry.node="+nodeName)
		_ = dk.do(context.Background(), "DELETE", "/networks/"+network, nil, nil)
	})
	b.Cleanup(func() { dk.removeLabelled(context.Background(), "io.gantry.bench=handmade") })
	p := launch(b, filepath.Join(b.TempDir(), "data"), "--node-name", nodeName, "--cluster-cidr", cidr)
	b.Cleanup(p.stop)
	if err := p.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
		b.Fatal(err)
	}
	cs, err := kubernetes.NewForConfig(p.restConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	ctx := b.Context()
	waitNodeReady(b, cs, nodeName)
	// A first pod builds the pause image and the pod network, as any
	// node's first pod does; it is not measured.
	if _, _, err := startPods(ctx, cs, image, "warm", 1); err != nil {
		b.Fatal(err)
	}
	pause := pauseImageOf(b, dk)

	for _, n := range []int{1, 100} {
		b.Run(fmt.Sprintf("gantry/pods=%d", n), func(b *testing.B) {
			var lat []time.Duration
			var all time.Duration
			for i := range b.N {
				l, a, err := startPods(ctx, cs, image, fmt.Sprintf("r%d-%d", n, i), n)
				if err != nil {
					b.Fatal(err)
				}
				lat, all = append(lat, l...), all+a
			}
			reportLatencies(b, lat, all, n)
		})
		b.Run(fmt.Sprintf("handmade/pods=%d", n), func(b *testing.B) {
			var lat []time.Duration
			var all time.Duration
			for i := range b.N {
				l, a, err := dk.handmadePods(ctx, pause, image, network, fmt.Sprintf("%s-%d-%d", nodeName, n, i), n)
				if err != nil {
					b.Fatal(err)
				}
				lat, all = append(lat, l...), all+a
			}
			reportLatencies(b, lat, all, n)
		})
	}
}

func reportLatencies(b *testing.B, lat []time.Duration, all time.Duration, n int) {
	slices.Sort(lat)
	b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
	b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
	if n > 1 {
		b.ReportMetric(all.Seconds()/float64(b.N), "s-all")
	}
}

// benchNodeIdentity returns a node name and cluster CIDR no other run
// uses.
func benchNodeIdentity() (string, string) {
	r := make([]byte, 3)
	_, _ = rand.Read(r)
	return "bench-" + hex.EncodeToString(r), fmt.Sprintf("10.%d.0.0/16", 110+int(r[0])%40)
}

func cidrName(cidr string) string {
	out := []byte(cidr)
	for i, c := range out {
		if c == '/' {
			out[i] = '-'
		}
	}
	return string(out)
}

func waitNodeReady(b *testing.B, cs kubernetes.Interface, name string) {
	b.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for {
		n, err := cs.CoreV1().Nodes().Get(b.Context(), name, metav1.GetOptions{})
		if err == nil && n.Spec.PodCIDR != "" {
			for _, c := range n.Status.Conditions {
				if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
					return
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("node %s not Ready with a podCIDR within 60 s (last error %v)", name, err)
		}
		time.Sleep(100 * time.Millisecond) // polling interval
	}
}

// pauseImageOf returns Gantry's pause image, which the node built for its
// first pod.
func pauseImageOf(b *testing.B, dk *dockerAPI) string {
	b.Helper()
	ref, err := dk.imageTagged(b.Context(), "gantry/pause")
	if err != nil {
		b.Fatalf("Gantry's pause image: %v", err)
	}
	return ref
}

// startPods creates n pods named prefix-i with 16 clients and waits until
// a watch has seen each Running and ready; it returns each pod's latency
// (create request → Running) and the time until the last was Running. It
// then deletes them and waits until they are gone, so the next round
// starts on an idle node.
func startPods(ctx context.Context, cs kubernetes.Interface, image, prefix string, n int) ([]time.Duration, time.Duration, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	pods := cs.CoreV1().Pods(metav1.NamespaceDefault)
	sel := "bench-round=" + prefix
	w, err := pods.Watch(ctx, metav1.ListOptions{LabelSelector: sel})
	if err != nil {
		return nil, 0, err
	}
	defer w.Stop()

	var mu sync.Mutex
	created := map[string]time.Time{}
	start := time.Now()
	work := make(chan int)
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for range min(16, n) {
		wg.Go(func() {
			for i := range work {
				pod := sleepPod(image, fmt.Sprintf("%s-%d", prefix, i), prefix)
				t := time.Now()
				mu.Lock()
				created[pod.Name] = t
				mu.Unlock()
				if _, err := pods.Create(ctx, pod, metav1.CreateOptions{}); err != nil {
					errs <- err
				}
			}
		})
	}
	go func() {
		for i := range n {
			work <- i
		}
		close(work)
	}()

	running := map[string]time.Duration{}
	var last time.Duration
	for len(running) < n {
		select {
		case err := <-errs:
			return nil, 0, err
		case <-ctx.Done():
			return nil, 0, fmt.Errorf("%d/%d pods Running before the deadline: %w", len(running), n, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return nil, 0, fmt.Errorf("watch closed with %d/%d pods Running", len(running), n)
			}
			if ev.Type != watch.Added && ev.Type != watch.Modified {
				continue
			}
			pod := ev.Object.(*corev1.Pod)
			if _, seen := running[pod.Name]; seen || !podRunning(pod) {
				continue
			}
			now := time.Now()
			mu.Lock()
			t0 := created[pod.Name]
			mu.Unlock()
			running[pod.Name] = now.Sub(t0)
			last = now.Sub(start)
		}
	}
	wg.Wait()
	lat := make([]time.Duration, 0, n)
	for _, d := range running {
		lat = append(lat, d)
	}
	return lat, last, deletePods(ctx, cs, sel)
}

func podRunning(p *corev1.Pod) bool {
	if p.Status.Phase != corev1.PodRunning || len(p.Status.ContainerStatuses) == 0 {
		return false
	}
	for _, c := range p.Status.ContainerStatuses {
		if c.State.Running == nil || !c.Ready {
			return false
		}
	}
	return true
}

func sleepPod(image, name, round string) *corev1.Pod {
	one := int64(1)
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"bench-round": round}},
		Spec: corev1.PodSpec{
			TerminationGracePeriodSeconds: &one,
			Containers: []corev1.Container{{
				Name: "app", Image: image, Args: []string{"sleep"},
				ImagePullPolicy: corev1.PullNever,
				Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
					corev1.ResourceCPU: resource.MustParse("1m"), corev1.ResourceMemory: resource.MustParse("4Mi"),
				}},
			}},
		},
	}
}

// deletePods deletes the pods matching sel and waits until none is left.
func deletePods(ctx context.Context, cs kubernetes.Interface, sel string) error {
	pods := cs.CoreV1().Pods(metav1.NamespaceDefault)
	if err := pods.DeleteCollection(ctx, metav1.DeleteOptions{}, metav1.ListOptions{LabelSelector: sel}); err != nil {
		return err
	}
	for {
		list, err := pods.List(ctx, metav1.ListOptions{LabelSelector: sel})
		if err != nil {
			return err
		}
		if len(list.Items) == 0 {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("%d pods of %s not gone: %w", len(list.Items), sel, ctx.Err())
		case <-time.After(100 * time.Millisecond): // polling interval
		}
	}
}
