package clusterdns

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"github.com/miekg/dns"
	discoveryv1 "k8s.io/api/discovery/v1"
)

const soa = "cluster.local. 30 IN SOA ns.dns.cluster.local. hostmaster.cluster.local."

func TestAnswers(t *testing.T) {
	s, _ := newSyncedServer(t, testConfig(), testObjects()...)
	tests := []struct {
		name   string
		qname  string
		qtype  uint16
		qclass uint16 // IN unless set
		rcode  int
		answer []string
		extra  []string
		nodata bool // the SOA in the authority section
	}{
		{name: "A of a ClusterIP service", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"web.default.svc.cluster.local. 30 IN A 10.43.0.20"}},
		{name: "case-insensitive, owner as asked", qname: "WEB.Default.svc.Cluster.Local.", qtype: dns.TypeA,
			answer: []string{"WEB.Default.svc.Cluster.Local. 30 IN A 10.43.0.20"}},
		{name: "AAAA of an IPv4-only service is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeAAAA, nodata: true},
		{name: "TXT of a service is NODATA", qname: "web.default.svc.cluster.local.", qtype: dns.TypeTXT, nodata: true},
		{name: "ANY of a service", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeANY,
			answer: []string{"dual.default.svc.cluster.local. 30 IN A 10.43.0.30", "dual.default.svc.cluster.local. 30 IN AAAA fd00::30"}},
		{name: "A of a dual-stack service", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"dual.default.svc.cluster.local. 30 IN A 10.43.0.30"}},
		{name: "AAAA of a dual-stack service", qname: "dual.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"dual.default.svc.cluster.local. 30 IN AAAA fd00::30"}},
		{name: "A of an IPv6-only service is NODATA", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeA, nodata: true},
		{name: "AAAA of an IPv6-only service", qname: "v6.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"v6.default.svc.cluster.local. 30 IN AAAA fd00::40"}},
		{name: "missing service", qname: "nope.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "service in another namespace", qname: "web.other.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "names below a ClusterIP service", qname: "x.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "too many labels", qname: "a.b.c.web.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},

		{name: "headless: ready endpoints, each once", qname: "db.default.svc.cluster.local.", qtype: dns.TypeA, answer: []string{
			"db.default.svc.cluster.local. 30 IN A 10.42.0.5",
			"db.default.svc.cluster.local. 30 IN A 10.42.0.6",
			"db.default.svc.cluster.local. 30 IN A 10.42.0.7",
		}},
		{name: "headless IPv4: AAAA is NODATA", qname: "db.default.svc.cluster.local.", qtype: dns.TypeAAAA, nodata: true},
		{name: "headless IPv6", qname: "db6.default.svc.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"db6.default.svc.cluster.local. 30 IN AAAA fd00:42::5"}},
		{name: "headless endpoint by hostname", qname: "db-0.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"db-0.db.default.svc.cluster.local. 30 IN A 10.42.0.5"}},
		{name: "headless endpoint without hostname, by dashed address", qname: "10-42-0-7.db.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-42-0-7.db.default.svc.cluster.local. 30 IN A 10.42.0.7"}},
		{name: "not-ready endpoint has no name", qname: "db-3.db.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "not-ready endpoint of a publishNotReadyAddresses service", qname: "pub.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"pub.default.svc.cluster.local. 30 IN A 10.42.0.9"}},
		{name: "headless without ready endpoints is NXDOMAIN", qname: "empty.default.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},

		{name: "SRV of a named port", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_http._tcp.web.default.svc.cluster.local. 30 IN SRV 0 100 80 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 30 IN A 10.43.0.20"}},
		{name: "SRV of a UDP port", qname: "_dns._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{"_dns._udp.web.default.svc.cluster.local. 30 IN SRV 0 100 53 web.default.svc.cluster.local."},
			extra:  []string{"web.default.svc.cluster.local. 30 IN A 10.43.0.20"}},
		{name: "SRV with the wrong protocol", qname: "_http._udp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, nodata: true},
		{name: "SRV of a missing port", qname: "_nope._tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, nodata: true},
		{name: "A of an SRV name is NODATA", qname: "_http._tcp.web.default.svc.cluster.local.", qtype: dns.TypeA, nodata: true},
		{name: "the _proto label is an empty non-terminal", qname: "_tcp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, nodata: true},
		{name: "a _proto label without named ports", qname: "_sctp.web.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, nodata: true},
		{name: "SRV of a headless service: one per ready endpoint, endpoint port", qname: "_pg._tcp.db.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{
				"_pg._tcp.db.default.svc.cluster.local. 30 IN SRV 0 33 15432 10-42-0-7.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 30 IN SRV 0 33 15432 db-0.db.default.svc.cluster.local.",
				"_pg._tcp.db.default.svc.cluster.local. 30 IN SRV 0 33 15432 db-1.db.default.svc.cluster.local.",
			},
			extra: []string{
				"10-42-0-7.db.default.svc.cluster.local. 30 IN A 10.42.0.7",
				"db-0.db.default.svc.cluster.local. 30 IN A 10.42.0.5",
				"db-1.db.default.svc.cluster.local. 30 IN A 10.42.0.6",
			}},
		{name: "SRV of the service name: every port", qname: "web.default.svc.cluster.local.", qtype: dns.TypeSRV,
			answer: []string{
				"web.default.svc.cluster.local. 30 IN SRV 0 33 53 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 30 IN SRV 0 33 80 web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 30 IN SRV 0 33 9090 web.default.svc.cluster.local.",
			},
			extra: []string{"web.default.svc.cluster.local. 30 IN A 10.43.0.20"}},

		{name: "ExternalName: CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeCNAME,
			answer: []string{"ext.default.svc.cluster.local. 30 IN CNAME example.com."}},
		{name: "ExternalName: A without upstream gives the CNAME", qname: "ext.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{"ext.default.svc.cluster.local. 30 IN CNAME example.com."}},
		{name: "ExternalName into the zone is followed", qname: "alias.default.svc.cluster.local.", qtype: dns.TypeA,
			answer: []string{
				"alias.default.svc.cluster.local. 30 IN CNAME web.default.svc.cluster.local.",
				"web.default.svc.cluster.local. 30 IN A 10.43.0.20",
			}},
		{name: "SRV below an ExternalName", qname: "_http._tcp.ext.default.svc.cluster.local.", qtype: dns.TypeSRV, rcode: dns.RcodeNameError, nodata: true},

		{name: "pod A", qname: "10-42-0-5.default.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-42-0-5.default.pod.cluster.local. 30 IN A 10.42.0.5"}},
		{name: "pod A in any namespace", qname: "10-42-1-9.anything.pod.cluster.local.", qtype: dns.TypeA,
			answer: []string{"10-42-1-9.anything.pod.cluster.local. 30 IN A 10.42.1.9"}},
		{name: "pod AAAA of an IPv4 name is NODATA", qname: "10-42-0-5.default.pod.cluster.local.", qtype: dns.TypeAAAA, nodata: true},
		{name: "pod AAAA", qname: "fd00-42--5.default.pod.cluster.local.", qtype: dns.TypeAAAA,
			answer: []string{"fd00-42--5.default.pod.cluster.local. 30 IN AAAA fd00:42::5"}},
		{name: "pod name not an address", qname: "10-42-0.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "pod name out of range", qname: "300-1-1-1.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "pod name with leading zeros", qname: "010-1-1-1.default.pod.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},

		{name: "zone apex SOA", qname: "cluster.local.", qtype: dns.TypeSOA, answer: []string{soa + " " + "SERIAL 7200 1800 86400 30"}},
		{name: "zone apex NS", qname: "cluster.local.", qtype: dns.TypeNS, answer: []string{"cluster.local. 30 IN NS ns.dns.cluster.local."}},
		{name: "zone apex A is NODATA", qname: "cluster.local.", qtype: dns.TypeA, nodata: true},
		{name: "name server address: the kube-dns service", qname: "ns.dns.cluster.local.", qtype: dns.TypeA,
			answer: []string{"ns.dns.cluster.local. 30 IN A 10.43.0.10"}},
		{name: "svc is an empty non-terminal", qname: "svc.cluster.local.", qtype: dns.TypeA, nodata: true},
		{name: "namespace with services is an empty non-terminal", qname: "default.svc.cluster.local.", qtype: dns.TypeA, nodata: true},
		{name: "namespace without services", qname: "other.svc.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "pod namespace", qname: "default.pod.cluster.local.", qtype: dns.TypeA, nodata: true},
		{name: "unknown name in the zone", qname: "foo.cluster.local.", qtype: dns.TypeA, rcode: dns.RcodeNameError, nodata: true},
		{name: "schema version", qname: "dns-version.cluster.local.", qtype: dns.TypeTXT,
			answer: []string{`dns-version.cluster.local. 30 IN TXT "1.1.0"`}},
		{name: "zone transfer refused", qname: "cluster.local.", qtype: dns.TypeAXFR, rcode: dns.RcodeRefused},
		{name: "class CH in the zone refused", qname: "web.default.svc.cluster.local.", qtype: dns.TypeA, qclass: dns.ClassCHAOS, rcode: dns.RcodeRefused},

		{name: "PTR of a cluster IP", qname: "20.0.43.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"20.0.43.10.in-addr.arpa. 30 IN PTR web.default.svc.cluster.local."}},
		{name: "PTR of an IPv6 cluster IP", qname: mustReverse(t, "fd00::30"), qtype: dns.TypePTR,
			answer: []string{mustReverse(t, "fd00::30") + " 30 IN PTR dual.default.svc.cluster.local."}},
		{name: "PTR of a headless endpoint", qname: "5.0.42.10.in-addr.arpa.", qtype: dns.TypePTR,
			answer: []string{"5.0.42.10.in-addr.arpa. 30 IN PTR db-0.db.default.svc.cluster.local."}},
		{name: "A of a known reverse name is NODATA", qname: "20.0.43.10.in-addr.arpa.", qtype: dns.TypeA, nodata: true},
		{name: "PTR of a not-ready endpoint is forwarded", qname: "8.0.42.10.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeServerFailure},
		{name: "PTR of an unknown address is forwarded", qname: "1.2.0.192.in-addr.arpa.", qtype: dns.TypePTR, rcode: dns.RcodeServerFailure},
		{name: "outside the zone without upstreams", qname: "example.com.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure},
		{name: "a suffix of the zone is outside it", qname: "local.", qtype: dns.TypeSOA, rcode: dns.RcodeServerFailure},
		{name: "a name ending like the zone is outside it", qname: "xcluster.local.", qtype: dns.TypeA, rcode: dns.RcodeServerFailure},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req := new(dns.Msg)
			req.SetQuestion(tt.qname, tt.qtype)
			if tt.qclass != 0 {
				req.Question[0].Qclass = tt.qclass
			}
			resp, _ := s.answer(t.Context(), req)
			if resp == nil {
				t.Fatal("no response")
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if resp.Id != req.Id || !resp.Response {
				t.Errorf("id %d response %v, want id %d and response set", resp.Id, resp.Response, req.Id)
			}
			got := rrStrings(resp.Answer)
			for i, g := range got {
				if hdr := resp.Answer[0].Header(); hdr.Rrtype == dns.TypeSOA {
					got[i] = soaWithoutSerial(g)
				}
			}
			if diff := cmp.Diff(tt.answer, got); diff != "" {
				t.Errorf("answer (-want +got):\n%s", diff)
			}
			if diff := cmp.Diff(tt.extra, rrStrings(resp.Extra)); diff != "" {
				t.Errorf("additional (-want +got):\n%s", diff)
			}
			gotNodata := len(resp.Ns) == 1 && resp.Ns[0].Header().Rrtype == dns.TypeSOA
			if gotNodata != tt.nodata {
				t.Errorf("SOA in authority %v, want %v (%v)", gotNodata, tt.nodata, resp.Ns)
			}
			inZone := tt.rcode != dns.RcodeServerFailure && tt.rcode != dns.RcodeRefused
			if resp.Authoritative != inZone {
				t.Errorf("authoritative %v, want %v", resp.Authoritative, inZone)
			}
			if _, err := resp.Pack(); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}
}

// soaWithoutSerial replaces the serial (a start time) of an SOA record's
// presentation with SERIAL.
func soaWithoutSerial(s string) string {
	f := strings.Fields(s)
	if len(f) == 11 {
		f[6] = "SERIAL"
	}
	return strings.Join(f, " ")
}

func mustReverse(t *testing.T, ip string) string {
	t.Helper()
	r, err := dns.ReverseAddr(ip)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func TestExternalNameLoopEnds(t *testing.T) {
	s, _ := newSyncedServer(t, testConfig(), testObjects()...)
	req := new(dns.Msg)
	req.SetQuestion("loop.default.svc.cluster.local.", dns.TypeA)
	resp, _ := s.answer(t.Context(), req)
	if resp.Rcode != dns.RcodeSuccess || len(resp.Answer) != maxChase+1 {
		t.Fatalf("rcode %s with %d records, want NOERROR with %d CNAMEs", dns.RcodeToString[resp.Rcode], len(resp.Answer), maxChase+1)
	}
}

func TestMalformedRequests(t *testing.T) {
	s, _ := newSyncedServer(t, testConfig(), testObjects()...)
	q := func(mod func(m *dns.Msg)) *dns.Msg {
		m := new(dns.Msg)
		m.SetQuestion("web.default.svc.cluster.local.", dns.TypeA)
		mod(m)
		return m
	}
	tests := []struct {
		name  string
		req   *dns.Msg
		rcode int // -1: no answer
	}{
		{"no question", q(func(m *dns.Msg) { m.Question = nil }), dns.RcodeFormatError},
		{"two questions", q(func(m *dns.Msg) { m.Question = append(m.Question, m.Question[0]) }), dns.RcodeFormatError},
		{"update", q(func(m *dns.Msg) { m.Opcode = dns.OpcodeUpdate }), dns.RcodeNotImplemented},
		{"a response", q(func(m *dns.Msg) { m.Response = true }), -1},
		{"EDNS version 1", q(func(m *dns.Msg) { m.SetEdns0(4096, false); m.IsEdns0().SetVersion(1) }), dns.RcodeBadVers},
		{"EDNS version 0", q(func(m *dns.Msg) { m.SetEdns0(4096, false) }), dns.RcodeSuccess},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp, _ := s.answer(t.Context(), tt.req)
			if tt.rcode == -1 {
				if resp != nil {
					t.Fatalf("answered %v", resp)
				}
				return
			}
			if resp == nil {
				t.Fatal("no response")
			}
			if resp.Rcode != tt.rcode {
				t.Errorf("rcode %s, want %s", dns.RcodeToString[resp.Rcode], dns.RcodeToString[tt.rcode])
			}
			if _, err := resp.Pack(); err != nil {
				t.Errorf("pack: %v", err)
			}
		})
	}
}

func TestReverseAddr(t *testing.T) {
	for _, ip := range []string{"10.43.0.20", "0.0.0.0", "255.255.255.255", "fd00::30", "2001:db8::1", "::"} {
		name, _ := dns.ReverseAddr(ip)
		got, ok := reverseAddr(name)
		if !ok || got != netip.MustParseAddr(ip) {
			t.Errorf("reverseAddr(%q) = %v, %v; want %s", name, got, ok, ip)
		}
	}
	for _, name := range []string{
		"0.43.10.in-addr.arpa.", "1.20.0.43.10.in-addr.arpa.", "256.0.43.10.in-addr.arpa.", "01.0.43.10.in-addr.arpa.",
		"a.0.43.10.in-addr.arpa.", ".0.43.10.in-addr.arpa.", "1.0.ip6.arpa.", "in-addr.arpa.",
	} {
		if ip, ok := reverseAddr(name); ok {
			t.Errorf("reverseAddr(%q) = %v, want no address", name, ip)
		}
	}
}

func TestUndash(t *testing.T) {
	for label, want := range map[string]string{
		"10-42-0-5": "10.42.0.5", "fd00-42--5": "fd00:42::5", "--1": "::1",
		"10-42-0": "", "10-42-0-5-6": "", "1-2-3-a": "", "x": "", "": "", "fe80--1%eth0": "", "--ffff-a00-1": "",
	} {
		ip, ok := undash(label)
		if want == "" {
			if ok {
				t.Errorf("undash(%q) = %v, want none", label, ip)
			}
			continue
		}
		if !ok || ip != netip.MustParseAddr(want) {
			t.Errorf("undash(%q) = %v, %v; want %s", label, ip, ok, want)
		}
		if dashed(ip) != label {
			t.Errorf("dashed(%s) = %q, want %q", ip, dashed(ip), label)
		}
	}
}

func TestServesEndpoint(t *testing.T) {
	objs := append(testObjects(), slice("default", "web", "web-abc", discoveryv1.AddressTypeIPv4, []ep{{addr: "10.42.0.50"}}, "http/TCP/8080"))
	s, _ := newSyncedServer(t, testConfig(), objs...)
	for ip, want := range map[string]bool{
		"10.42.0.5":  true,  // ready endpoint of the headless db
		"10.42.0.8":  false, // not ready
		"10.42.0.9":  true,  // not ready, but pub publishes not-ready addresses
		"10.42.0.50": false, // web has a cluster IP: its answers do not name pods
		"10.42.0.99": false, // in no slice
	} {
		if got := s.ServesEndpoint(netip.MustParseAddr(ip)); got != want {
			t.Errorf("ServesEndpoint(%s) = %v, want %v", ip, got, want)
		}
	}
}
