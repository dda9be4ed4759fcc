package endpointslice

import (
	"cmp"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

// This file is the pure part: what endpoints a Service should have, given
// its pods and the zones of their nodes, as Kubernetes computes them.

// zoneOf returns the topology.kubernetes.io/zone label of a node, or "".
type zoneOf func(nodeName string) string

// addressTypes returns the slice address types a service gets: one per IP
// family, primary first.
func addressTypes(svc *corev1.Service) []discoveryv1.AddressType {
	var out []discoveryv1.AddressType
	for _, f := range svc.Spec.IPFamilies {
		switch f {
		case corev1.IPv4Protocol:
			out = append(out, discoveryv1.AddressTypeIPv4)
		case corev1.IPv6Protocol:
			out = append(out, discoveryv1.AddressTypeIPv6)
		}
	}
	if len(out) > 0 {
		return out
	}
	if a, err := netip.ParseAddr(svc.Spec.ClusterIP); err == nil && a.Is6() {
		return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv6}
	}
	return []discoveryv1.AddressType{discoveryv1.AddressTypeIPv4}
}

// podIP returns the pod's IP of the address type's family, or "".
func podIP(pod *corev1.Pod, t discoveryv1.AddressType) string {
	ips := make([]string, 0, len(pod.Status.PodIPs)+1)
	for _, ip := range pod.Status.PodIPs {
		ips = append(ips, ip.IP)
	}
	if len(ips) == 0 && pod.Status.PodIP != "" {
		ips = append(ips, pod.Status.PodIP)
	}
	for _, s := range ips {
		a, err := netip.ParseAddr(s)
		if err != nil {
			continue
		}
		if a.Is4() == (t == discoveryv1.AddressTypeIPv4) {
			return a.String()
		}
	}
	return ""
}

// podReady reports the pod's Ready condition.
func podReady(pod *corev1.Pod) bool {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

// shouldBeInEndpoints is Kubernetes' ShouldPodBeInEndpoints: terminal pods
// and pods without an IP never are; terminating ones only when asked.
func shouldBeInEndpoints(pod *corev1.Pod, includeTerminating bool) bool {
	if pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false
	}
	if pod.Status.PodIP == "" && len(pod.Status.PodIPs) == 0 {
		return false
	}
	return includeTerminating || pod.DeletionTimestamp == nil
}

// shouldSetHostname: a pod's hostname is published when its subdomain
// names the service.
func shouldSetHostname(pod *corev1.Pod, svc *corev1.Service) bool {
	return pod.Spec.Hostname != "" && pod.Spec.Subdomain == svc.Name && pod.Namespace == svc.Namespace
}

// findPort resolves a service port's targetPort for pod, as Kubernetes'
// FindPort: a number as is, a name through the ports of the pod's
// containers and sidecars (restartable init containers) of the same
// protocol.
func findPort(pod *corev1.Pod, sp *corev1.ServicePort) (int32, bool) {
	switch sp.TargetPort.Type {
	case intstr.String:
		name := sp.TargetPort.StrVal
		containers := slices.Clone(pod.Spec.Containers)
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers, c)
			}
		}
		for _, c := range containers {
			for _, p := range c.Ports {
				if p.Name == name && p.Protocol == sp.Protocol {
					return p.ContainerPort, true
				}
			}
		}
		return 0, false
	default:
		if sp.TargetPort.IntVal == 0 {
			return sp.Port, true // unset targetPort defaults to port
		}
		return sp.TargetPort.IntVal, true
	}
}

// endpointPorts returns the pod's resolved ports for svc; ports whose named
// targetPort the pod does not have are left out, as Kubernetes does.
func endpointPorts(svc *corev1.Service, pod *corev1.Pod) []discoveryv1.EndpointPort {
	out := make([]discoveryv1.EndpointPort, 0, len(svc.Spec.Ports))
	for i := range svc.Spec.Ports {
		sp := &svc.Spec.Ports[i]
		port, ok := findPort(pod, sp)
		if !ok {
			continue
		}
		name, proto := sp.Name, sp.Protocol
		out = append(out, discoveryv1.EndpointPort{Name: &name, Port: &port, Protocol: &proto, AppProtocol: sp.AppProtocol})
	}
	return out
}

