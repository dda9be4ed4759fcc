package proxy

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// DefaultAffinityTimeout is the ClientIP session affinity timeout of a
// Service that does not set sessionAffinityConfig (Kubernetes' 3 hours).
const DefaultAffinityTimeout = 10800 * time.Second

// Ruleset is everything the proxy programs into netfilter, as plain data.
// It is computed by Compute and never modified after that; values handed
// out by the Proxy are shared and must be treated as read-only.
type Ruleset struct {
	// Services holds one entry per service port, sorted by Key.
	Services []ServicePort
	// NodeAddresses are this node's IPv4 addresses (informational:
	// LoadBalancer services are served on their status.loadBalancer.ingress
	// IPs, which the servicelb controller sets to the node addresses).
	NodeAddresses []netip.Addr
	// ClusterCIDR, when valid, is the pod network: traffic to a cluster IP
	// from outside it is masqueraded, as kube-proxy's --cluster-cidr does.
	ClusterCIDR netip.Prefix
}

// ServicePort is one port of one Service: a virtual address and port and
// the endpoints behind it.
type ServicePort struct {
	// Namespace, Name and PortName identify the port (PortName may be
	// empty for a single unnamed port).
	Namespace, Name, PortName string
	// Protocol is TCP, UDP or SCTP.
	Protocol corev1.Protocol
	// ClusterIP and Port are the virtual address.
	ClusterIP netip.Addr
	Port      uint16
	// NodePort is served on every local address; 0 means none.
	NodePort uint16
	// ExternalAddrs are served at Port like NodePort traffic:
	// spec.externalIPs and, for a LoadBalancer service, the IPs of
	// status.loadBalancer.ingress whose ipMode is VIP (or unset).
	ExternalAddrs []netip.Addr
	// Endpoints receive traffic to ClusterIP (ready ones, or else the
	// serving and terminating ones). Sorted by address and port.
	Endpoints []Endpoint
	// LocalEndpoints are the endpoints on this node chosen the same way;
	// they alone receive external traffic when ExternalLocal is set.
	LocalEndpoints []Endpoint
	// ExternalLocal is externalTrafficPolicy Local: NodePort and external
	// traffic goes to LocalEndpoints only (dropped when there are none) and
	// keeps its client source address.
	ExternalLocal bool
	// InternalLocal is internalTrafficPolicy Local: cluster IP traffic
	// goes to LocalEndpoints only.
	InternalLocal bool
	// Affinity is the ClientIP session affinity timeout; 0 means none.
	Affinity time.Duration
}

// Endpoint is one backend address of a service port.
type Endpoint struct {
	Addr     netip.Addr
	Port     uint16
	NodeName string
	// Ready is false for endpoints used only because no endpoint was
	// ready (serving and terminating ones).
	Ready bool
}

// Key identifies the service port: "namespace/name:portName/PROTOCOL".
func (sp *ServicePort) Key() string {
	return sp.Namespace + "/" + sp.Name + ":" + sp.PortName + "/" + string(sp.Protocol)
}

// External reports whether the port receives traffic from outside the
// cluster IP (a node port or external addresses).
func (sp *ServicePort) External() bool {
	return sp.NodePort != 0 || len(sp.ExternalAddrs) > 0
}

// ClusterTargets returns the endpoints cluster IP traffic goes to.
func (sp *ServicePort) ClusterTargets() []Endpoint {
	if sp.InternalLocal {
		return sp.LocalEndpoints
	}
	return sp.Endpoints
}

// ExternalTargets returns the endpoints node port and external traffic
// goes to.
func (sp *ServicePort) ExternalTargets() []Endpoint {
	if sp.ExternalLocal {
		return sp.LocalEndpoints
	}
	return sp.Endpoints
}

// Service returns the service port with the given key, or nil.
func (r *Ruleset) Service(key string) *ServicePort {
	if r == nil {
		return nil
	}
	i, ok := slices.BinarySearchFunc(r.Services, key, func(sp ServicePort, k string) int {
		return cmp.Compare(sp.Key(), k)
	})
	if !ok {
		return nil
	}
	return &r.Services[i]
}

// HasEndpoint reports whether any service port sends traffic to addr.
// The node agent waits for it to turn false before stopping a
// terminating pod's containers.
func (r *Ruleset) HasEndpoint(addr netip.Addr) bool {
	if r == nil {
		return false
	}
	for i := range r.Services {
		for _, list := range [][]Endpoint{r.Services[i].Endpoints, r.Services[i].LocalEndpoints} {
			for _, ep := range list {
				if ep.Addr == addr {
					return true
				}
			}
		}
	}
	return false
}

