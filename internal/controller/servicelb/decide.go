package servicelb

import (
	"cmp"
	"fmt"
	"net/netip"
	"slices"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ReservedPort is a port on the node addresses that no LoadBalancer
// service may take, because something else listens there (the ingress
// controller, the API server).
type ReservedPort struct {
	// Port is the port number, 1–65535.
	Port int32
	// Protocol is TCP (the default when empty), UDP or SCTP.
	Protocol corev1.Protocol
	// Owner names the holder in events: "the ingress controller" gives
	// "port 80/TCP is reserved by the ingress controller".
	Owner string
}

// Decision is what one LoadBalancer service gets.
type Decision struct {
	// Ingress is the desired status.loadBalancer.ingress; empty while the
	// service is pending.
	Ingress []corev1.LoadBalancerIngress
	// Conflicts explain, one per port that cannot be had, why the service
	// is pending ("port 80/TCP is already used by LoadBalancer service
	// default/web"). Empty when the service is served.
	Conflicts []string
}

// Manages reports whether this controller serves svc: a LoadBalancer
// service without a loadBalancerClass or with ours. Services of another
// class belong to another implementation and are left alone, as
// Kubernetes' service controller does.
func Manages(svc *corev1.Service) bool {
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		return false
	}
	c := svc.Spec.LoadBalancerClass
	return c == nil || *c == "" || *c == Class
}

// NodeEligible reports whether node n carries LoadBalancer traffic: Ready,
// schedulable and not labelled node.kubernetes.io/exclude-from-external-load-balancers.
func NodeEligible(n *corev1.Node) bool {
	if n.Spec.Unschedulable || n.DeletionTimestamp != nil {
		return false
	}
	if _, excluded := n.Labels[corev1.LabelNodeExcludeBalancers]; excluded {
		return false
	}
	for _, c := range n.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// NodeAddresses returns the InternalIP and ExternalIP addresses of the
// eligible nodes, sorted and without duplicates. Loopback, link-local and
// unspecified addresses are left out: they are not reachable from outside
// the node and the proxy does not serve them.
func NodeAddresses(nodes []*corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, n := range nodes {
		if !NodeEligible(n) {
			continue
		}
		for _, a := range n.Status.Addresses {
			if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
				continue
			}
			ip, err := netip.ParseAddr(a.Address)
			if err != nil {
				continue
			}
			ip = ip.Unmap()
			if ip.IsLoopback() || ip.IsLinkLocalUnicast() || ip.IsUnspecified() {
				continue
			}
			out = append(out, ip)
		}
	}
	slices.SortFunc(out, netip.Addr.Compare)
	return slices.Compact(out)
}

// ingressFor returns the ingress entries for svc from the node addresses:
// those of the service's IP families (IPv4 when it lists none), ipMode VIP.
func ingressFor(svc *corev1.Service, addrs []netip.Addr) []corev1.LoadBalancerIngress {
	want4, want6 := len(svc.Spec.IPFamilies) == 0, false
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			want4 = true
		case corev1.IPv6Protocol:
			want6 = true
		}
	}
	var out []corev1.LoadBalancerIngress
	for _, a := range addrs {
		if (a.Is4() && want4) || (a.Is6() && want6) {
			mode := corev1.LoadBalancerIPModeVIP
			out = append(out, corev1.LoadBalancerIngress{IP: a.String(), IPMode: &mode})
		}
	}
	return out
}

// portKey is one port on the node addresses.
type portKey struct {
	port     int32
	protocol corev1.Protocol
}

func (k portKey) String() string { return fmt.Sprintf("%d/%s", k.port, k.protocol) }

func protocolOf(p corev1.Protocol) corev1.Protocol {
	if p == "" {
		return corev1.ProtocolTCP
	}
	return p
}

// claim is who holds a port and how to say it in an event.
type claim struct {
	owner string // "namespace/name" of a service; "" for a reserved port
	why   string // completes "port 80/TCP is …"
}

// Decide returns, for every service this controller manages (by
// "namespace/name"), its ingress or why it is pending. It is pure.
//
// Each managed service wants its ports (port and protocol) on the node
// addresses. A port is unavailable when it is reserved, when it is the
// node port of any service (node ports are served on every node address
// too), or when a LoadBalancer service ranked earlier holds it. Services
// are ranked: those already serving (status.loadBalancer.ingress set) first,
// so that a running service is never displaced; then the older
// (creationTimestamp), then by namespace/name. A service gets all its
// ports or none: one unavailable port leaves it pending and holding
// nothing, as a servicelb pod that cannot bind one host port is not started.
func Decide(services []*corev1.Service, nodes []*corev1.Node, reserved []ReservedPort) map[string]Decision {
	addrs := NodeAddresses(nodes)
	taken := make(map[portKey]claim)
	for _, r := range reserved {
		owner := r.Owner
		if owner == "" {
			owner = "configuration"
		}
		taken[portKey{r.Port, protocolOf(r.Protocol)}] = claim{why: "reserved by " + owner}
	}
	// Node ports, held by their service; reserved ports keep their reason.
	nodePorts := make(map[portKey]claim)
	for _, svc := range services {
		for _, p := range svc.Spec.Ports {
			if p.NodePort <= 0 {
				continue
			}
			k := portKey{p.NodePort, protocolOf(p.Protocol)}
			if _, ok := nodePorts[k]; !ok {
				nodePorts[k] = claim{owner: key(svc), why: "the node port of service " + key(svc)}
			}
		}
	}

	var managed []*corev1.Service
	for _, svc := range services {
		if Manages(svc) && svc.DeletionTimestamp == nil {
			managed = append(managed, svc)
		}
	}
	slices.SortFunc(managed, rank)

	out := make(map[string]Decision, len(managed))
	for _, svc := range managed {
		k := key(svc)
		var conflicts []string
		var want []portKey
		for _, p := range svc.Spec.Ports {
			pk := portKey{p.Port, protocolOf(p.Protocol)}
			if slices.Contains(want, pk) {
				continue
			}
			want = append(want, pk)
			c, ok := taken[pk]
			if !ok {
				if np, isNodePort := nodePorts[pk]; isNodePort && np.owner != k {
					c, ok = np, true
				}
			}
			if ok {
				conflicts = append(conflicts, "port "+pk.String()+" is "+c.why)
			}
		}
		if len(conflicts) > 0 {
			out[k] = Decision{Conflicts: conflicts}
			continue
		}
		for _, pk := range want {
			taken[pk] = claim{owner: k, why: "already used by LoadBalancer service " + k}
		}
		out[k] = Decision{Ingress: ingressFor(svc, addrs)}
	}
	return out
}

// rank orders claimants: serving ones first, then older, then by name.
func rank(a, b *corev1.Service) int {
	if sa, sb := len(a.Status.LoadBalancer.Ingress) > 0, len(b.Status.LoadBalancer.Ingress) > 0; sa != sb {
		if sa {
			return -1
		}
		return 1
	}
	if c := a.CreationTimestamp.Time.Compare(b.CreationTimestamp.Time); c != 0 {
		return c
	}
	return cmp.Compare(key(a), key(b))
}

// Message joins a pending service's conflicts into one event message.
func (d Decision) Message() string {
	return strings.Join(d.Conflicts, "; ")
}

func key(svc *corev1.Service) string { return svc.Namespace + "/" + svc.Name }
