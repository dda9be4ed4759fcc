package ingress

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
)

// backend is an httptest server answering "<name> <path>" and echoing the
// forwarding headers it received.
func backend(t *testing.T, name string) (port int32) {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		for _, h := range []string{"X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto", "X-Forwarded-Port"} {
			w.Header().Set("Echo-"+h, r.Header.Get(h))
		}
		w.Header().Set("Echo-Host", r.Host)
		fmt.Fprintf(w, "%s %s", name, r.URL.Path)
	}))
	t.Cleanup(srv.Close)
	_, p, _ := net.SplitHostPort(srv.Listener.Addr().String())
	n, _ := strconv.Atoi(p)
	return int32(n)
}

// newFakeClient returns a fake clientset holding objs and a function that
// waits until every informer of the controller watches, so that later
// changes are not lost between list and watch.
func newFakeClient(t *testing.T, objs ...runtime.Object) (*fake.Clientset, func()) {
	client := fake.NewClientset(objs...)
	var mu sync.Mutex
	watching := map[string]bool{}
	client.PrependWatchReactor("*", func(action k8stesting.Action) (bool, watch.Interface, error) {
		var opts metav1.ListOptions
		if wa, ok := action.(k8stesting.WatchActionImpl); ok {
			opts = wa.ListOptions
		}
		w, err := client.Tracker().Watch(action.GetResource(), action.GetNamespace(), opts)
		if err != nil {
			return false, nil, err
		}
		mu.Lock()
		watching[action.GetResource().Resource] = true
		mu.Unlock()
		return true, w, nil
	})
	return client, func() {
		t.Helper()
		eventually(t, "informers watching", func() bool {
			mu.Lock()
			defer mu.Unlock()
			return len(watching) == 5
		})
	}
}

func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond) // polling interval
	}
}

type reply struct {
	code   int
	body   string
	header http.Header
	cn     string // the TLS certificate's common name
}

