package proxy

import (
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/utils/ptr"
)

func TestCompute(t *testing.T) {
	node := Node{Name: "node1", Addresses: []netip.Addr{addr("192.168.1.10"), addr("fd00::1")}}
	base := func(sp ServicePort) ServicePort {
		if sp.Namespace == "" {
			sp.Namespace = "default"
		}
		if sp.PortName == "" {
			sp.PortName = "http"
		}
		if sp.Protocol == "" {
			sp.Protocol = corev1.ProtocolTCP
		}
		if sp.Port == 0 {
			sp.Port = 80
		}
		return sp
	}
	tests := []struct {
		name     string
		services []*corev1.Service
		slices   []*discoveryv1.EndpointSlice
		want     []ServicePort
	}{{
		name:     "cluster IP with ready endpoints, sorted",
		services: []*corev1.Service{newService("web", "10.96.0.10")},
		slices:   []*discoveryv1.EndpointSlice{newSlice("web", "a", 8080, "10.0.0.13", "10.0.0.11", "10.0.0.12")},
		want: []ServicePort{base(ServicePort{Name: "web", ClusterIP: addr("10.96.0.10"),
			Endpoints: eps(8080, "10.0.0.11", "10.0.0.12", "10.0.0.13")})},
	}, {
		name:     "not ready endpoints are left out",
		services: []*corev1.Service{newService("web", "10.96.0.10")},
		slices:   []*discoveryv1.EndpointSlice{newSlice("web", "a", 8080, "10.0.0.11", "10.0.0.12,notready", "10.0.0.13,terminating")},
		want:     []ServicePort{base(ServicePort{Name: "web", ClusterIP: addr("10.96.0.10"), Endpoints: eps(8080, "10.0.0.11")})},
	}, {
		name:     "serving terminating endpoints when none is ready",
		services: []*corev1.Service{newService("web", "10.96.0.10")},
		slices:   []*discoveryv1.EndpointSlice{newSlice("web", "a", 8080, "10.0.0.11,notready", "10.0.0.12,terminating", "10.0.0.13,gone")},
		want: []ServicePort{base(ServicePort{Name: "web", ClusterIP: addr("10.96.0.10"),
			Endpoints: notReady(eps(8080, "10.0.0.12"))})},
	}, {
		name:     "no endpoints at all keeps the port (rejected by the backend)",
		services: []*corev1.Service{newService("web", "10.96.0.10")},
		slices:   []*discoveryv1.EndpointSlice{newSlice("web", "a", 8080, "10.0.0.11,gone")},
		want:     []ServicePort{base(ServicePort{Name: "web", ClusterIP: addr("10.96.0.10")})},
	}, {
		name: "headless and ExternalName services get no rules",
		services: []*corev1.Service{
			newService("headless", "None"),
			newService("ext", "", withType(corev1.ServiceTypeExternalName)),
			newService("pending", ""),
		},
		slices: []*discoveryv1.EndpointSlice{newSlice("headless", "a", 8080, "10.0.0.11")},
	}, {
		name: "service without selector uses a manual slice",
		services: []*corev1.Service{newService("manual", "10.96.0.20", func(s *corev1.Service) {
			s.Spec.Selector = nil
		})},
		slices: []*discoveryv1.EndpointSlice{newSlice("manual", "custom", 9000, "172.16.0.5")},
		want:   []ServicePort{base(ServicePort{Name: "manual", ClusterIP: addr("10.96.0.20"), Endpoints: eps(9000, "172.16.0.5")})},
	}, {
		name:     "NodePort",
		services: []*corev1.Service{newService("np", "10.96.0.30", withNodePort(30080))},
		slices:   []*discoveryv1.EndpointSlice{newSlice("np", "a", 8080, "10.0.0.11")},
		want: []ServicePort{base(ServicePort{Name: "np", ClusterIP: addr("10.96.0.30"), NodePort: 30080,
			Endpoints: eps(8080, "10.0.0.11")})},
	}, {
		name: "node port of a ClusterIP service is ignored",
		services: []*corev1.Service{newService("cip", "10.96.0.30", func(s *corev1.Service) {
			s.Spec.Ports[0].NodePort = 30080
		})},
		want: []ServicePort{base(ServicePort{Name: "cip", ClusterIP: addr("10.96.0.30")})},
	}, {
		name: "LoadBalancer is served on its VIP-mode ingress IPs and external IPs",
		services: []*corev1.Service{newService("lb", "10.96.0.40", withType(corev1.ServiceTypeLoadBalancer), withNodePort(30081), func(s *corev1.Service) {
			s.Spec.ExternalIPs = []string{"203.0.113.7"}
			vip, proxy := corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy
			s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.168.1.20", IPMode: &vip}, {IP: "198.51.100.1"}, {Hostname: "lb.example"}, {IP: "198.51.100.2", IPMode: &proxy}, {IP: "fd00::2"}}
		})},
		slices: []*discoveryv1.EndpointSlice{newSlice("lb", "a", 8080, "10.0.0.11")},
		want: []ServicePort{base(ServicePort{Name: "lb", ClusterIP: addr("10.96.0.40"), NodePort: 30081,
			ExternalAddrs: []netip.Addr{addr("192.168.1.20"), addr("198.51.100.1"), addr("203.0.113.7")},
			Endpoints:     eps(8080, "10.0.0.11")})},
	}, {
		name:     "pending LoadBalancer (no ingress) gets only its node port, not the node's addresses",
		services: []*corev1.Service{newService("lbp", "10.96.0.41", withType(corev1.ServiceTypeLoadBalancer), withNodePort(30083))},
		slices:   []*discoveryv1.EndpointSlice{newSlice("lbp", "a", 8080, "10.0.0.11")},
		want: []ServicePort{base(ServicePort{Name: "lbp", ClusterIP: addr("10.96.0.41"), NodePort: 30083,
			Endpoints: eps(8080, "10.0.0.11")})},
	}, {
		name:     "ingress of a service that is not a LoadBalancer is ignored",
		services: []*corev1.Service{newService("np", "10.96.0.42", withNodePort(30084), withIngress("192.168.1.10"))},
		slices:   []*discoveryv1.EndpointSlice{newSlice("np", "a", 8080, "10.0.0.11")},
		want: []ServicePort{base(ServicePort{Name: "np", ClusterIP: addr("10.96.0.42"), NodePort: 30084,
			Endpoints: eps(8080, "10.0.0.11")})},
	}, {
		name:     "externalTrafficPolicy Local picks this node's endpoints",
		services: []*corev1.Service{newService("loc", "10.96.0.50", withNodePort(30082), withLocal())},
		slices: []*discoveryv1.EndpointSlice{newSlice("loc", "a", 8080,
			"10.0.0.11@node1", "10.0.0.12@node2", "10.0.0.13@node1,notready", "10.0.0.14@node1,terminating")},
		want: []ServicePort{base(ServicePort{Name: "loc", ClusterIP: addr("10.96.0.50"), NodePort: 30082, ExternalLocal: true,
			Endpoints:      eps(8080, "10.0.0.11@node1", "10.0.0.12@node2"),
			LocalEndpoints: eps(8080, "10.0.0.11@node1")})},
	}, {
		name:     "externalTrafficPolicy Local falls back to local terminating endpoints",
		services: []*corev1.Service{newService("loc", "10.96.0.50", withNodePort(30082), withLocal())},
		slices:   []*discoveryv1.EndpointSlice{newSlice("loc", "a", 8080, "10.0.0.12@node2", "10.0.0.14@node1,terminating")},
		want: []ServicePort{base(ServicePort{Name: "loc", ClusterIP: addr("10.96.0.50"), NodePort: 30082, ExternalLocal: true,
			Endpoints:      eps(8080, "10.0.0.12@node2"),
			LocalEndpoints: notReady(eps(8080, "10.0.0.14@node1"))})},
	}, {
		name:     "externalTrafficPolicy Local on a ClusterIP service has no effect",
		services: []*corev1.Service{newService("loc", "10.96.0.50", withLocal())},
		slices:   []*discoveryv1.EndpointSlice{newSlice("loc", "a", 8080, "10.0.0.12@node2")},
		want:     []ServicePort{base(ServicePort{Name: "loc", ClusterIP: addr("10.96.0.50"), Endpoints: eps(8080, "10.0.0.12@node2")})},
	}, {
		name: "internalTrafficPolicy Local",
		services: []*corev1.Service{newService("itp", "10.96.0.51", func(s *corev1.Service) {
			s.Spec.InternalTrafficPolicy = ptr.To(corev1.ServiceInternalTrafficPolicyLocal)
		})},
		slices: []*discoveryv1.EndpointSlice{newSlice("itp", "a", 8080, "10.0.0.11@node1", "10.0.0.12@node2")},
		want: []ServicePort{base(ServicePort{Name: "itp", ClusterIP: addr("10.96.0.51"), InternalLocal: true,
			Endpoints: eps(8080, "10.0.0.11@node1", "10.0.0.12@node2"), LocalEndpoints: eps(8080, "10.0.0.11@node1")})},
	}, {
		name: "ClientIP affinity with default and explicit timeouts",
		services: []*corev1.Service{
			newService("a1", "10.96.0.60", withAffinity(0)),
			newService("a2", "10.96.0.61", withAffinity(60)),
		},
		want: []ServicePort{
			base(ServicePort{Name: "a1", ClusterIP: addr("10.96.0.60"), Affinity: 3 * time.Hour}),
			base(ServicePort{Name: "a2", ClusterIP: addr("10.96.0.61"), Affinity: time.Minute}),
		},
	}, {
		name: "ports are matched by name and protocol (sorted by key)",
		services: []*corev1.Service{newService("dns", "10.96.0.70", withPorts(
			corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53},
			corev1.ServicePort{Name: "dns-tcp", Protocol: corev1.ProtocolTCP, Port: 53},
			corev1.ServicePort{Name: "sctp", Protocol: corev1.ProtocolSCTP, Port: 9},
		))},
		slices: []*discoveryv1.EndpointSlice{func() *discoveryv1.EndpointSlice {
			s := newSliceProto("dns", "a", "dns", corev1.ProtocolUDP, 5353, "10.0.0.53")
			s.Ports = append(s.Ports,
				discoveryv1.EndpointPort{Name: ptr.To("dns-tcp"), Protocol: ptr.To(corev1.ProtocolTCP), Port: ptr.To(int32(5354))},
				discoveryv1.EndpointPort{Name: ptr.To("sctp"), Protocol: ptr.To(corev1.ProtocolSCTP), Port: ptr.To(int32(99))})
			return s
		}()},
		want: []ServicePort{
			{Namespace: "default", Name: "dns", PortName: "dns-tcp", Protocol: corev1.ProtocolTCP, ClusterIP: addr("10.96.0.70"), Port: 53, Endpoints: eps(5354, "10.0.0.53")},
			{Namespace: "default", Name: "dns", PortName: "dns", Protocol: corev1.ProtocolUDP, ClusterIP: addr("10.96.0.70"), Port: 53, Endpoints: eps(5353, "10.0.0.53")},
			{Namespace: "default", Name: "dns", PortName: "sctp", Protocol: corev1.ProtocolSCTP, ClusterIP: addr("10.96.0.70"), Port: 9, Endpoints: eps(99, "10.0.0.53")},
		},
	}, {
		name:     "slices are merged and deduplicated; IPv6 slices and other services' slices ignored",
		services: []*corev1.Service{newService("web", "10.96.0.10")},
		slices: []*discoveryv1.EndpointSlice{
			newSlice("web", "b", 8080, "10.0.0.12", "10.0.0.11"),
			newSlice("web", "a", 8080, "10.0.0.11"),
			func() *discoveryv1.EndpointSlice {
				s := newSlice("web", "v6", 8080)
				s.AddressType = discoveryv1.AddressTypeIPv6
				s.Endpoints = []discoveryv1.Endpoint{{Addresses: []string{"fd00::5"}}}
				return s
			}(),
			newSlice("other", "a", 8080, "10.0.0.99"),
		},
		want: []ServicePort{base(ServicePort{Name: "web", ClusterIP: addr("10.96.0.10"), Endpoints: eps(8080, "10.0.0.11", "10.0.0.12")})},
	}, {
		name: "dual-stack service uses its IPv4 cluster IP",
		services: []*corev1.Service{newService("ds", "fd00:96::10", func(s *corev1.Service) {
			s.Spec.ClusterIPs = []string{"fd00:96::10", "10.96.0.80"}
		})},
		want: []ServicePort{base(ServicePort{Name: "ds", ClusterIP: addr("10.96.0.80")})},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Compute(tt.services, tt.slices, node)
			if diff := cmp.Diff(tt.want, got.Services, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })); diff != "" {
				t.Errorf("Compute services (-want +got):\n%s", diff)
			}
			if want := []netip.Addr{addr("192.168.1.10")}; !cmp.Equal(got.NodeAddresses, want, cmp.Comparer(func(a, b netip.Addr) bool { return a == b })) {
				t.Errorf("NodeAddresses = %v, want %v", got.NodeAddresses, want)
			}
		})
	}
}

