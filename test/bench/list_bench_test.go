package bench

import (
	"context"
	"fmt"
	"io"
	"mime"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/rest"
)

// BenchmarkList measures a LIST of every pod in a namespace holding 3,000
// or 10,000 realistic pods (one container, labels, resources, a probe, a
// volume; about 3.5 KB of JSON each as served, half of it managedFields of
// the create and of the scheduler's status update), in JSON and protobuf, two
// ways:
//   - decode=typed: client-go's typed List, decoding into a PodList, as a
//     controller or kubectl would;
//   - decode=raw: one GET reading the full body without decoding it, the
//     server's share plus the transfer.
//
// The pods are created once per size and reused by every iteration. The
// server runs with --disable-agent (see startAPITarget): the pods stay
// pending, unbound and without a status written by an agent, as a control
// plane without nodes holds them.
//
// The server keeps the encoding of each listed item (--list-cache-mb), so
// every list after the first of unchanged pods copies encodings instead of
// decoding and encoding each pod; BenchmarkListUncached measures the same
// with that cache off, which is what a list of pods that all changed since
// the last list costs.
// Metrics: ms/list, and MB/list (the body size) for decode=raw.
func BenchmarkList(b *testing.B) { benchList(b) }

// BenchmarkListUncached is BenchmarkList with the server's list item cache
// off (--list-cache-mb=0).
func BenchmarkListUncached(b *testing.B) { benchList(b, "--list-cache-mb=0") }

func benchList(b *testing.B, serverArgs ...string) {
	t := startAPITarget(b, serverArgs...)
	t.run(b, func(b *testing.B) {
		admin := newClient(b, t.cfg, codecProtobuf)
		for _, n := range []int{3000, 10000} {
			b.Run(fmt.Sprintf("pods=%d", n), func(b *testing.B) {
				ns := createNamespace(b, admin, fmt.Sprintf("bench-list-%d", n))
				fillPods(b, t.cfg, ns, n)
				for _, c := range codecs {
					cs := newClient(b, t.cfg, c)
					b.Run("codec="+c.name+"/decode=typed", func(b *testing.B) {
						for i := 0; i < b.N; i++ {
							list, err := cs.CoreV1().Pods(ns).List(b.Context(), metav1.ListOptions{})
							if err != nil {
								b.Fatal(err)
							}
							if len(list.Items) != n {
								b.Fatalf("listed %d pods, want %d", len(list.Items), n)
							}
						}
						b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms/list")
					})
					b.Run("codec="+c.name+"/decode=raw", func(b *testing.B) {
						rc := cs.CoreV1().RESTClient()
						url := rc.Get().Namespace(ns).Resource("pods").URL().String()
						var size int64
						for i := 0; i < b.N; i++ {
							size = rawGet(b, cs.http, url, c.contentType)
						}
						b.ReportMetric(ms(b.Elapsed())/float64(b.N), "ms/list")
						b.ReportMetric(float64(size)/1e6, "MB/list")
						if c == codecJSON {
							b.Logf("%d pods, %d bytes of JSON each on average", n, size/int64(n))
						}
					})
				}
			})
		}
	})
}

// rawGet GETs url accepting mediaType, checks the answer is 200 in that
// media type and returns the body's size.
func rawGet(b *testing.B, hc *http.Client, url, mediaType string) int64 {
	b.Helper()
	req, err := http.NewRequestWithContext(b.Context(), http.MethodGet, url, nil)
	if err != nil {
		b.Fatal(err)
	}
	req.Header.Set("Accept", mediaType)
	resp, err := hc.Do(req)
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	size, err := io.Copy(io.Discard, resp.Body)
	if err != nil {
		b.Fatal(err)
	}
	if resp.StatusCode != http.StatusOK {
		b.Fatalf("GET %s: %s", url, resp.Status)
	}
	if mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type")); mt != mediaType {
		b.Fatalf("GET %s: Content-Type %q, want %s", url, resp.Header.Get("Content-Type"), mediaType)
	}
	return size
}

// fillPods creates n pods in ns from 16 concurrent protobuf clients.
func fillPods(b *testing.B, cfg *rest.Config, ns string, n int) {
	b.Helper()
	const workers = 16
	var next atomic.Int64
	var failed firstError
	var wg sync.WaitGroup
	for range workers {
		cs := newClient(b, cfg, codecProtobuf)
		wg.Add(1)
		go func(cs client) {
			defer wg.Done()
			for {
				i := next.Add(1)
				if i > int64(n) || failed.get() != nil {
					return
				}
				if _, err := cs.CoreV1().Pods(ns).Create(context.Background(), benchPod(int(i)), metav1.CreateOptions{}); err != nil {
					failed.set(err)
					return
				}
			}
		}(cs)
	}
	wg.Wait()
	if err := failed.get(); err != nil {
		b.Fatal(err)
	}
}

// benchPod is a Deployment-style web pod.
func benchPod(i int) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{
			Name: fmt.Sprintf("web-7d9f8c6b5d-%05d", i),
			Labels: map[string]string{
				"app.kubernetes.io/name":    "web",
				"app.kubernetes.io/part-of": "shop",
				"app.kubernetes.io/version": "1.27.3",
				"pod-template-hash":         "7d9f8c6b5d",
			},
		},
		Spec: corev1.PodSpec{
			Containers: []corev1.Container{{
				Name:  "web",
				Image: "registry.example.com/shop/web:1.27.3",
				Args:  []string{"--listen=:8080", "--config=/etc/web/config.yaml"},
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}},
				Env: []corev1.EnvVar{
					{Name: "LOG_LEVEL", Value: "info"},
					{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
				},
				Resources: corev1.ResourceRequirements{
					Requests: corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi")},
					Limits:   corev1.ResourceList{corev1.ResourceCPU: resource.MustParse("500m"), corev1.ResourceMemory: resource.MustParse("256Mi")},
				},
				ReadinessProbe: &corev1.Probe{
					ProbeHandler:  corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/healthz", Port: intstr.FromString("http")}},
					PeriodSeconds: 10,
				},
				VolumeMounts: []corev1.VolumeMount{{Name: "config", MountPath: "/etc/web", ReadOnly: true}},
			}},
			Volumes: []corev1.Volume{{
				Name:         "config",
				VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "web-config"}}},
			}},
		},
	}
}