func get(t *testing.T, client *http.Client, url, host string) reply {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	if err != nil {
		t.Fatal(err)
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("GET %s (Host %s): %v", url, host, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	r := reply{code: resp.StatusCode, body: string(b), header: resp.Header}
	if resp.TLS != nil {
		r.cn = resp.TLS.PeerCertificates[0].Subject.CommonName
	}
	return r
}

func TestControllerInProcess(t *testing.T) {
	const ns = "web"
	portA, portB := backend(t, "a"), backend(t, "b")
	crt, key := testCert(t, "cert-a", "a.example")
	secret := &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: "tls-a"},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}
	svcA := service(ns, "svc-a", corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP})
	svcB := service(ns, "svc-b", corev1.ServicePort{Port: 8080, Protocol: corev1.ProtocolTCP})
	empty := service(ns, "empty", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP})
	yes := ptr(true)
	sliceA := slice(ns, "svc-a", "svc-a-1", "http", portA, ep{ip: "127.0.0.1", ready: yes})
	sliceB := slice(ns, "svc-b", "svc-b-1", "", portB, ep{ip: "127.0.0.1", ready: yes})

	served := newIngress(ns, "served", 0,
		rule("a.example", path("/", prefix, "")),
		rule("b.example", path("/", prefix, ""), path("/to-a", prefix, "")),
		rule("", path("/empty", exact, "")),
	)
	paths := served.Spec.Rules
	paths[0].HTTP.Paths[0].Backend = svcBackend("svc-a", 0, "http")
	paths[1].HTTP.Paths[0].Backend = svcBackend("svc-b", 8080, "")
	paths[1].HTTP.Paths[1].Backend = svcBackend("svc-a", 80, "")
	paths[2].HTTP.Paths[0].Backend = svcBackend("empty", 80, "")
	served.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example"}, SecretName: "tls-a"}}
	other := newIngress(ns, "other", 0, rule("c.example", path("/", prefix, "")))
	other.Spec.Rules[0].HTTP.Paths[0].Backend = svcBackend("svc-a", 80, "")
	other.Spec.IngressClassName = ptr("nginx")
	nginx := class("nginx", "k8s.io/ingress-nginx", false)

	client, waitWatching := newFakeClient(t, secret, svcA, svcB, empty, sliceA, sliceB, served, other, nginx)
	reg := prometheus.NewRegistry()
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.HTTPSAddr = "127.0.0.1:0", "127.0.0.1:0"
	cfg.StatusAddresses = []string{"127.0.0.1"}
	log := slog.New(slog.NewTextHandler(testWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	c, err := New(cfg, client, reg, log)
	if err != nil {
		t.Fatal(err)
	}
	var runErr error
	done := make(chan struct{})
	go func() { runErr = c.Run(t.Context()); close(done) }()
	t.Cleanup(func() {
		select {
		case <-done:
			if runErr != nil {
				t.Errorf("Run: %v", runErr)
			}
		case <-time.After(10 * time.Second):
			t.Error("Run did not return")
		}
	})
	select {
	case <-c.Ready():
	case <-done:
		t.Fatalf("Run: %v", runErr)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	waitWatching()
	httpURL, httpsURL := "http://"+c.HTTPAddr(), "https://"+c.HTTPSAddr()
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(crt)
	secure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example"}}}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true, ServerName: "unknown.example"}}}

	t.Run("class created as default", func(t *testing.T) {
		eventually(t, "IngressClass gantry", func() bool {
			ic, err := client.NetworkingV1().IngressClasses().Get(t.Context(), "gantry", metav1.GetOptions{})
			return err == nil && ic.Spec.Controller == DefaultControllerName && ic.Annotations[DefaultClassAnnotation] == "true"
		})
	})

	t.Run("routing", func(t *testing.T) {
		// The class-less Ingress is served once the default class is seen.
		eventually(t, "routes built", func() bool { return get(t, plain, httpURL+"/", "a.example").code == 200 })
		tests := []struct {
			name, url, host string
			code            int
			body            string
		}{
			{"host a by port name", httpURL + "/x", "a.example", 200, "a /x"},
			{"host b by port number", httpURL + "/", "b.example", 200, "b /"},
			{"path rule of host b", httpURL + "/to-a/deep", "b.example:80", 200, "a /to-a/deep"},
			{"element-wise prefix", httpURL + "/to-ab", "b.example", 200, "b /to-ab"},
			{"backend without endpoints", httpURL + "/empty", "a.example", 200, "a /empty"}, // host a's / wins over host-less /empty
			{"backend without endpoints, any host", httpURL + "/empty", "z.example", 503, ""},
			{"other class ignored", httpURL + "/", "c.example", 404, ""},
			{"unknown host", httpURL + "/", "nothing.example", 404, ""},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := get(t, plain, tt.url, tt.host)
				if r.code != tt.code || (tt.body != "" && r.body != tt.body) {
					t.Errorf("GET %s Host %s = %d %q, want %d %q", tt.url, tt.host, r.code, r.body, tt.code, tt.body)
				}
			})
		}
	})

	t.Run("forwarding headers", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodGet, httpURL+"/", nil)
		req.Host = "a.example"
		req.Header.Set("X-Forwarded-For", "192.0.2.1")
		resp, err := plain.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		_, port, _ := net.SplitHostPort(c.HTTPAddr())
		want := map[string]string{
			"Echo-Host":              "a.example",
			"Echo-X-Forwarded-For":   "192.0.2.1, 127.0.0.1",
			"Echo-X-Forwarded-Host":  "a.example",
			"Echo-X-Forwarded-Proto": "http",
			"Echo-X-Forwarded-Port":  port,
		}
		for h, v := range want {
			if got := resp.Header.Get(h); got != v {
				t.Errorf("%s = %q, want %q", h, got, v)
			}
		}
	})

	t.Run("TLS by SNI", func(t *testing.T) {
		r := get(t, secure, httpsURL+"/secure", "a.example")
		if r.code != 200 || r.body != "a /secure" || r.cn != "cert-a" || r.header.Get("Echo-X-Forwarded-Proto") != "https" {
			t.Errorf("HTTPS a.example: %d %q cert %q proto %q", r.code, r.body, r.cn, r.header.Get("Echo-X-Forwarded-Proto"))
		}
		if r := get(t, insecure, httpsURL+"/", "b.example"); r.cn != fallbackCommonName || r.body != "b /" {
			t.Errorf("HTTPS unknown SNI: cert %q body %q, want the fallback certificate and backend b", r.cn, r.body)
		}
	})

	t.Run("status", func(t *testing.T) {
		eventually(t, "status of the served ingress", func() bool {
			ing, err := client.NetworkingV1().Ingresses(ns).Get(t.Context(), "served", metav1.GetOptions{})
			return err == nil && len(ing.Status.LoadBalancer.Ingress) == 1 && ing.Status.LoadBalancer.Ingress[0].IP == "127.0.0.1"
		})
		ing, _ := client.NetworkingV1().Ingresses(ns).Get(t.Context(), "other", metav1.GetOptions{})
		if len(ing.Status.LoadBalancer.Ingress) != 0 {
			t.Errorf("ingress of another class got status %v", ing.Status.LoadBalancer.Ingress)
		}
	})

	t.Run("endpoints follow EndpointSlices", func(t *testing.T) {
		s := slice(ns, "empty", "empty-1", "", portB, ep{ip: "127.0.0.1", ready: yes})
		if _, err := client.DiscoveryV1().EndpointSlices(ns).Create(t.Context(), s, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "/empty served by b", func() bool { return get(t, plain, httpURL+"/empty", "z.example").body == "b /empty" })
	})

	t.Run("secret change replaces the certificate", func(t *testing.T) {
		crt2, key2 := testCert(t, "cert-a-renewed", "a.example")
		upd := secret.DeepCopy()
		upd.Data = map[string][]byte{corev1.TLSCertKey: crt2, corev1.TLSPrivateKeyKey: key2}
		if _, err := client.CoreV1().Secrets(ns).Update(t.Context(), upd, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "renewed certificate", func() bool {
			return get(t, insecure, httpsURL+"/", "a.example").cn == fallbackCommonName && // unknown SNI still gets the fallback
				getSNI(t, httpsURL, "a.example") == "cert-a-renewed"
		})
	})

	t.Run("no longer served: routes and status go", func(t *testing.T) {
		ing, err := client.NetworkingV1().Ingresses(ns).Get(t.Context(), "served", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		ing.Spec.IngressClassName = ptr("nginx")
		if _, err := client.NetworkingV1().Ingresses(ns).Update(t.Context(), ing, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		eventually(t, "a.example 404", func() bool { return get(t, plain, httpURL+"/", "a.example").code == 404 })
		eventually(t, "status cleared", func() bool {
			ing, err := client.NetworkingV1().Ingresses(ns).Get(t.Context(), "served", metav1.GetOptions{})
			return err == nil && len(ing.Status.LoadBalancer.Ingress) == 0
		})
	})

	t.Run("metrics", func(t *testing.T) {
		families, err := reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		requests, upstream := map[string]float64{}, uint64(0)
		for _, f := range families {
			for _, m := range f.GetMetric() {
				switch f.GetName() {
				case "gantry_ingress_requests_total":
					requests[m.GetLabel()[0].GetValue()] = m.GetCounter().GetValue()
				case "gantry_ingress_upstream_duration_seconds":
					upstream = m.GetHistogram().GetSampleCount()
				}
			}
		}
		if requests["404"] < 2 || requests["503"] < 1 || requests["200"] < 5 {
			t.Errorf("gantry_ingress_requests_total = %v, want ≥ 2 404s, ≥ 1 503, ≥ 5 200s", requests)
		}
		if upstream < 5 {
			t.Errorf("gantry_ingress_upstream_duration_seconds has %d samples, want ≥ 5", upstream)
		}
	})
}

// getSNI returns the common name of the certificate served for sni.
func getSNI(t *testing.T, url, sni string) string {
	t.Helper()
	conn, err := tls.Dial("tcp", strings.TrimPrefix(url, "https://"), &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err != nil {
		t.Fatalf("TLS dial: %v", err)
	}
	defer conn.Close()
	return conn.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestControllerPortTaken(t *testing.T) {
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	client, _ := newFakeClient(t)
	cfg := DefaultConfig()
	cfg.HTTPAddr, cfg.HTTPSAddr = taken.Addr().String(), "127.0.0.1:0"
	c, err := New(cfg, client, nil, slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	var runErr error
	done := make(chan struct{})
	go func() { runErr = c.Run(t.Context()); close(done) }()
	t.Cleanup(func() { <-done })
	select {
	case <-c.Ready():
	case <-done:
		t.Fatalf("Run failed on a taken port: %v; want it to run without that listener", runErr)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	if c.HTTPAddr() != "" || c.HTTPSAddr() == "" {
		t.Errorf("HTTPAddr %q (want none: taken), HTTPSAddr %q (want bound)", c.HTTPAddr(), c.HTTPSAddr())
	}
	insecure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil, TLSClientConfig: &tls.Config{InsecureSkipVerify: true}}}
	if r := get(t, insecure, "https://"+c.HTTPSAddr()+"/", "x"); r.code != 404 {
		t.Errorf("HTTPS listener answered %d, want 404", r.code)
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	cfg := DefaultConfig()
	cfg.HTTPAddr = "no-port"
	if _, err := New(cfg, fake.NewClientset(), nil, nil); err == nil {
		t.Error("New accepted a listen address without a port")
	}
	reg := prometheus.NewRegistry()
	if _, err := New(DefaultConfig(), fake.NewClientset(), reg, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := New(DefaultConfig(), fake.NewClientset(), reg, nil); err == nil {
		t.Error("registering the metrics twice on one registry succeeded")
	}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// TestStatusByLeader: a controller configured with StatusByLeader (every
// server serves Ingress traffic, only the Lease holder writes status)
// writes status only while it is the status writer, and becoming one looks
// at every Ingress again.
func TestStatusByLeader(t *testing.T) {
	ctx, cancel := context.WithCancel(t.Context())
	ing := newIngress("web", "served", 0, rule("a.example", path("/", prefix, "")))
	ing.Spec.Rules[0].HTTP.Paths[0].Backend = svcBackend("svc", 80, "")
	client := fake.NewClientset(ing, class(DefaultClassName, DefaultControllerName, true))
	cfg := DefaultConfig()
	cfg.StatusAddresses = []string{"192.0.2.1"}
	cfg.StatusByLeader = true
	c, err := New(cfg, client, prometheus.NewRegistry(), slog.New(slog.NewTextHandler(testWriter{t}, nil)))
	if err != nil {
		t.Fatal(err)
	}
	c.store.factory.Start(ctx.Done())
	defer c.store.factory.Shutdown() // after cancel: Shutdown waits for the informers to stop
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), c.store.synced...) {
		t.Fatal("caches did not sync")
	}
	status := func() []networkingv1.IngressLoadBalancerIngress {
		t.Helper()
		got, err := client.NetworkingV1().Ingresses("web").Get(ctx, "served", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		return got.Status.LoadBalancer.Ingress
	}
	sync := func() {
		t.Helper()
		if err := c.syncStatus(ctx, "web/served"); err != nil {
			t.Fatal(err)
		}
	}

	sync()
	if s := status(); len(s) != 0 {
		t.Fatalf("status %v written before the controller became the status writer", s)
	}
	c.SetStatusWriter(true)
	if n := c.queue.Len(); n != 1 {
		t.Fatalf("becoming the status writer queued %d Ingresses, want 1", n)
	}
	sync()
	if s := status(); len(s) != 1 || s[0].IP != "192.0.2.1" {
		t.Fatalf("status %v, want 192.0.2.1", s)
	}

	// No longer the writer: a status cleared by someone else stays so.
	c.SetStatusWriter(false)
	cleared := ing.DeepCopy()
	if _, err := client.NetworkingV1().Ingresses("web").UpdateStatus(ctx, cleared, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "the cache sees the cleared status", func() bool {
		cached, err := c.store.ingresses.Ingresses("web").Get("served")
		return err == nil && len(cached.Status.LoadBalancer.Ingress) == 0
	})
	sync()
	if s := status(); len(s) != 0 {
		t.Fatalf("status %v written after the controller stopped being the status writer", s)
	}
}