// Node is what Compute needs to know about the node the rules run on.
type Node struct {
	// Name is matched against endpoints' nodeName for traffic policy Local.
	Name string
	// Addresses are the node's addresses, copied (IPv4 only) into
	// Ruleset.NodeAddresses.
	Addresses []netip.Addr
	// ClusterCIDR is copied into the Ruleset (see Ruleset.ClusterCIDR).
	ClusterCIDR netip.Prefix
}

// Compute returns the rules for services and their EndpointSlices (label
// kubernetes.io/service-name) on node. It is pure: it reads its arguments,
// never modifies them, and does no I/O. Only IPv4 is handled: IPv6
// cluster IPs and IPv6 or FQDN slices are ignored.
func Compute(services []*corev1.Service, endpointSlices []*discoveryv1.EndpointSlice, node Node) *Ruleset {
	bySvc := make(map[string][]*discoveryv1.EndpointSlice)
	for _, s := range endpointSlices {
		if s.AddressType != discoveryv1.AddressTypeIPv4 {
			continue
		}
		name := s.Labels[discoveryv1.LabelServiceName]
		if name == "" {
			continue
		}
		k := s.Namespace + "/" + name
		bySvc[k] = append(bySvc[k], s)
	}
	var nodeAddrs []netip.Addr
	for _, a := range node.Addresses {
		if a = a.Unmap(); a.Is4() && !slices.Contains(nodeAddrs, a) {
			nodeAddrs = append(nodeAddrs, a)
		}
	}
	r := &Ruleset{NodeAddresses: nodeAddrs, ClusterCIDR: node.ClusterCIDR}
	for _, svc := range services {
		vip, ok := serviceIPv4(svc)
		if !ok {
			continue
		}
		affinity := time.Duration(0)
		if svc.Spec.SessionAffinity == corev1.ServiceAffinityClientIP {
			affinity = DefaultAffinityTimeout
			if c := svc.Spec.SessionAffinityConfig; c != nil && c.ClientIP != nil && c.ClientIP.TimeoutSeconds != nil && *c.ClientIP.TimeoutSeconds > 0 {
				affinity = time.Duration(*c.ClientIP.TimeoutSeconds) * time.Second
			}
		}
		external := externalAddrs(svc)
		svcSlices := bySvc[svc.Namespace+"/"+svc.Name]
		for _, p := range svc.Spec.Ports {
			if !supportedProtocol(p.Protocol) || p.Port <= 0 || p.Port > 65535 {
				continue
			}
			sp := ServicePort{
				Namespace:     svc.Namespace,
				Name:          svc.Name,
				PortName:      p.Name,
				Protocol:      protocol(p.Protocol),
				ClusterIP:     vip,
				Port:          uint16(p.Port),
				ExternalAddrs: external,
				Affinity:      affinity,
			}
			if svc.Spec.Type == corev1.ServiceTypeNodePort || svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
				if p.NodePort > 0 && p.NodePort <= 65535 {
					sp.NodePort = uint16(p.NodePort)
				}
			}
			sp.ExternalLocal = sp.External() && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
			sp.InternalLocal = svc.Spec.InternalTrafficPolicy != nil && *svc.Spec.InternalTrafficPolicy == corev1.ServiceInternalTrafficPolicyLocal
			all := sliceEndpoints(svcSlices, p)
			sp.Endpoints = choose(all, "", false)
			if sp.ExternalLocal || sp.InternalLocal {
				sp.LocalEndpoints = choose(all, node.Name, true)
			}
			r.Services = append(r.Services, sp)
		}
	}
	slices.SortFunc(r.Services, func(a, b ServicePort) int { return cmp.Compare(a.Key(), b.Key()) })
	return r
}

// serviceIPv4 returns the IPv4 cluster IP of a service that gets rules.
// Headless and ExternalName services, and those without an IPv4 cluster
// IP yet, get none.
func serviceIPv4(svc *corev1.Service) (netip.Addr, bool) {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return netip.Addr{}, false
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 {
		ips = []string{svc.Spec.ClusterIP}
	}
	for _, s := range ips {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap().Is4() && !a.IsUnspecified() {
			return a.Unmap(), true
		}
	}
	return netip.Addr{}, false
}

