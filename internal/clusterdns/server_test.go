package clusterdns

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
)

// running is a server started with Run on 127.0.0.1:0.
type running struct {
	*Server
	client *fake.Clientset
	addr   string
	done   chan error
	cancel context.CancelFunc
}

func startServer(t testing.TB, cfg Config, objs ...runtime.Object) *running {
	t.Helper()
	client := fake.NewClientset(objs...)
	s, err := New(cfg, client, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	r := &running{Server: s, client: client, done: make(chan error, 1), cancel: cancel}
	go func() { r.done <- s.Run(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(10 * time.Second):
			t.Error("Run did not return within 10s of cancel")
		}
	})
	select {
	case <-s.Ready():
	case err := <-r.done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready within 10s")
	}
	r.addr = s.Addrs()[0]
	return r
}

func (r *running) query(t testing.TB, network, name string, qtype uint16) *dns.Msg {
	t.Helper()
	c := &dns.Client{Net: network, Timeout: 5 * time.Second}
	m := new(dns.Msg)
	m.SetQuestion(name, qtype)
	resp, _, err := c.Exchange(m, r.addr)
	if err != nil {
		t.Fatalf("%s %s over %s: %v", dns.TypeToString[qtype], name, network, err)
	}
	return resp
}

func TestServer(t *testing.T) {
	up := startUpstream(t)
	cfg := testConfig()
	cfg.Upstreams = []string{deadAddr(t), up.addr} // the first never answers
	r := startServer(t, cfg, testObjects()...)

	tests := []struct {
		name      string
		qname     string
		qtype     uint16
		rcode     int
		answer    []string
		truncated map[string]bool // by network
	}{
		{name: "service A", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"web.default.svc.cluster.local. 30 IN A 10.43.0.20"}},
		{name: "NXDOMAIN", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "forwarded past a dead upstream", qname: "example.com.", qtype: dns.TypeA,
			answer: []string{"example.com. 300 IN A 93.184.216.34"}},
		{name: "forwarded NXDOMAIN", qname: "nope.example.com.", qtype: dns.TypeA, rcode: dns.RcodeNameError},
		{name: "upstream SERVFAIL", qname: "fail.example.com.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure},
		{name: "ExternalName followed upstream", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA, answer: []string{
			"example.com. 300 IN A 93.184.216.34",
			"ext.default.svc.cluster.local. 30 IN CNAME example.com.",
		}},
		{name: "forwarded PTR of an unknown address", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeNameError},
	}
	for _, tt := range tests {
		for _, network := range []string{"udp", "tcp"} {
			t.Run(tt.name+"/"+network, func(t *testing.T) {
				resp := r.query(t, network, tt.qname, tt.qtype)
				if resp.Rcode != tt.rcode {
					t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
				}
				if diff := cmp.Diff(tt.answer, rrStrings(resp.Answer)); diff != "" {
					t.Errorf("answer (-want +got):\n%s", diff)
				}
			})
		}
	}

	// big.example.com only fits over TCP: the server retries upstream over
	// TCP, then truncates for a UDP client, which retries over TCP.
	t.Run("truncation", func(t *testing.T) {
		resp := r.query(t, "udp", "big.example.com.", dns.TypeTXT)
		resp.Compress = true // as sent
		if !resp.Truncated || resp.Len() > dns.MinMsgSize {
			t.Errorf("UDP: truncated %v, %d bytes; want truncated to %d", resp.Truncated, resp.Len(), dns.MinMsgSize)
		}
		resp = r.query(t, "tcp", "big.example.com.", dns.TypeTXT)
		if resp.Truncated || len(resp.Answer) != 40 {
			t.Errorf("TCP: truncated %v, %d records; want 40", resp.Truncated, len(resp.Answer))
		}
		c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
		m := new(dns.Msg)
		m.SetQuestion("big.example.com.", dns.TypeTXT)
		m.SetEdns0(dns.MaxMsgSize, false)
		resp, _, err := c.Exchange(m, r.addr)
		if err != nil {
			t.Fatal(err)
		}
		if resp.Truncated || len(resp.Answer) != 40 {
			t.Errorf("UDP with EDNS 64k: truncated %v, %d records; want 40", resp.Truncated, len(resp.Answer))
		}
	})

	t.Run("changes reach the answers", func(t *testing.T) {
		created := svc("default", "late", []string{"10.43.0.99"}, "http/TCP/80")
		if _, err := r.client.CoreV1().Services("default").Create(t.Context(), created, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			resp := r.query(t, "udp", "late.default.svc.cluster.local.", dns.TypeA)
			return resp.Rcode == dns.RcodeSuccess && len(resp.Answer) == 1
		})
		if err := r.client.CoreV1().Services("default").Delete(t.Context(), "late", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		waitFor(t, func() bool {
			return r.query(t, "udp", "late.default.svc.cluster.local.", dns.TypeA).Rcode == dns.RcodeNameError
		})
	})

	t.Run("an endpoint that turns not ready leaves the headless answer", func(t *testing.T) {
		es, err := r.client.DiscoveryV1().EndpointSlices("default").Get(t.Context(), "db-abc", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		notReady := false
		es.Endpoints[1].Conditions.Ready = &notReady // 10.42.0.6, db-1
		if _, err := r.client.DiscoveryV1().EndpointSlices("default").Update(t.Context(), es, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
		want := []string{"db.default.svc.cluster.local. 30 IN A 10.42.0.5", "db.default.svc.cluster.local. 30 IN A 10.42.0.7"}
		waitFor(t, func() bool {
			return cmp.Equal(want, rrStrings(r.query(t, "tcp", "db.default.svc.cluster.local.", dns.TypeA).Answer))
		})
		if resp := r.query(t, "udp", "db-1.db.default.svc.cluster.local.", dns.TypeA); resp.Rcode != dns.RcodeNameError {
			t.Errorf("db-1 after it turned not ready: rcode %s, want NXDOMAIN", dns.RcodeToString[resp.Rcode])
		}
	})

	t.Run("metrics count the answers", func(t *testing.T) {
		if n := counterValue(t, r.metrics.requests.WithLabelValues(sourceCluster, "NOERROR")); n < 2 {
			t.Errorf("cluster NOERROR answers counted: %v", n)
		}
		if n := counterValue(t, r.metrics.requests.WithLabelValues(sourceForward, "SERVFAIL")); n < 2 {
			t.Errorf("forwarded SERVFAIL answers counted: %v", n)
		}
		reg := prometheus.NewPedanticRegistry()
		if err := reg.Register(prometheus.Collector(collectors(r.Collectors()))); err != nil {
			t.Fatalf("register: %v", err)
		}
		if _, err := reg.Gather(); err != nil {
			t.Fatalf("gather: %v", err)
		}
	})

	t.Run("garbage does not stop the server", func(t *testing.T) {
		for _, network := range []string{"udp", "tcp"} {
			conn, err := net.DialTimeout(network, r.addr, 5*time.Second)
			if err != nil {
				t.Fatal(err)
			}
			for _, junk := range [][]byte{{}, {0}, {0xff, 0xff}, []byte("GET / HTTP/1.1\r\n\r\n"), make([]byte, 12), {0, 5, 1, 2, 3, 4, 5}} {
				_, _ = conn.Write(junk)
			}
			conn.Close()
		}
		resp := r.query(t, "udp", "web.default.svc.cluster.local.", dns.TypeA)
		if len(resp.Answer) != 1 {
			t.Fatalf("after garbage: %v", resp)
		}
	})

	t.Run("Run runs once", func(t *testing.T) {
		if err := r.Run(t.Context()); !errors.Is(err, ErrRunning) {
			t.Fatalf("second Run: %v, want ErrRunning", err)
		}
	})
}

func TestServerNoUpstreamAnswers(t *testing.T) {
	cfg := testConfig()
	cfg.Upstreams = []string{deadAddr(t)}
	r := startServer(t, cfg, testObjects()...)
	for _, network := range []string{"udp", "tcp"} {
		if resp := r.query(t, network, "example.com.", dns.TypeA); resp.Rcode != dns.RcodeServerFailure {
			t.Errorf("%s: rcode %s, want SERVFAIL", network, dns.RcodeToString[resp.Rcode])
		}
	}
	// The cluster zone does not depend on the upstreams.
	if resp := r.query(t, "udp", "web.default.svc.cluster.local.", dns.TypeA); len(resp.Answer) != 1 {
		t.Errorf("service A without upstreams: %v", resp)
	}
}

func TestRunStops(t *testing.T) {
	cfg := testConfig()
	s, err := New(cfg, fake.NewClientset(testObjects()...), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- s.Run(ctx) }()
	select {
	case <-s.Ready():
	case err := <-done:
		t.Fatalf("Run: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("not ready")
	}
	addr := s.Addrs()[0]
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run after cancel: %v, want nil", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not return")
	}
	// The port is free again, over both protocols.
	l, err := listen(addr, false)
	if err != nil {
		t.Fatalf("address still taken after Run returned: %v", err)
	}
	l.close()
}

func TestRunListenError(t *testing.T) {
	taken, err := listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	defer taken.close()
	cfg := testConfig()
	cfg.ListenAddrs = []string{taken.tcp.Addr().String()}
	s, err := New(cfg, fake.NewClientset(), testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Run(t.Context()); err == nil {
		t.Fatal("Run on a taken port returned nil")
	}
}

func TestNewRejectsBadConfig(t *testing.T) {
	for name, mod := range map[string]func(*Config){
		"no domain":       func(c *Config) { c.ClusterDomain = "" },
		"bad domain":      func(c *Config) { c.ClusterDomain = "a..b" },
		"no listener":     func(c *Config) { c.ListenAddrs = nil },
		"listener noport": func(c *Config) { c.ListenAddrs = []string{"127.0.0.1"} },
		"negative TTL":    func(c *Config) { c.TTL = -time.Second },
	} {
		t.Run(name, func(t *testing.T) {
			cfg := testConfig()
			mod(&cfg)
			if _, err := New(cfg, fake.NewClientset(), nil); !errors.Is(err, ErrConfig) {
				t.Fatalf("New: %v, want ErrConfig", err)
			}
		})
	}
}

func TestUpstreams(t *testing.T) {
	path := filepath.Join(t.TempDir(), "resolv.conf")
	conf := "# generated\nsearch example.org\nnameserver 192.0.2.1\nnameserver 2001:db8::1\nnameserver fe80::1%eth0\nnameserver bogus\noptions ndots:2\nnameserver 127.0.0.53\n"
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.ResolvConf = path
	cfg.ListenAddrs = []string{"127.0.0.53:53"} // itself: skipped
	got, err := cfg.upstreams()
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"192.0.2.1:53", "[2001:db8::1]:53", "[fe80::1%eth0]:53"}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("upstreams from resolv.conf (-want +got):\n%s", diff)
	}

	cfg.Upstreams = []string{"10.0.0.1", "10.0.0.2:5353"}
	got, err = cfg.upstreams()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"10.0.0.1:53", "10.0.0.2:5353"}, got); diff != "" {
		t.Errorf("configured upstreams (-want +got):\n%s", diff)
	}

	cfg.ListenAddrs = []string{"0.0.0.0:53"}
	cfg.Upstreams = []string{"127.0.0.1", "127.0.0.1:5353", "192.0.2.1", "[::1]:53"}
	got, err = cfg.upstreams()
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff([]string{"127.0.0.1:5353", "192.0.2.1:53"}, got); diff != "" {
		t.Errorf("upstreams with a wildcard listener on port 53 (-want +got):\n%s", diff)
	}

	cfg.Upstreams = []string{"not an address"}
	if _, err := cfg.upstreams(); err == nil {
		t.Error("a bad upstream was accepted")
	}
	cfg.Upstreams = nil
	cfg.ResolvConf = filepath.Join(t.TempDir(), "missing")
	if _, err := cfg.upstreams(); err == nil {
		t.Error("a missing resolv.conf gave no error")
	}
}

