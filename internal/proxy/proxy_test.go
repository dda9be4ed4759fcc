package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/rest"
)

// fakeBackend records what the proxy applies; it can be told to fail.
type fakeBackend struct {
	mu       sync.Mutex
	applies  int
	cleanups int
	fail     int // fail this many applies
	last     *Ruleset
}

var _ backend = (*fakeBackend)(nil)

func (f *fakeBackend) Apply(r *Ruleset, refresh bool) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.fail > 0 {
		f.fail--
		return 0, fmt.Errorf("%w: injected", ErrApply)
	}
	f.applies++
	f.last = r
	return len(r.Services), nil
}

func (f *fakeBackend) Cleanup() error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.cleanups++
	f.last = nil
	return nil
}

func (f *fakeBackend) state() (applies, cleanups int, last *Ruleset) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.applies, f.cleanups, f.last
}

func testLogger(t *testing.T) *slog.Logger {
	return slog.New(slog.NewTextHandler(t.Output(), &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// startProxy runs p until the test ends and fails the test if Run does
// not return within 5 s of the cancel.
func startProxy(t *testing.T, p *Proxy) (stop func() error) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	errc := make(chan error, 1)
	go func() { errc <- p.Run(ctx) }()
	var once sync.Once
	var err error
	stop = func() error {
		once.Do(func() {
			cancel()
			select {
			case err = <-errc:
			case <-time.After(5 * time.Second):
				t.Fatal("Run did not return within 5 s of cancel")
			}
		})
		return err
	}
	t.Cleanup(func() { stop() })
	return stop
}

// waitApplied waits up to d for a ruleset satisfying ok.
func waitApplied(t *testing.T, p *Proxy, d time.Duration, what string, ok func(*Ruleset) bool) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), d)
	defer cancel()
	start := time.Now()
	if err := p.WaitApplied(ctx, ok); err != nil {
		t.Fatalf("%s: not applied within %v: %v (applied: %+v)", what, d, err, p.Applied())
	}
	t.Logf("%s: applied after %v", what, time.Since(start).Round(time.Millisecond))
}

func hasEndpoints(key string, want ...string) func(*Ruleset) bool {
	return func(r *Ruleset) bool {
		sp := r.Service(key)
		if sp == nil || len(sp.Endpoints) != len(want) {
			return false
		}
		for i, ep := range sp.Endpoints {
			if ep.Addr.String() != want[i] {
				return false
			}
		}
		return true
	}
}

