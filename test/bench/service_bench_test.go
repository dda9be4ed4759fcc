package bench

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// BenchmarkServiceThroughput measures issue #5's proxy overhead: HTTP
// requests per second and p99 latency from the host to one backend pod
// (the test image's `serve`), through the Service's ClusterIP (nftables
// DNAT) and straight to the pod IP, in the same run. 16 clients with
// keep-alive (podIP) and, separately, a new connection per request
// (-newconn), since the DNAT decision is made per connection.
//
//	go test -run '^$' -bench ServiceThroughput -benchtime 1x ./test/bench/
func BenchmarkServiceThroughput(b *testing.B) {
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
	podIP, clusterIP := startBackend(b, cs, image)

	for _, newConn := range []bool{false, true} {
		for _, target := range []struct{ name, url string }{
			{"podIP", "http://" + podIP + ":8080/"},
			{"clusterIP", "http://" + clusterIP + "/"},
		} {
			name := target.name
			if newConn {
				name += "-newconn"
			}
			b.Run(name, func(b *testing.B) {
				var reqs float64
				var lat []time.Duration
				for range b.N {
					n, l, err := httpLoad(ctx, target.url, 16, 5*time.Second, newConn)
					if err != nil {
						b.Fatal(err)
					}
					reqs += float64(n) / 5
					lat = append(lat, l...)
				}
				slices.Sort(lat)
				b.ReportMetric(reqs/float64(b.N), "req/s")
				b.ReportMetric(ms(percentile(lat, 50)), "p50-ms")
				b.ReportMetric(ms(percentile(lat, 99)), "p99-ms")
			})
		}
	}
}

// startBackend runs one `serve 8080` pod behind a ClusterIP Service and
// returns the pod IP and the cluster IP once the service answers.
func startBackend(b *testing.B, cs kubernetes.Interface, image string) (string, string) {
	b.Helper()
	ctx := b.Context()
	labels := map[string]string{"app": "bench-backend"}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "backend", Labels: labels},
		Spec: corev1.PodSpec{Containers: []corev1.Container{{
			Name: "web", Image: image, Args: []string{"serve", "8080"}, ImagePullPolicy: corev1.PullNever,
			Ports:          []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}},
			ReadinessProbe: &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromInt32(8080)}}, PeriodSeconds: 1},
		}}},
	}
	if _, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Create(ctx, pod, metav1.CreateOptions{}); err != nil {
		b.Fatal(err)
	}
	svc, err := cs.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "backend"},
		Spec: corev1.ServiceSpec{Selector: labels, Ports: []corev1.ServicePort{{
			Port: 80, TargetPort: intstr.FromString("http"),
		}}},
	}, metav1.CreateOptions{})
	if err != nil {
		b.Fatal(err)
	}
	client := &http.Client{Timeout: time.Second}
	deadline := time.Now().Add(90 * time.Second)
	for {
		pod, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Get(ctx, "backend", metav1.GetOptions{})
		if err == nil && pod.Status.PodIP != "" {
			if resp, err := client.Get("http://" + svc.Spec.ClusterIP + "/"); err == nil {
				resp.Body.Close()
				if resp.StatusCode == http.StatusOK {
					return pod.Status.PodIP, svc.Spec.ClusterIP
				}
			}
		}
		if time.Now().After(deadline) {
			b.Fatalf("backend not reachable through %s within 90 s", svc.Spec.ClusterIP)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// httpLoad runs clients that GET url back to back for d and returns the
// number of successful requests and every request's latency.
func httpLoad(ctx context.Context, url string, clients int, d time.Duration, newConn bool) (int, []time.Duration, error) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, DisableKeepAlives: newConn}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	end := time.Now().Add(d)
	var mu sync.Mutex
	var all []time.Duration
	var firstErr error
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			var lat []time.Duration
			for time.Now().Before(end) && ctx.Err() == nil {
				t := time.Now()
				resp, err := client.Get(url)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err == nil && resp.StatusCode != http.StatusOK {
						err = fmt.Errorf("status %s", resp.Status)
					}
				}
				if err != nil {
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				lat = append(lat, time.Since(t))
			}
			mu.Lock()
			all = append(all, lat...)
			mu.Unlock()
		})
	}
	wg.Wait()
	if firstErr != nil {
		return 0, nil, fmt.Errorf("GET %s: %w", url, firstErr)
	}
	return len(all), all, nil
}
