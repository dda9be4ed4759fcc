package clusterdns

import (
	"net/netip"
	"strings"

	"github.com/miekg/dns"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// schemaVersion is the version of Kubernetes' DNS specification served
// at dns-version.<zone> (the one CoreDNS's kubernetes plugin serves).
const schemaVersion = "1.1.0"

// maxChase bounds CNAME chains of ExternalName services inside the zone.
const maxChase = 8

// lookup is the answer to one question about a name the server is
// authoritative for.
type lookup struct {
	// exists is false for NXDOMAIN. A name that exists with no record of
	// the asked type (NODATA) has exists set and an empty answer.
	exists bool
	answer []dns.RR
	extra  []dns.RR
	// chase is the CNAME target (fully qualified, lower case) when the
	// answer is an ExternalName's CNAME and the query asked for another type.
	chase string
}

// resolver computes answers from the store; it holds no mutable state.
type resolver struct {
	store *store
	zone  string // lower-case FQDN: "cluster.local."
	ttl   uint32
	soa   *dns.SOA
}

func newResolver(st *store, domain string, ttl, serial uint32) *resolver {
	zone := dns.Fqdn(strings.ToLower(domain))
	return &resolver{
		store: st,
		zone:  zone,
		ttl:   ttl,
		soa: &dns.SOA{
			Hdr:     dns.RR_Header{Name: zone, Rrtype: dns.TypeSOA, Class: dns.ClassINET, Ttl: ttl},
			Ns:      "ns.dns." + zone,
			Mbox:    "hostmaster." + zone,
			Serial:  serial,
			Refresh: 7200,
			Retry:   1800,
			Expire:  86400,
			Minttl:  ttl,
		},
	}
}

// inZone reports whether the lower-case FQDN name lies in the cluster zone,
// and returns its labels left of the zone.
func (r *resolver) inZone(name string) ([]string, bool) {
	if name == r.zone {
		return nil, true
	}
	if !strings.HasSuffix(name, "."+r.zone) {
		return nil, false
	}
	return strings.Split(name[:len(name)-len(r.zone)-1], "."), true
}

// resolve answers qtype for name, a name inside the zone. owner is the
// question's name as asked (its case is kept in the answer).
func (r *resolver) resolve(owner string, labels []string, qtype uint16) lookup {
	n := len(labels)
	if n == 0 {
		return r.apex(owner, qtype)
	}
	switch labels[n-1] {
	case "svc":
		return r.services(owner, labels[:n-1], qtype)
	case "pod":
		return r.pods(owner, labels[:n-1], qtype)
	case "dns-version":
		if n == 1 {
			return lookup{exists: true, answer: r.filter(qtype, &dns.TXT{Hdr: r.hdr(owner, dns.TypeTXT), Txt: []string{schemaVersion}})}
		}
	case "dns":
		switch {
		case n == 1:
			return lookup{exists: true}
		case n == 2 && labels[0] == "ns":
			// The name server of the SOA and NS records: the kube-dns service.
			svc := r.store.service("kube-system", "kube-dns")
			if svc == nil {
				return lookup{}
			}
			return lookup{exists: true, answer: r.addrRecords(owner, clusterIPs(svc), qtype)}
		}
	}
	return lookup{}
}

func (r *resolver) apex(owner string, qtype uint16) lookup {
	soa := *r.soa
	soa.Hdr.Name = owner
	ns := &dns.NS{Hdr: r.hdr(owner, dns.TypeNS), Ns: r.soa.Ns}
	return lookup{exists: true, answer: r.filter(qtype, &soa, ns)}
}

// services answers names ending in svc.<zone>; labels are those left of "svc".
func (r *resolver) services(owner string, labels []string, qtype uint16) lookup {
	n := len(labels)
	switch n {
	case 0:
		return lookup{exists: true}
	case 1:
		return lookup{exists: r.store.hasServices(labels[0])}
	}
	svc := r.store.service(labels[n-1], labels[n-2])
	if svc == nil {
		return lookup{}
	}
	rest := labels[:n-2]
	switch {
	case svc.Spec.Type == corev1.ServiceTypeExternalName:
		if len(rest) > 0 || svc.Spec.ExternalName == "" {
			return lookup{}
		}
		target := dns.Fqdn(strings.ToLower(svc.Spec.ExternalName))
		l := lookup{exists: true, answer: []dns.RR{&dns.CNAME{Hdr: r.hdr(owner, dns.TypeCNAME), Target: target}}}
		if qtype != dns.TypeCNAME {
			l.chase = target
		}
		return l
	case len(rest) == 0:
		return r.serviceName(owner, svc, qtype)
	case len(rest) == 1 && strings.HasPrefix(rest[0], "_"):
		// _<proto>.<svc>…: an empty non-terminal when an SRV name lies below.
		return lookup{exists: len(rest[0]) > 1 && len(r.srv(owner, svc, "", rest[0][1:])) > 0}
	case len(rest) == 1:
		if !headless(svc) {
			return lookup{}
		}
		var ips []netip.Addr
		for _, ep := range r.store.endpoints(svc) {
			if ep.host == rest[0] {
				ips = append(ips, ep.addr)
			}
		}
		if len(ips) == 0 {
			return lookup{}
		}
		return lookup{exists: true, answer: r.addrRecords(owner, ips, qtype)}
	case len(rest) == 2 && len(rest[0]) > 1 && len(rest[1]) > 1 && rest[0][0] == '_' && rest[1][0] == '_':
		records := r.srv(owner, svc, rest[0][1:], rest[1][1:])
		if len(records) == 0 {
			return lookup{}
		}
		if qtype != dns.TypeSRV && qtype != dns.TypeANY {
			return lookup{exists: true} // NODATA
		}
		return lookup{exists: true, answer: records, extra: r.srvExtra(records)}
	}
	return lookup{}
}

// serviceName answers <svc>.<ns>.svc.<zone>: the cluster IPs, or the ready
// endpoints of a headless service; SRV (an extension CoreDNS has too)
// gives every port.
func (r *resolver) serviceName(owner string, svc *corev1.Service, qtype uint16) lookup {
	if headless(svc) {
		eps := r.store.endpoints(svc)
		if len(eps) == 0 {
			return lookup{} // the specification asks for NXDOMAIN
		}
		l := lookup{exists: true}
		switch qtype {
		case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
			ips := make([]netip.Addr, len(eps))
			for i, ep := range eps {
				ips[i] = ep.addr
			}
			l.answer = r.addrRecords(owner, ips, qtype)
		case dns.TypeSRV:
			l.answer = r.srv(owner, svc, "", "")
			l.extra = r.srvExtra(l.answer)
		}
		return l
	}
	l := lookup{exists: true}
	switch qtype {
	case dns.TypeA, dns.TypeAAAA, dns.TypeANY:
		l.answer = r.addrRecords(owner, clusterIPs(svc), qtype)
	case dns.TypeSRV:
		l.answer = r.srv(owner, svc, "", "")
		l.extra = r.srvExtra(l.answer)
	}
	return l
}

// srv returns the SRV records of svc for a port name and protocol (both
// without the underscore). With neither, every port, named or not,
// matches; with a protocol alone, every named port of that protocol.
func (r *resolver) srv(owner string, svc *corev1.Service, port, proto string) []dns.RR {
	match := func(name string, p corev1.Protocol) bool {
		if port == "" && proto == "" {
			return true
		}
		if name == "" || (port != "" && !strings.EqualFold(name, port)) {
			return false
		}
		return strings.EqualFold(string(p), proto)
	}
	base := svc.Name + "." + svc.Namespace + ".svc." + r.zone
	var out []dns.RR
	if headless(svc) {
		for _, ep := range r.store.endpoints(svc) {
			for _, p := range ep.ports {
				name, protocol := "", corev1.ProtocolTCP
				if p.Name != nil {
					name = *p.Name
				}
				if p.Protocol != nil {
					protocol = *p.Protocol
				}
				if p.Port == nil || !match(name, protocol) {
					continue
				}
				out = append(out, &dns.SRV{Hdr: r.hdr(owner, dns.TypeSRV), Port: uint16(*p.Port), Target: ep.host + "." + base})
			}
		}
	} else {
		for _, p := range svc.Spec.Ports {
			if match(p.Name, p.Protocol) {
				out = append(out, &dns.SRV{Hdr: r.hdr(owner, dns.TypeSRV), Port: uint16(p.Port), Target: base})
			}
		}
	}
	// Equal priority; weights share 100 so clients spread evenly (RFC 2782).
	if len(out) > 0 {
		w := uint16(max(100/len(out), 1))
		for _, rr := range out {
			rr.(*dns.SRV).Weight = w
		}
	}
	return out
}

// srvExtra returns the address records of the SRV targets, for the
// additional section.
func (r *resolver) srvExtra(records []dns.RR) []dns.RR {
	var out []dns.RR
	seen := map[string]bool{}
	for _, rr := range records {
		srv, ok := rr.(*dns.SRV)
		if !ok || seen[srv.Target] {
			continue
		}
		seen[srv.Target] = true
		labels, _ := r.inZone(srv.Target)
		l := r.resolve(srv.Target, labels, dns.TypeANY)
		for _, a := range l.answer {
			if t := a.Header().Rrtype; t == dns.TypeA || t == dns.TypeAAAA {
				out = append(out, a)
			}
		}
	}
	return out
}

// pods answers <a-b-c-d>.<ns>.pod.<zone> for any address and namespace,
// as Kubernetes' default CoreDNS configuration ("pods insecure") does.
func (r *resolver) pods(owner string, labels []string, qtype uint16) lookup {
	switch len(labels) {
	case 0, 1:
		return lookup{exists: true}
	case 2:
		ip, ok := undash(labels[0])
		if !ok {
			return lookup{}
		}
		return lookup{exists: true, answer: r.addrRecords(owner, []netip.Addr{ip}, qtype)}
	}
	return lookup{}
}

// undash parses an address written as one label by dashed.
func undash(label string) (netip.Addr, bool) {
	if strings.Count(label, "-") == 3 {
		if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ".")); err == nil && ip.Is4() {
			return ip, true
		}
	}
	if ip, err := netip.ParseAddr(strings.ReplaceAll(label, "-", ":")); err == nil && ip.Is6() && ip.Zone() == "" && !ip.Is4In6() {
		return ip, true
	}
	return netip.Addr{}, false
}

