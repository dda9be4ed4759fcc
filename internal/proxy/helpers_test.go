package proxy

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"
)

// svcOpt modifies a test Service.
type svcOpt func(*corev1.Service)

// newService returns a ClusterIP Service default/<name> with one TCP port
// "http" 80 → 8080, modified by opts.
func newService(name, vip string, opts ...svcOpt) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: name},
		Spec: corev1.ServiceSpec{
			Type:       corev1.ServiceTypeClusterIP,
			ClusterIP:  vip,
			ClusterIPs: []string{vip},
			Selector:   map[string]string{"app": name},
			Ports:      []corev1.ServicePort{{Name: "http", Protocol: corev1.ProtocolTCP, Port: 80}},
		},
	}
	for _, o := range opts {
		o(s)
	}
	return s
}

func withType(t corev1.ServiceType) svcOpt { return func(s *corev1.Service) { s.Spec.Type = t } }

// withIngress sets status.loadBalancer.ingress IPs, as the servicelb
// controller does.
func withIngress(ips ...string) svcOpt {
	return func(s *corev1.Service) {
		s.Status.LoadBalancer.Ingress = nil
		for _, ip := range ips {
			s.Status.LoadBalancer.Ingress = append(s.Status.LoadBalancer.Ingress, corev1.LoadBalancerIngress{IP: ip})
		}
	}
}

func withNodePort(np int32) svcOpt {
	return func(s *corev1.Service) {
		if s.Spec.Type == corev1.ServiceTypeClusterIP {
			s.Spec.Type = corev1.ServiceTypeNodePort
		}
		s.Spec.Ports[0].NodePort = np
	}
}

func withLocal() svcOpt {
	return func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal }
}

func withAffinity(seconds int32) svcOpt {
	return func(s *corev1.Service) {
		s.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
		if seconds > 0 {
			s.Spec.SessionAffinityConfig = &corev1.SessionAffinityConfig{ClientIP: &corev1.ClientIPConfig{TimeoutSeconds: ptr.To(seconds)}}
		}
	}
}

func withPorts(ports ...corev1.ServicePort) svcOpt {
	return func(s *corev1.Service) { s.Spec.Ports = ports }
}

// ep describes a test endpoint: "10.0.0.11" or "10.0.0.11@node1", with
// conditions after a comma: ",notready", ",terminating" (serving and
// terminating, not ready), ",gone" (neither ready nor serving).
type ep string

// newSlice returns an EndpointSlice default/<svc>-<suffix> for service
// svc with one port "http"/TCP at port.
func newSlice(svc, suffix string, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	return newSliceProto(svc, suffix, "http", corev1.ProtocolTCP, port, eps...)
}

func newSliceProto(svc, suffix, portName string, proto corev1.Protocol, port int32, eps ...ep) *discoveryv1.EndpointSlice {
	s := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Namespace: "default",
			Name:      svc + "-" + suffix,
			Labels:    map[string]string{discoveryv1.LabelServiceName: svc},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Ports:       []discoveryv1.EndpointPort{{Name: ptr.To(portName), Protocol: ptr.To(proto), Port: ptr.To(port)}},
	}
	for _, e := range eps {
		addr, cond, _ := strings.Cut(string(e), ",")
		addr, node, _ := strings.Cut(addr, "@")
		ne := discoveryv1.Endpoint{Addresses: []string{addr}}
		if node != "" {
			ne.NodeName = ptr.To(node)
		}
		switch cond {
		case "notready":
			ne.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false)}
		case "terminating":
			ne.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(true), Terminating: ptr.To(true)}
		case "gone":
			ne.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(false), Serving: ptr.To(false), Terminating: ptr.To(true)}
		default:
			ne.Conditions = discoveryv1.EndpointConditions{Ready: ptr.To(true), Serving: ptr.To(true)}
		}
		s.Endpoints = append(s.Endpoints, ne)
	}
	return s
}

func addr(s string) netip.Addr { return netip.MustParseAddr(s) }

// eps returns Endpoints at port for "addr" or "addr@node" strings, ready.
func eps(port uint16, list ...string) []Endpoint {
	var out []Endpoint
	for _, s := range list {
		a, node, _ := strings.Cut(s, "@")
		out = append(out, Endpoint{Addr: addr(a), Port: port, NodeName: node, Ready: true})
	}
	return out
}

// notReady marks endpoints as chosen through the terminating fallback.
func notReady(list []Endpoint) []Endpoint {
	for i := range list {
		list[i].Ready = false
	}
	return list
}