// externalAddrs returns the addresses a service is served on besides its
// cluster IP: spec.externalIPs and, for a LoadBalancer, the IPs of
// status.loadBalancer.ingress, as kube-proxy does. Ingress entries with
// ipMode Proxy are skipped (the load balancer sends traffic to the node,
// not to that IP). A LoadBalancer without ingress (pending) gets only its
// node port.
func externalAddrs(svc *corev1.Service) []netip.Addr {
	var out []netip.Addr
	add := func(s string) {
		if a, err := netip.ParseAddr(s); err == nil && a.Unmap().Is4() && !slices.Contains(out, a.Unmap()) {
			out = append(out, a.Unmap())
		}
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer {
		for _, in := range svc.Status.LoadBalancer.Ingress {
			if in.IPMode != nil && *in.IPMode == corev1.LoadBalancerIPModeProxy {
				continue
			}
			add(in.IP)
		}
	}
	for _, s := range svc.Spec.ExternalIPs {
		add(s)
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return out
}

func supportedProtocol(p corev1.Protocol) bool {
	switch protocol(p) {
	case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		return true
	}
	return false
}

// protocol applies the API default (TCP) to an unset protocol.
func protocol(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// candidate is an endpoint with its conditions, before choosing.
type candidate struct {
	Endpoint
	serving, terminating bool
}

// sliceEndpoints returns the IPv4 endpoints of slices for service port p,
// deduplicated by address and port (an address in several slices keeps
// its first occurrence, slices taken in name order).
func sliceEndpoints(list []*discoveryv1.EndpointSlice, p corev1.ServicePort) []candidate {
	list = slices.Clone(list)
	slices.SortFunc(list, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	seen := make(map[netip.AddrPort]bool)
	var out []candidate
	for _, s := range list {
		port, ok := slicePort(s, p)
		if !ok {
			continue
		}
		for _, ep := range s.Endpoints {
			ready := ep.Conditions.Ready == nil || *ep.Conditions.Ready
			serving := ready
			if ep.Conditions.Serving != nil {
				serving = *ep.Conditions.Serving
			}
			terminating := ep.Conditions.Terminating != nil && *ep.Conditions.Terminating
			node := ""
			if ep.NodeName != nil {
				node = *ep.NodeName
			}
			for _, s := range ep.Addresses {
				a, err := netip.ParseAddr(s)
				if err != nil || !a.Unmap().Is4() {
					continue
				}
				ap := netip.AddrPortFrom(a.Unmap(), port)
				if seen[ap] {
					continue
				}
				seen[ap] = true
				out = append(out, candidate{
					Endpoint:    Endpoint{Addr: ap.Addr(), Port: port, NodeName: node, Ready: ready},
					serving:     serving,
					terminating: terminating,
				})
			}
		}
	}
	return out
}

// slicePort returns the port of slice s that serves service port p: same
// name and protocol.
func slicePort(s *discoveryv1.EndpointSlice, p corev1.ServicePort) (uint16, bool) {
	for _, sp := range s.Ports {
		name := ""
		if sp.Name != nil {
			name = *sp.Name
		}
		proto := corev1.ProtocolTCP
		if sp.Protocol != nil {
			proto = protocol(*sp.Protocol)
		}
		if name != p.Name || proto != protocol(p.Protocol) || sp.Port == nil {
			continue
		}
		if *sp.Port > 0 && *sp.Port <= 65535 {
			return uint16(*sp.Port), true
		}
	}
	return 0, false
}

// choose picks the endpoints traffic goes to, as kube-proxy does: the
// ready ones; if none is ready, the serving and terminating ones. With
// local set, only endpoints on node are considered.
func choose(all []candidate, node string, local bool) []Endpoint {
	var ready, fallback []Endpoint
	for _, c := range all {
		if local && (node == "" || c.NodeName != node) {
			continue
		}
		switch {
		case c.Ready:
			ready = append(ready, c.Endpoint)
		case c.serving && c.terminating:
			fallback = append(fallback, c.Endpoint)
		}
	}
	out := ready
	if len(out) == 0 {
		out = fallback
	}
	slices.SortFunc(out, func(a, b Endpoint) int {
		return netip.AddrPortFrom(a.Addr, a.Port).Compare(netip.AddrPortFrom(b.Addr, b.Port))
	})
	return out
}

// String returns "addr:port".
func (e Endpoint) String() string {
	return e.Addr.String() + ":" + strconv.Itoa(int(e.Port))
}