// reverse answers PTR questions for service cluster IPs and the ready
// endpoints of headless services. ok is false when the address is none
// of those, so the question goes upstream.
func (r *resolver) reverse(owner string, ip netip.Addr, qtype uint16) (l lookup, ok bool) {
	var targets []string
	for _, svc := range r.store.servicesByIP(ip) {
		targets = append(targets, svc.Name+"."+svc.Namespace+".svc."+r.zone)
	}
	for _, es := range r.store.slicesByIP(ip) {
		name := es.Labels[discoveryv1.LabelServiceName]
		svc := r.store.service(es.Namespace, name)
		if svc == nil || !headless(svc) {
			continue
		}
		for _, ep := range readyEndpoints(svc, []*discoveryv1.EndpointSlice{es}, ip) {
			targets = append(targets, ep.host+"."+svc.Name+"."+svc.Namespace+".svc."+r.zone)
		}
	}
	if len(targets) == 0 {
		return lookup{}, false
	}
	l.exists = true
	if qtype != dns.TypePTR && qtype != dns.TypeANY {
		return l, true
	}
	seen := map[string]bool{}
	for _, t := range targets {
		if !seen[t] {
			seen[t] = true
			l.answer = append(l.answer, &dns.PTR{Hdr: r.hdr(owner, dns.TypePTR), Ptr: t})
		}
	}
	return l, true
}