func TestRulesetLookups(t *testing.T) {
	r := Compute(
		[]*corev1.Service{newService("a", "10.96.0.1"), newService("b", "10.96.0.2")},
		[]*discoveryv1.EndpointSlice{newSlice("b", "x", 80, "10.0.0.7", "10.0.0.8,terminating")},
		Node{Name: "n"})
	if sp := r.Service("default/b:http/TCP"); sp == nil || sp.ClusterIP != addr("10.96.0.2") {
		t.Errorf("Service(default/b:http/TCP) = %+v", sp)
	}
	if sp := r.Service("default/c:http/TCP"); sp != nil {
		t.Errorf("Service(default/c:http/TCP) = %+v, want nil", sp)
	}
	for a, want := range map[string]bool{"10.0.0.7": true, "10.0.0.8": false, "10.0.0.9": false} {
		if got := r.HasEndpoint(addr(a)); got != want {
			t.Errorf("HasEndpoint(%s) = %v, want %v", a, got, want)
		}
	}
	var nilRules *Ruleset
	if nilRules.HasEndpoint(addr("10.0.0.7")) || nilRules.Service("x") != nil {
		t.Error("nil Ruleset must be empty")
	}
}

func TestComputeDoesNotModifyInputs(t *testing.T) {
	svc := newService("web", "10.96.0.10", withType(corev1.ServiceTypeLoadBalancer))
	sl := []*discoveryv1.EndpointSlice{newSlice("web", "b", 8080, "10.0.0.12"), newSlice("web", "a", 8080, "10.0.0.11")}
	before := []string{sl[0].Name, sl[1].Name}
	svcCopy := svc.DeepCopy()
	Compute([]*corev1.Service{svc}, sl, Node{Name: "n", Addresses: []netip.Addr{addr("192.168.1.10")}})
	if sl[0].Name != before[0] || sl[1].Name != before[1] {
		t.Error("Compute reordered the slices argument")
	}
	if !cmp.Equal(svc, svcCopy) {
		t.Error("Compute modified the service")
	}
}
