package clusterdns

import (
	"log/slog"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// testLogger routes the server's logs through t.Log.
func testLogger(t testing.TB) *slog.Logger {
	return slog.New(slog.NewTextHandler(tWriter{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

type tWriter struct{ t testing.TB }

func (w tWriter) Write(p []byte) (int, error) {
	w.t.Helper()
	w.t.Log(strings.TrimRight(string(p), "\n"))
	return len(p), nil
}

// port is a ServicePort or EndpointPort spec: "name/proto/number".
func svc(ns, name string, clusterIPs []string, ports ...string) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, ClusterIPs: clusterIPs},
	}
	if len(clusterIPs) > 0 {
		s.Spec.ClusterIP = clusterIPs[0]
	}
	for _, p := range ports {
		name, proto, num := parsePort(p)
		s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: name, Protocol: proto, Port: num})
	}
	return s
}

func headlessSvc(ns, name string, ports ...string) *corev1.Service {
	s := svc(ns, name, []string{corev1.ClusterIPNone}, ports...)
	return s
}

func externalSvc(ns, name, target string) *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: target},
	}
}

func parsePort(p string) (string, corev1.Protocol, int32) {
	f := strings.Split(p, "/")
	var n int32
	for _, c := range f[2] {
		n = n*10 + int32(c-'0')
	}
	return f[0], corev1.Protocol(f[1]), n
}

// ep is an endpoint: address, hostname ("" for none), readiness.
type ep struct {
	addr, host string
	notReady   bool
}

func slice(ns, service, name string, family discoveryv1.AddressType, eps []ep, ports ...string) *discoveryv1.EndpointSlice {
	es := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: ns, Name: name,
			Labels: map[string]string{discoveryv1.LabelServiceName: service},
		},
		AddressType: family,
	}
	for _, e := range eps {
		ready := !e.notReady
		x := discoveryv1.Endpoint{Addresses: []string{e.addr}, Conditions: discoveryv1.EndpointConditions{Ready: &ready}}
		if e.host != "" {
			x.Hostname = &e.host
		}
		es.Endpoints = append(es.Endpoints, x)
	}
	for _, p := range ports {
		name, proto, num := parsePort(p)
		es.Ports = append(es.Ports, discoveryv1.EndpointPort{Name: &name, Protocol: &proto, Port: &num})
	}
	return es
}

// testObjects is the cluster the answer tests and the benchmark query.
func testObjects() []runtime.Object {
	pub := headlessSvc("default", "pub", "peer/TCP/7000")
	pub.Spec.PublishNotReadyAddresses = true
	return []runtime.Object{
		svc("default", "web", []string{"10.43.0.20"}, "http/TCP/80", "dns/UDP/53", "metrics/TCP/9090"),
		svc("default", "dual", []string{"10.43.0.30", "fd00::30"}, "http/TCP/80"),
		svc("default", "v6", []string{"fd00::40"}, "http/TCP/80"),
		svc("kube-system", "kube-dns", []string{"10.43.0.10"}, "dns/UDP/53", "dns-tcp/TCP/53"),
		headlessSvc("default", "db", "pg/TCP/5432"),
		slice("default", "db", "db-abc", discoveryv1.AddressTypeIPv4, []ep{
			{addr: "10.42.0.5", host: "db-0"},
			{addr: "10.42.0.6", host: "db-1"},
			{addr: "10.42.0.7"},
			{addr: "10.42.0.8", host: "db-3", notReady: true},
		}, "pg/TCP/15432"),
		// The same address in a second slice (as during a slice update) counts once.
		slice("default", "db", "db-def", discoveryv1.AddressTypeIPv4, []ep{{addr: "10.42.0.5", host: "db-0"}}, "pg/TCP/15432"),
		headlessSvc("default", "empty"),
		pub,
		slice("default", "pub", "pub-abc", discoveryv1.AddressTypeIPv4, []ep{{addr: "10.42.0.9", notReady: true}}, "peer/TCP/7000"),
		headlessSvc("default", "db6", "pg/TCP/5432"),
		slice("default", "db6", "db6-abc", discoveryv1.AddressTypeIPv6, []ep{{addr: "fd00:42::5", host: "db-0"}}, "pg/TCP/5432"),
		externalSvc("default", "ext", "example.com"),
		externalSvc("default", "alias", "web.default.svc.cluster.local"),
		externalSvc("default", "loop", "loop.default.svc.cluster.local"),
	}
}