// reverseAddr parses a full in-addr.arpa or ip6.arpa name (lower case).
func reverseAddr(name string) (netip.Addr, bool) {
	if rest, ok := strings.CutSuffix(name, ".in-addr.arpa."); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 4 {
			return netip.Addr{}, false
		}
		var b [4]byte
		for i, p := range parts {
			if len(p) == 0 || len(p) > 3 || (len(p) > 1 && p[0] == '0') {
				return netip.Addr{}, false
			}
			v := 0
			for _, c := range p {
				if c < '0' || c > '9' {
					return netip.Addr{}, false
				}
				v = v*10 + int(c-'0')
			}
			if v > 255 {
				return netip.Addr{}, false
			}
			b[3-i] = byte(v)
		}
		return netip.AddrFrom4(b), true
	}
	if rest, ok := strings.CutSuffix(name, ".ip6.arpa."); ok {
		parts := strings.Split(rest, ".")
		if len(parts) != 32 {
			return netip.Addr{}, false
		}
		var b [16]byte
		for i, p := range parts {
			if len(p) != 1 {
				return netip.Addr{}, false
			}
			v := strings.IndexByte("0123456789abcdef", p[0])
			if v < 0 {
				return netip.Addr{}, false
			}
			nib := 31 - i
			if nib%2 == 0 {
				b[nib/2] |= byte(v) << 4
			} else {
				b[nib/2] |= byte(v)
			}
		}
		return netip.AddrFrom16(b), true
	}
	return netip.Addr{}, false
}

// addrRecords returns A records for the IPv4 and AAAA for the IPv6
// addresses, as qtype asks (A, AAAA or ANY).
func (r *resolver) addrRecords(owner string, ips []netip.Addr, qtype uint16) []dns.RR {
	var out []dns.RR
	for _, ip := range ips {
		switch {
		case ip.Is4() && (qtype == dns.TypeA || qtype == dns.TypeANY):
			out = append(out, &dns.A{Hdr: r.hdr(owner, dns.TypeA), A: ip.AsSlice()})
		case ip.Is6() && (qtype == dns.TypeAAAA || qtype == dns.TypeANY):
			out = append(out, &dns.AAAA{Hdr: r.hdr(owner, dns.TypeAAAA), AAAA: ip.AsSlice()})
		}
	}
	return out
}

// filter keeps the records of type qtype (all for ANY).
func (r *resolver) filter(qtype uint16, rrs ...dns.RR) []dns.RR {
	var out []dns.RR
	for _, rr := range rrs {
		if qtype == dns.TypeANY || rr.Header().Rrtype == qtype {
			out = append(out, rr)
		}
	}
	return out
}

func (r *resolver) hdr(owner string, t uint16) dns.RR_Header {
	return dns.RR_Header{Name: owner, Rrtype: t, Class: dns.ClassINET, Ttl: r.ttl}
}