func TestRunFollowsChangesAndStops(t *testing.T) {
	client := fake.NewClientset()
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.NodeName = "node1"
	cfg.Registerer = reg
	p := New(cfg, client, testLogger(t))
	fb := &fakeBackend{}
	p.backend = fb
	stop := startProxy(t, p)
	ctx := t.Context()

	select {
	case <-p.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("no first sync")
	}
	if _, err := client.CoreV1().Services("default").Create(ctx, newService("web", "10.96.0.10"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, newSlice("web", "a", 8080, "10.0.0.11"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, time.Second, "new service", hasEndpoints("default/web:http/TCP", "10.0.0.11"))

	// An endpoint turning terminating leaves the rules; the agent waits
	// for exactly this before stopping the pod.
	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, newSlice("web", "a", 8080, "10.0.0.11,terminating", "10.0.0.12"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, time.Second, "terminating endpoint removed", func(r *Ruleset) bool { return !r.HasEndpoint(addr("10.0.0.11")) })
	if !hasEndpoints("default/web:http/TCP", "10.0.0.12")(p.Applied()) {
		t.Errorf("applied %+v, want only 10.0.0.12", p.Applied().Services)
	}

	// Node addresses come from the Node object when Config has none.
	if _, err := client.CoreV1().Nodes().Create(ctx, &corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: "node1"},
		Status:     corev1.NodeStatus{Addresses: []corev1.NodeAddress{{Type: corev1.NodeInternalIP, Address: "192.168.1.10"}, {Type: corev1.NodeHostName, Address: "node1"}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, time.Second, "node address", func(r *Ruleset) bool {
		return len(r.NodeAddresses) == 1 && r.NodeAddresses[0] == addr("192.168.1.10")
	})

	if err := client.CoreV1().Services("default").Delete(ctx, "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, time.Second, "deleted service", func(r *Ruleset) bool { return len(r.Services) == 0 })

	if n := gather(t, reg, "gantry_proxy_sync_duration_seconds"); n == nil || n.GetHistogram().GetSampleCount() < 4 {
		t.Errorf("sync duration histogram = %v, want at least 4 syncs", n)
	}
	if n := gather(t, reg, "gantry_proxy_last_sync_timestamp_seconds"); n == nil || time.Since(time.Unix(int64(n.GetGauge().GetValue()), 0)) > time.Minute {
		t.Errorf("last sync timestamp = %v", n)
	}
	if gather(t, reg, "gantry_proxy_rules") == nil {
		t.Error("no gantry_proxy_rules metric")
	}

	if err := stop(); err != nil {
		t.Errorf("Run returned %v, want nil", err)
	}
	if _, cleanups, last := fb.state(); cleanups != 2 || last != nil {
		t.Errorf("after Run: %d cleanups (want 2: at start and at the end), rules %+v", cleanups, last)
	}
	if p.Applied() != nil {
		t.Error("Applied() is not nil after Run returned")
	}
	if err := p.Run(context.Background()); !errors.Is(err, ErrRunning) {
		t.Errorf("second Run = %v, want ErrRunning", err)
	}
}

func gather(t *testing.T, reg *prometheus.Registry, name string) *dto.Metric {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.GetMetric()) > 0 {
			return mf.GetMetric()[0]
		}
	}
	return nil
}

func TestRunCoalescesBursts(t *testing.T) {
	client := fake.NewClientset()
	cfg := DefaultConfig()
	cfg.MinSyncInterval = 200 * time.Millisecond
	p := New(cfg, client, testLogger(t))
	fb := &fakeBackend{}
	p.backend = fb
	startProxy(t, p)
	<-p.Synced()

	before, _, _ := fb.state()
	start := time.Now()
	const n = 100
	for i := range n {
		svc := newService(fmt.Sprintf("s%03d", i), fmt.Sprintf("10.96.1.%d", i+1))
		if _, err := client.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	burst := time.Since(start)
	waitApplied(t, p, burst+time.Second, "burst", func(r *Ruleset) bool { return len(r.Services) == n })
	elapsed := time.Since(start)
	after, _, _ := fb.state()
	// At most one sync per MinSyncInterval, plus one at the start.
	if limit := 1 + int(elapsed/cfg.MinSyncInterval); after-before > limit {
		t.Errorf("%d syncs for %d changes in %v, want at most %d", after-before, n, elapsed, limit)
	}
	t.Logf("%d syncs for %d changes in %v", after-before, n, elapsed)
}

func TestRunRetriesFailedSyncs(t *testing.T) {
	client := fake.NewClientset(newService("web", "10.96.0.10"))
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.Registerer = reg
	p := New(cfg, client, testLogger(t))
	p.backend = &fakeBackend{fail: 1}
	startProxy(t, p)
	waitApplied(t, p, 5*time.Second, "after a failed sync", func(r *Ruleset) bool { return len(r.Services) == 1 })
	if m := gather(t, reg, "gantry_proxy_sync_errors_total"); m == nil || m.GetCounter().GetValue() != 1 {
		t.Errorf("sync errors = %v, want 1", m)
	}
}

func TestRunRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.ClusterCIDR = "10.42.0.0"
	p := New(cfg, fake.NewClientset(), testLogger(t))
	p.backend = &fakeBackend{}
	if err := p.Run(t.Context()); !errors.Is(err, ErrConfig) {
		t.Errorf("Run = %v, want ErrConfig", err)
	}
}

func TestRunReturnsWhenCancelledBeforeSync(t *testing.T) {
	p := New(DefaultConfig(), fake.NewClientset(), testLogger(t))
	p.backend = &fakeBackend{}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return")
	}
}

// TestRunReturnsWhenAPIServerHangs: an API server that accepts requests
// and never answers must not keep Run from returning.
func TestRunReturnsWhenAPIServerHangs(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	}))
	defer srv.Close()
	defer close(release)
	client, err := kubernetes.NewForConfig(&rest.Config{Host: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	p := New(DefaultConfig(), client, testLogger(t))
	fb := &fakeBackend{}
	p.backend = fb
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- p.Run(ctx) }()
	// Cancel once Run is waiting for the caches (it has cleaned up the
	// table left by an earlier run by then).
	deadline := time.Now().Add(5 * time.Second)
	for _, cleanups, _ := fb.state(); cleanups == 0; _, cleanups, _ = fb.state() {
		if time.Now().After(deadline) {
			t.Fatal("Run did not start")
		}
		time.Sleep(time.Millisecond) // polling interval
	}
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("Run = %v, want nil", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Run did not return within 5 s of cancel while the API server hangs")
	}
	if _, cleanups, _ := fb.state(); cleanups != 2 {
		t.Errorf("%d cleanups, want 2 (start and end)", cleanups)
	}
}

