package bench

import (
	"cmp"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/util/retry"
)

// BenchmarkDeploymentScheduling measures issue #4's scheduling figure on
// the binary: the time from creating a 3,000-replica Deployment to the
// watch event of the last of its pods being bound, on 500 and 5,000
// hollow nodes (Node objects with capacity, Ready, and a fresh Lease; no
// agent runs), with and without preferred inter-pod anti-affinity on the
// hostname. Everything runs with default settings except
// --node-monitor-grace-period 1h, so that hollow nodes, whose leases nobody
// renews, stay Ready while thousands are created. Also reported: the
// server process's resident set afterwards (API server, etcd, scheduler
// and controllers are one process) and its peak, and the CPU time it used
// per pod until the last one was bound (steadier than the wall time from
// run to run, so better for comparing changes).
//
//	go test -run '^$' -bench DeploymentScheduling -benchtime 1x -timeout 30m ./test/bench/
func BenchmarkDeploymentScheduling(b *testing.B) {
	const replicas = 3000
	for _, nodes := range []int{500, 5000} {
		for _, anti := range []bool{false, true} {
			b.Run(fmt.Sprintf("nodes=%d/antiAffinity=%t", nodes, anti), func(b *testing.B) {
				var took, made, cpu, rss, hwm float64
				for range b.N {
					p := launch(b, filepath.Join(b.TempDir(), "data"), "--disable-agent", "--node-monitor-grace-period", "1h")
					if err := p.waitReady(60*time.Second, 20*time.Millisecond); err != nil {
						p.stop()
						b.Fatal(err)
					}
					cs, err := kubernetes.NewForConfig(p.restConfig(b))
					if err != nil {
						b.Fatal(err)
					}
					if err := createHollowNodes(b.Context(), cs, nodes); err != nil {
						p.stop()
						b.Fatal(err)
					}
					cpu0, err := cpuTime(p.cmd.Process.Pid)
					if err != nil {
						p.stop()
						b.Fatal(err)
					}
					stopProfile := profileServer(b, p, fmt.Sprintf("sched-%d-%t", nodes, anti))
					d, c, err := deployAndWaitBound(b.Context(), cs, replicas, anti)
					cpu1, cpuErr := cpuTime(p.cmd.Process.Pid)
					stopProfile()
					if err = cmp.Or(err, cpuErr); err != nil {
						p.stop()
						b.Fatal(err)
					}
					cpu += (cpu1 - cpu0).Seconds()
					took += d.Seconds()
					made += c.Seconds()
					r, err1 := vmStatus(p.cmd.Process.Pid, "VmRSS")
					h, err2 := vmStatus(p.cmd.Process.Pid, "VmHWM")
					p.stop()
					if err1 != nil || err2 != nil {
						b.Fatal(err1, err2)
					}
					rss += float64(r) / 1024
					hwm += float64(h) / 1024
				}
				n := float64(b.N)
				b.ReportMetric(took/n, "s-to-all-bound")
				b.ReportMetric(made/n, "s-to-all-created")
				b.ReportMetric(replicas*n/took, "pods/s")
				b.ReportMetric(cpu/n/replicas*1000, "server-cpu-ms/pod")
				b.ReportMetric(rss/n, "server-MiB")
				b.ReportMetric(hwm/n, "server-peak-MiB")
			})
		}
	}
}

// profileServer, when $GANTRY_BENCH_CPUPROFILE names a directory, records
// the server's CPU profile (from its /debug/pprof/profile) for the next
// $GANTRY_BENCH_CPUPROFILE_SECONDS (default 5) seconds into
// DIR/NAME.pprof, for `go tool pprof`; stop waits for it. Otherwise it
// does nothing.
func profileServer(b *testing.B, p *process, name string) (stop func()) {
	dir := os.Getenv("GANTRY_BENCH_CPUPROFILE")
	if dir == "" {
		return func() {}
	}
	seconds := cmp.Or(os.Getenv("GANTRY_BENCH_CPUPROFILE_SECONDS"), "5")
	hc, err := rest.HTTPClientFor(p.restConfig(b))
	if err != nil {
		b.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		resp, err := hc.Get(p.url + "/debug/pprof/profile?seconds=" + seconds)
		if err != nil {
			done <- err
			return
		}
		defer resp.Body.Close()
		data, err := io.ReadAll(resp.Body)
		if err == nil && resp.StatusCode != http.StatusOK {
			err = fmt.Errorf("%s: %s", resp.Status, data)
		}
		if err == nil {
			err = os.WriteFile(filepath.Join(dir, name+".pprof"), data, 0o644)
		}
		done <- err
	}()
	return func() {
		if err := <-done; err != nil {
			b.Errorf("cpu profile: %v", err)
		}
	}
}