// collectors is several collectors as one, to register them together.
type collectors []prometheus.Collector

func (c collectors) Describe(ch chan<- *prometheus.Desc) {
	for _, x := range c {
		x.Describe(ch)
	}
}

func (c collectors) Collect(ch chan<- prometheus.Metric) {
	for _, x := range c {
		x.Collect(ch)
	}
}

func counterValue(t *testing.T, c prometheus.Counter) float64 {
	t.Helper()
	var m dto.Metric
	if err := c.Write(&m); err != nil {
		t.Fatal(err)
	}
	return m.GetCounter().GetValue()
}

func TestIsSelf(t *testing.T) {
	local := func() []netip.Addr {
		return []netip.Addr{netip.MustParseAddr("10.0.0.5"), netip.MustParseAddr("fd00::5")}
	}
	tests := []struct {
		listen   string
		upstream string
		want     bool
	}{
		{"10.0.0.5:53", "10.0.0.5:53", true},
		{"10.0.0.5:53", "10.0.0.6:53", false},
		{"10.0.0.5:53", "10.0.0.5:5353", false},
		{"0.0.0.0:53", "10.0.0.5:53", true},
		{"0.0.0.0:53", "127.0.0.53:53", true},
		{":53", "[fd00::5]:53", true},
		{"[::]:53", "[::1]:53", true},
		{"0.0.0.0:53", "192.0.2.1:53", false},
		{"0.0.0.0:1053", "127.0.0.1:53", false},
		{"127.0.0.1:53", "[::ffff:127.0.0.1]:53", true},
		{"0.0.0.0:53", "dns.example:53", false},
	}
	for _, tt := range tests {
		cfg := Config{ListenAddrs: []string{tt.listen}}
		if got := cfg.isSelf(tt.upstream, local); got != tt.want {
			t.Errorf("listening on %s, isSelf(%s) = %v, want %v", tt.listen, tt.upstream, got, tt.want)
		}
	}
}

// waitFor polls cond until it holds, failing the test after 10 s.
func waitFor(t testing.TB, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(10 * time.Millisecond)
	}
}