// newSyncedServer returns a server over a fake clientset holding objs,
// its informers started and synced, not listening: tests call answer or
// ServeDNS directly.
func newSyncedServer(t testing.TB, cfg Config, objs ...runtime.Object) (*Server, *fake.Clientset) {
	t.Helper()
	client := fake.NewClientset(objs...)
	s, err := New(cfg, client, testLogger(t))
	if err != nil {
		t.Fatal(err)
	}
	ups, err := cfg.upstreams()
	if err != nil {
		t.Fatal(err)
	}
	s.fwd.Store(newForwarder(ups, cfg.ForwardTimeout))
	ctx := t.Context()
	s.store.factory.Start(ctx.Done())
	t.Cleanup(s.store.factory.Shutdown)
	if !cache.WaitForCacheSync(ctx.Done(), s.store.synced...) {
		t.Fatal("caches did not sync")
	}
	return s, client
}

// testConfig has no upstreams unless the test adds some.
func testConfig() Config {
	cfg := DefaultConfig()
	cfg.ListenAddrs = []string{"127.0.0.1:0"}
	cfg.ResolvConf = ""
	cfg.ForwardTimeout = 2 * time.Second
	return cfg
}

// rrStrings returns records in presentation format with single spaces, sorted.
func rrStrings(rrs []dns.RR) []string {
	var out []string
	for _, rr := range rrs {
		if rr.Header().Rrtype == dns.TypeOPT {
			continue
		}
		out = append(out, strings.Join(strings.Fields(rr.String()), " "))
	}
	slices.Sort(out)
	return out
}

// fakeUpstream is a resolver the tests run on 127.0.0.1, UDP and TCP on
// one port. Its zone:
//
//	example.com.      A   93.184.216.34 (AAAA: NODATA)
//	big.example.com.  TXT 40 long strings: over UDP only a truncated empty answer
//	fail.example.com. SERVFAIL
//	anything else     NXDOMAIN
type fakeUpstream struct {
	addr string
}

func startUpstream(t testing.TB) *fakeUpstream {
	t.Helper()
	l, err := listen("127.0.0.1:0", false)
	if err != nil {
		t.Fatal(err)
	}
	h := dns.HandlerFunc(func(w dns.ResponseWriter, req *dns.Msg) {
		resp := new(dns.Msg)
		resp.SetReply(req)
		if len(req.Question) != 1 {
			resp.Rcode = dns.RcodeFormatError
			_ = w.WriteMsg(resp)
			return
		}
		q := req.Question[0]
		_, tcp := w.RemoteAddr().(*net.TCPAddr)
		switch strings.ToLower(q.Name) {
		case "example.com.":
			if q.Qtype == dns.TypeA {
				rr, _ := dns.NewRR("example.com. 300 IN A 93.184.216.34")
				resp.Answer = append(resp.Answer, rr)
			}
		case "big.example.com.":
			if !tcp {
				resp.Truncated = true
				break
			}
			for i := range 40 {
				resp.Answer = append(resp.Answer, &dns.TXT{
					Hdr: dns.RR_Header{Name: q.Name, Rrtype: dns.TypeTXT, Class: dns.ClassINET, Ttl: 60},
					Txt: []string{strings.Repeat(string(rune('a'+i%26)), 100)},
				})
			}
		case "fail.example.com.":
			resp.Rcode = dns.RcodeServerFailure
		default:
			resp.Rcode = dns.RcodeNameError
		}
		_ = w.WriteMsg(resp)
	})
	var started []chan struct{}
	for _, srv := range []*dns.Server{
		{PacketConn: l.udp, Net: "udp", Handler: h},
		{Listener: l.tcp, Net: "tcp", Handler: h},
	} {
		ch := make(chan struct{})
		started = append(started, ch)
		srv.NotifyStartedFunc = func() { close(ch) }
		go func() { _ = srv.ActivateAndServe() }()
		t.Cleanup(func() { _ = srv.Shutdown() })
	}
	for _, ch := range started {
		<-ch
	}
	return &fakeUpstream{addr: l.tcp.Addr().String()}
}

// deadAddr returns a 127.0.0.1 UDP address nothing listens on.
func deadAddr(t testing.TB) string {
	t.Helper()
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := pc.LocalAddr().String()
	pc.Close()
	return addr
}
