package node

import (
	"context"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// fakeRoutes stands in for a node's proxy, DNS and ingress: the set of IPs
// it still sends new connections to, and how often it was asked.
type fakeRoutes struct {
	mu     sync.Mutex
	ips    map[netip.Addr]bool
	checks atomic.Int64
}

func (f *fakeRoutes) serves(ip netip.Addr) bool {
	f.checks.Add(1)
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.ips[ip]
}

func (f *fakeRoutes) set(ip netip.Addr, on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.ips == nil {
		f.ips = map[netip.Addr]bool{}
	}
	f.ips[ip] = on
}

func createNode(t *testing.T, cs kubernetes.Interface, name string, ready corev1.ConditionStatus) {
	t.Helper()
	n, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: ready, LastHeartbeatTime: metav1.Now()}}
	if _, err := cs.CoreV1().Nodes().UpdateStatus(t.Context(), n, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	fixture.Eventually(t, 20*time.Second, what, cond)
}

func leaseAnnotation(t *testing.T, cs kubernetes.Interface, node, key string) string {
	l, err := cs.CoordinationV1().Leases(drainNamespace).Get(t.Context(), drainLeaseName(node), metav1.GetOptions{})
	if err != nil {
		return "<" + err.Error() + ">"
	}
	return l.Annotations[key]
}

func TestDrainHandshake(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	cs := c.Client
	createNode(t, cs, "a", corev1.ConditionTrue)
	createNode(t, cs, "b", corev1.ConditionTrue)
	createNode(t, cs, "dead", corev1.ConditionUnknown)

	routes := map[string]*fakeRoutes{"a": {}, "b": {}, "dead": {}}
	drainers := map[string]*drainer{}
	ctx, cancel := context.WithCancel(t.Context())
	var wg sync.WaitGroup
	t.Cleanup(func() { cancel(); wg.Wait() })
	for name, r := range routes {
		d := newDrainer(name, cs, r.serves, nil)
		drainers[name] = d
		wg.Go(func() { d.run(ctx) })
	}
	for name := range routes {
		eventually(t, name+"'s drain lease exists", func() bool {
			_, err := cs.CoordinationV1().Leases(drainNamespace).Get(t.Context(), drainLeaseName(name), metav1.GetOptions{})
			return err == nil
		})
	}

	x := netip.MustParseAddr("10.42.1.7")
	// The dead node never stops routing to x: it must not hold the drain.
	routes["dead"].set(x, true)

	t.Run("waits for the local routes, then for every Ready node", func(t *testing.T) {
		routes["b"].set(x, true)
		routes["a"].set(x, true)
		done := make(chan error, 1)
		go func() { done <- drainers["b"].drain(t.Context(), []netip.Addr{x}) }()

		// b still routes to x itself: nothing is asked yet beyond the
		// request, and the drain goes on.
		eventually(t, "b's lease requests x", func() bool {
			return strings.HasPrefix(leaseAnnotation(t, cs, "b", drainRequested), x.String()+"#")
		})
		before := routes["a"].checks.Load()
		eventually(t, "a has checked x", func() bool { return routes["a"].checks.Load() > before })
		select {
		case err := <-done:
			t.Fatalf("drain returned while b and a still route to x: %v", err)
		default:
		}

		routes["b"].set(x, false)
		// a still routes to x: the drain waits for a.
		before = routes["b"].checks.Load()
		eventually(t, "b has checked x again", func() bool { return routes["b"].checks.Load() > before+2 })
		before = routes["a"].checks.Load()
		eventually(t, "a has checked x again", func() bool { return routes["a"].checks.Load() > before+2 })
		select {
		case err := <-done:
			t.Fatalf("drain returned while a still routes to x: %v", err)
		default:
		}
		if got := leaseAnnotation(t, cs, "a", drainConfirmed); got != "" {
			t.Fatalf("a confirms %q while it routes to x", got)
		}

		routes["a"].set(x, false)
		select {
		case err := <-done:
			if err != nil {
				t.Fatalf("drain: %v", err)
			}
		case <-time.After(20 * time.Second):
			t.Fatal("drain did not return after every Ready node stopped routing to x")
		}
		// The request and the answers are withdrawn afterwards.
		eventually(t, "b's request is withdrawn", func() bool { return leaseAnnotation(t, cs, "b", drainRequested) == "" })
		eventually(t, "a's answer is withdrawn", func() bool { return leaseAnnotation(t, cs, "a", drainConfirmed) == "" })
	})

	t.Run("gives up when its context ends", func(t *testing.T) {
		routes["a"].set(x, true)
		ctx, cancel := context.WithTimeout(t.Context(), 300*time.Millisecond)
		defer cancel()
		if err := drainers["b"].drain(ctx, []netip.Addr{x}); err == nil {
			t.Fatal("drain returned nil while a routes to x")
		}
		routes["a"].set(x, false)
	})

	t.Run("without a running drainer only the local routes count", func(t *testing.T) {
		d := newDrainer("b", cs, routes["b"].serves, nil)
		routes["a"].set(x, true)
		defer routes["a"].set(x, false)
		if err := d.drain(t.Context(), []netip.Addr{x}); err != nil {
			t.Fatal(err)
		}
	})
}

func TestFormatParseEntries(t *testing.T) {
	s := formatEntries([]string{"10.42.0.9#b.2", "10.42.0.10#b.1", "10.42.0.9#b.2"})
	if s != "10.42.0.10#b.1,10.42.0.9#b.2" {
		t.Fatalf("formatEntries = %q", s)
	}
	got := parseEntries(s + ",garbage,10.42.0.11,10.42.0.12#,")
	if len(got) != 2 || got[0].ip != netip.MustParseAddr("10.42.0.10") || got[1].raw != "10.42.0.9#b.2" {
		t.Fatalf("parseEntries = %v", got)
	}
	if parseEntries("") != nil {
		t.Fatal("parseEntries of the empty string is not empty")
	}
}