// portsKey identifies a port set independently of order.
func portsKey(ports []discoveryv1.EndpointPort) string {
	parts := make([]string, 0, len(ports))
	for _, p := range ports {
		var b strings.Builder
		b.WriteString(deref(p.Name))
		b.WriteByte('/')
		if p.Protocol != nil {
			b.WriteString(string(*p.Protocol))
		}
		b.WriteByte('/')
		if p.Port != nil {
			b.WriteString(strconv.Itoa(int(*p.Port)))
		}
		b.WriteByte('/')
		b.WriteString(deref(p.AppProtocol))
		parts = append(parts, b.String())
	}
	slices.Sort(parts)
	return strings.Join(parts, ",")
}

func deref(s *string) string {
	if s == nil {
		return ""
	}
	return *s
}

// podEndpoint builds the slice endpoint of pod for svc, with conditions as
// Kubernetes sets them: serving is the pod's readiness, terminating is a
// deletion timestamp, and ready is serving and not terminating unless the
// service publishes not-ready addresses.
func podEndpoint(svc *corev1.Service, pod *corev1.Pod, ip string, zone zoneOf) discoveryv1.Endpoint {
	serving := podReady(pod)
	terminating := pod.DeletionTimestamp != nil
	ready := svc.Spec.PublishNotReadyAddresses || (serving && !terminating)
	ep := discoveryv1.Endpoint{
		Addresses: []string{ip},
		Conditions: discoveryv1.EndpointConditions{
			Ready: &ready, Serving: &serving, Terminating: &terminating,
		},
		TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
	}
	if pod.Spec.NodeName != "" {
		node := pod.Spec.NodeName
		ep.NodeName = &node
		if z := zone(node); z != "" {
			ep.Zone = &z
		}
	}
	if shouldSetHostname(pod, svc) {
		h := pod.Spec.Hostname
		ep.Hostname = &h
	}
	return ep
}

// endpointGroup is the endpoints of one address type sharing one port set:
// they go into the same slices.
type endpointGroup struct {
	addressType discoveryv1.AddressType
	ports       []discoveryv1.EndpointPort
	endpoints   []discoveryv1.Endpoint // sorted by endpointKey
}

func (g *endpointGroup) key() string { return groupKey(g.addressType, g.ports) }

func groupKey(t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) string {
	return string(t) + "|" + portsKey(ports)
}

// endpointKey identifies an endpoint across reconciles: its pod and address.
func endpointKey(ep *discoveryv1.Endpoint) string {
	key := ""
	if ep.TargetRef != nil {
		key = ep.TargetRef.Namespace + "/" + ep.TargetRef.Name
	}
	if len(ep.Addresses) > 0 {
		key += "@" + ep.Addresses[0]
	}
	return key
}

// desiredGroups computes the endpoints of svc from the pods its selector
// matches, grouped by address type and port set (sorted by key).
func desiredGroups(svc *corev1.Service, pods []*corev1.Pod, zone zoneOf) []*endpointGroup {
	byKey := map[string]*endpointGroup{}
	for _, t := range addressTypes(svc) {
		for _, pod := range pods {
			if !shouldBeInEndpoints(pod, true) {
				continue
			}
			ip := podIP(pod, t)
			if ip == "" {
				continue
			}
			// A pod on which no port resolves is still an endpoint, in
			// a slice without ports, as in Kubernetes.
			ports := endpointPorts(svc, pod)
			k := groupKey(t, ports)
			g := byKey[k]
			if g == nil {
				g = &endpointGroup{addressType: t, ports: ports}
				byKey[k] = g
			}
			g.endpoints = append(g.endpoints, podEndpoint(svc, pod, ip, zone))
		}
	}
	out := make([]*endpointGroup, 0, len(byKey))
	for _, g := range byKey {
		slices.SortFunc(g.endpoints, func(a, b discoveryv1.Endpoint) int { return cmp.Compare(endpointKey(&a), endpointKey(&b)) })
		out = append(out, g)
	}
	slices.SortFunc(out, func(a, b *endpointGroup) int { return cmp.Compare(a.key(), b.key()) })
	return out
}