// createHollowNodes creates n Ready nodes (32 cpu, 128 GiB, 110 pods) with
// leases, 32 at a time.
func createHollowNodes(ctx context.Context, cs kubernetes.Interface, n int) error {
	work := make(chan int)
	errs := make(chan error, 32)
	var wg sync.WaitGroup
	for range 32 {
		wg.Go(func() {
			for i := range work {
				if err := createHollowNode(ctx, cs, fmt.Sprintf("hollow-%d", i)); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	var err error
feed:
	for i := range n {
		select {
		case work <- i:
		case err = <-errs:
			break feed
		}
	}
	close(work)
	wg.Wait()
	if err == nil && len(errs) > 0 {
		err = <-errs
	}
	return err
}

func createHollowNode(ctx context.Context, cs kubernetes.Interface, name string) error {
	node, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name:   name,
		Labels: map[string]string{corev1.LabelHostname: name, corev1.LabelOSStable: "linux"},
	}}, metav1.CreateOptions{})
	if err != nil {
		return err
	}
	rl := corev1.ResourceList{
		corev1.ResourceCPU:    resource.MustParse("32"),
		corev1.ResourceMemory: resource.MustParse("128Gi"),
		corev1.ResourcePods:   resource.MustParse("110"),
	}
	now := metav1.Now()
	// Node IPAM writes the node's podCIDR concurrently: retry on conflict.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		node.Status = corev1.NodeStatus{Capacity: rl, Allocatable: rl, Conditions: []corev1.NodeCondition{{
			Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now,
		}}}
		_, err := cs.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{})
		if err != nil {
			if cur, gerr := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{}); gerr == nil {
				node = cur
			}
		}
		return err
	})
	if err != nil {
		return err
	}
	secs := int32(40)
	_, err = cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Create(ctx, &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       coordinationv1.LeaseSpec{HolderIdentity: &name, LeaseDurationSeconds: &secs, RenewTime: &metav1.MicroTime{Time: time.Now()}},
	}, metav1.CreateOptions{})
	return err
}

// deployAndWaitBound creates a Deployment of replicas pods (100m cpu,
// 128 MiB each) and returns the time from the create request until a
// watch has seen every one of its pods bound.
// deployAndWaitBound returns the time until the last pod was bound and
// until the last pod had been created.
func deployAndWaitBound(ctx context.Context, cs kubernetes.Interface, replicas int32, antiAffinity bool) (bound, created time.Duration, err error) {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Minute)
	defer cancel()
	labels := map[string]string{"app": "bench-web"}
	w, err := cs.CoreV1().Pods(metav1.NamespaceDefault).Watch(ctx, metav1.ListOptions{LabelSelector: "app=bench-web"})
	if err != nil {
		return 0, 0, err
	}
	defer w.Stop()
	spec := corev1.PodSpec{Containers: []corev1.Container{{
		Name: "web", Image: "web:1",
		Resources: corev1.ResourceRequirements{Requests: corev1.ResourceList{
			corev1.ResourceCPU: resource.MustParse("100m"), corev1.ResourceMemory: resource.MustParse("128Mi"),
		}},
	}}}
	if antiAffinity {
		spec.Affinity = &corev1.Affinity{PodAntiAffinity: &corev1.PodAntiAffinity{
			PreferredDuringSchedulingIgnoredDuringExecution: []corev1.WeightedPodAffinityTerm{{
				Weight: 100,
				PodAffinityTerm: corev1.PodAffinityTerm{
					LabelSelector: &metav1.LabelSelector{MatchLabels: labels},
					TopologyKey:   corev1.LabelHostname,
				},
			}},
		}}
	}
	start := time.Now()
	_, err = cs.AppsV1().Deployments(metav1.NamespaceDefault).Create(ctx, &appsv1.Deployment{
		ObjectMeta: metav1.ObjectMeta{Name: "bench-web"},
		Spec: appsv1.DeploymentSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{ObjectMeta: metav1.ObjectMeta{Labels: labels}, Spec: spec},
		},
	}, metav1.CreateOptions{})
	if err != nil {
		return 0, 0, err
	}
	isBound, seen := map[string]bool{}, map[string]bool{}
	for len(isBound) < int(replicas) {
		select {
		case <-ctx.Done():
			return 0, 0, fmt.Errorf("%d/%d pods bound: %w", len(isBound), replicas, ctx.Err())
		case ev, ok := <-w.ResultChan():
			if !ok {
				return 0, 0, fmt.Errorf("watch closed with %d/%d pods bound", len(isBound), replicas)
			}
			if ev.Type == watch.Added || ev.Type == watch.Modified {
				pod := ev.Object.(*corev1.Pod)
				if !seen[pod.Name] {
					seen[pod.Name] = true
					if len(seen) == int(replicas) {
						created = time.Since(start)
					}
				}
				if pod.Spec.NodeName != "" {
					isBound[pod.Name] = true
				}
			}
		}
	}
	return time.Since(start), created, nil
}
