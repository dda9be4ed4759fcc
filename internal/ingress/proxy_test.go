package ingress

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// TestRouterRetriesRefusedConnections: a GET to an endpoint that refuses
// connections is retried on another; a request with a body is not.
func TestRouterRetriesRefusedConnections(t *testing.T) {
	live := backend(t, "live")
	dead, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	deadPort := int32(dead.Addr().(*net.TCPAddr).Port)
	dead.Close() // connections to it are refused from now on

	yes := ptr(true)
	src := fakeSource{
		services: map[string]*corev1.Service{"ns/svc": service("ns", "svc", corev1.ServicePort{Port: 80})},
		slices: map[string][]*discoveryv1.EndpointSlice{"ns/svc": {
			slice("ns", "svc", "live", "", live, ep{ip: "127.0.0.1", ready: yes}),
			slice("ns", "svc", "dead", "", deadPort, ep{ip: "127.0.0.1", ready: yes}),
		}},
	}
	cfg := DefaultConfig()
	cfg.DialTimeout = 2 * time.Second
	rt := newRouter(cfg, src, newMetrics(), slog.New(slog.DiscardHandler))
	rt.table.Store(buildTable([]*networkingv1.Ingress{newIngress("ns", "i", 0, rule("", path("/", prefix, "svc")))}))
	srv := httptest.NewServer(rt)
	defer srv.Close()
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{Proxy: nil}}

	for i := range 6 {
		resp, err := client.Get(srv.URL + "/")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("GET %d answered %d; want every GET retried onto the live endpoint", i, resp.StatusCode)
		}
	}
	codes := map[int]int{}
	for range 4 { // round robin: two of four go to the dead endpoint first
		resp, err := client.Post(srv.URL+"/", "text/plain", strings.NewReader("payload"))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		codes[resp.StatusCode]++
	}
	if codes[200] != 2 || codes[http.StatusBadGateway] != 2 {
		t.Errorf("POSTs answered %v, want two 200 and two 502 (requests with a body are not retried)", codes)
	}
}

// TestRouterUpgrade: a protocol upgrade (as WebSocket uses) passes
// through, so the status recorder must let the proxy hijack the client's
// connection.
func TestRouterUpgrade(t *testing.T) {
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Upgrade") != "echo" {
			http.Error(w, "want upgrade", http.StatusBadRequest)
			return
		}
		conn, buf, err := http.NewResponseController(w).Hijack()
		if err != nil {
			return
		}
		defer conn.Close()
		buf.WriteString("HTTP/1.1 101 Switching Protocols\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n")
		buf.Flush()
		line, _ := buf.ReadString('\n')
		conn.Write([]byte("echo: " + line))
	}))
	defer up.Close()
	port := int32(up.Listener.Addr().(*net.TCPAddr).Port)
	src := fakeSource{
		services: map[string]*corev1.Service{"ns/svc": service("ns", "svc", corev1.ServicePort{Port: 80})},
		slices:   map[string][]*discoveryv1.EndpointSlice{"ns/svc": {slice("ns", "svc", "s", "", port, ep{ip: "127.0.0.1"})}},
	}
	m := newMetrics()
	rt := newRouter(DefaultConfig(), src, m, slog.New(slog.DiscardHandler))
	rt.table.Store(buildTable([]*networkingv1.Ingress{newIngress("ns", "i", 0, rule("", path("/", prefix, "svc")))}))
	srv := httptest.NewServer(rt)
	defer srv.Close()

	conn, err := net.DialTimeout("tcp", srv.Listener.Addr().String(), 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write([]byte("GET / HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: echo\r\n\r\n"))
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("upgrade answered %s", resp.Status)
	}
	conn.Write([]byte("ping\n"))
	line, err := br.ReadString('\n')
	if err != nil || line != "echo: ping\n" {
		t.Errorf("after the upgrade read %q, %v; want the backend's echo", line, err)
	}
}