// TestRunNetfilter is the whole path on real netfilter in a throwaway
// namespace: a stale table is replaced, changes reach the kernel within a
// second, and the table is gone once Run returns.
func TestRunNetfilter(t *testing.T) {
	ns := newTestNetns(t)
	setupEndpoints(t, ns)
	ns.sh(t, "nft add table ip gantry")
	ns.sh(t, "nft add chain ip gantry stale-chain")

	client := fake.NewClientset()
	cfg := DefaultConfig()
	cfg.NodeName = "node1"
	cfg.NodeAddresses = []netip.Addr{addr("10.0.0.1")}
	cfg.ClusterCIDR = "10.244.0.0/16"
	cfg.NetNS = ns.fd
	p := New(cfg, client, testLogger(t))
	stop := startProxy(t, p)
	select {
	case <-p.Synced():
	case <-time.After(5 * time.Second):
		t.Fatal("no first sync")
	}
	if out := ns.sh(t, "nft list table ip gantry"); strings.Contains(out, "stale-chain") {
		t.Errorf("stale table kept:\n%s", out)
	}

	ctx := t.Context()
	if _, err := client.CoreV1().Services("default").Create(ctx, newService("web", "10.96.0.10", withType(corev1.ServiceTypeLoadBalancer), withNodePort(30080), withIngress("10.0.0.1")), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := client.DiscoveryV1().EndpointSlices("default").Create(ctx, newSlice("web", "a", 8080, "10.0.0.11"), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, time.Second, "new service", hasEndpoints("default/web:http/TCP", "10.0.0.11"))
	for _, a := range []string{"10.96.0.10:80", "10.0.0.1:30080", "10.0.0.1:80"} {
		if got, err := call(ns, "tcp4", a); err != nil || got != "10.0.0.11" {
			t.Errorf("%s: answer %q, %v; want 10.0.0.11", a, got, err)
		}
	}

	if _, err := client.DiscoveryV1().EndpointSlices("default").Update(ctx, newSlice("web", "a", 8080, "10.0.0.12"), metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	waitApplied(t, p, time.Second, "moved endpoint", hasEndpoints("default/web:http/TCP", "10.0.0.12"))
	if got, err := call(ns, "tcp4", "10.96.0.10:80"); err != nil || got != "10.0.0.12" {
		t.Errorf("after the move: answer %q, %v; want 10.0.0.12", got, err)
	}

	if err := stop(); err != nil {
		t.Errorf("Run returned %v", err)
	}
	if out := ns.sh(t, "nft list tables"); strings.Contains(out, "gantry") {
		t.Errorf("table left after Run returned: %s", out)
	}
}
