package endpointslice

import (
	"cmp"
	"maps"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
)

// This file computes the legacy core/v1 Endpoints of a service, as
// Kubernetes' endpoints controller does.

// endpointsLabels are the service's labels plus the headless mark.
func endpointsLabels(svc *corev1.Service) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	delete(l, LabelHeadless)
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[LabelHeadless] = ""
	}
	return l
}

// notReadyEligible is Kubernetes' rule for listing a not-ready pod under
// notReadyAddresses: pods that will not run again are left out.
func notReadyEligible(pod *corev1.Pod) bool {
	switch pod.Spec.RestartPolicy {
	case corev1.RestartPolicyNever:
		return pod.Status.Phase != corev1.PodFailed && pod.Status.Phase != corev1.PodSucceeded
	case corev1.RestartPolicyOnFailure:
		return pod.Status.Phase != corev1.PodSucceeded
	default:
		return true
	}
}

// desiredSubsets computes the Endpoints subsets of svc: one subset per
// port set, ready pods under addresses and the others under
// notReadyAddresses (all under addresses with publishNotReadyAddresses);
// terminating pods are left out unless the service publishes not-ready
// addresses.
func desiredSubsets(svc *corev1.Service, pods []*corev1.Pod) []corev1.EndpointSubset {
	type subset struct {
		ports    []corev1.EndpointPort
		ready    map[string]corev1.EndpointAddress
		notReady map[string]corev1.EndpointAddress
	}
	byPorts := map[string]*subset{}
	family := addressTypes(svc)[0]
	tolerate := svc.Spec.PublishNotReadyAddresses
	headless := svc.Spec.ClusterIP == corev1.ClusterIPNone
	for _, pod := range pods {
		if !shouldBeInEndpoints(pod, tolerate) {
			continue
		}
		ip := podIP(pod, family)
		if ip == "" {
			continue
		}
		addr := corev1.EndpointAddress{
			IP:        ip,
			TargetRef: &corev1.ObjectReference{Kind: "Pod", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID},
		}
		if pod.Spec.NodeName != "" {
			node := pod.Spec.NodeName
			addr.NodeName = &node
		}
		if shouldSetHostname(pod, svc) {
			addr.Hostname = pod.Spec.Hostname
		}
		var portSets [][]corev1.EndpointPort
		if len(svc.Spec.Ports) == 0 {
			if headless {
				portSets = append(portSets, nil)
			}
		}
		for i := range svc.Spec.Ports {
			sp := &svc.Spec.Ports[i]
			port, ok := findPort(pod, sp)
			if !ok {
				continue
			}
			portSets = append(portSets, []corev1.EndpointPort{{Name: sp.Name, Port: port, Protocol: sp.Protocol, AppProtocol: sp.AppProtocol}})
		}
		isReady := tolerate || podReady(pod)
		if !isReady && !notReadyEligible(pod) {
			continue
		}
		for _, ports := range portSets {
			k := legacyPortsKey(ports)
			s := byPorts[k]
			if s == nil {
				s = &subset{ports: ports, ready: map[string]corev1.EndpointAddress{}, notReady: map[string]corev1.EndpointAddress{}}
				byPorts[k] = s
			}
			if isReady {
				s.ready[ip] = addr
			} else {
				s.notReady[ip] = addr
			}
		}
	}
	// Repack: subsets with the same addresses merge their ports, as
	// Kubernetes' RepackSubsets does.
	merged := map[string]*corev1.EndpointSubset{}
	for _, s := range byPorts {
		for ip := range s.ready {
			delete(s.notReady, ip) // ready wins
		}
		ready, notReady := sortedAddresses(s.ready), sortedAddresses(s.notReady)
		k := addressesKey(ready) + "|" + addressesKey(notReady)
		m := merged[k]
		if m == nil {
			m = &corev1.EndpointSubset{Addresses: ready, NotReadyAddresses: notReady}
			merged[k] = m
		}
		m.Ports = append(m.Ports, s.ports...)
	}
	out := make([]corev1.EndpointSubset, 0, len(merged))
	for _, m := range merged {
		slices.SortFunc(m.Ports, func(a, b corev1.EndpointPort) int {
			return cmp.Or(cmp.Compare(a.Name, b.Name), cmp.Compare(a.Port, b.Port), cmp.Compare(a.Protocol, b.Protocol))
		})
		out = append(out, *m)
	}
	slices.SortFunc(out, func(a, b corev1.EndpointSubset) int {
		return cmp.Compare(legacyPortsKey(a.Ports)+addressesKey(a.Addresses), legacyPortsKey(b.Ports)+addressesKey(b.Addresses))
	})
	if len(out) == 0 {
		return nil
	}
	return out
}

func legacyPortsKey(ports []corev1.EndpointPort) string {
	k := ""
	for _, p := range ports {
		k += p.Name + "/" + string(p.Protocol) + "/" + strconv.Itoa(int(p.Port)) + ","
	}
	return k
}

func sortedAddresses(m map[string]corev1.EndpointAddress) []corev1.EndpointAddress {
	if len(m) == 0 {
		return nil
	}
	out := make([]corev1.EndpointAddress, 0, len(m))
	for _, ip := range slices.Sorted(maps.Keys(m)) {
		out = append(out, m[ip])
	}
	return out
}

func addressesKey(addrs []corev1.EndpointAddress) string {
	k := ""
	for _, a := range addrs {
		k += a.IP + ","
	}
	return k
}

// Endpoints capacity, as Kubernetes: beyond maxEndpointsCapacity addresses
// the object is truncated and annotated.
const (
	maxEndpointsCapacity = 1000
	// AnnotationOverCapacity marks truncated Endpoints (value "truncated").
	AnnotationOverCapacity = "endpoints.kubernetes.io/over-capacity"
)

// truncateSubsets cuts subsets down to maxEndpointsCapacity addresses the
// way Kubernetes' endpoints controller does: not-ready addresses go first;
// each subset keeps a share proportional to its size. It reports whether
// anything was cut.
func truncateSubsets(subsets []corev1.EndpointSubset) bool {
	totalReady, totalNotReady := 0, 0
	for _, s := range subsets {
		totalReady += len(s.Addresses)
		totalNotReady += len(s.NotReadyAddresses)
	}
	if totalReady+totalNotReady <= maxEndpointsCapacity {
		return false
	}
	truncateReady := totalReady > maxEndpointsCapacity
	limit, total := maxEndpointsCapacity-totalReady, totalNotReady
	if truncateReady {
		limit, total = maxEndpointsCapacity, totalReady
	}
	left := limit
	for i := range subsets {
		s := &subsets[i]
		n := len(s.NotReadyAddresses)
		if truncateReady {
			n = len(s.Addresses)
		}
		// Rounded up, then capped by what is left, as Kubernetes does.
		allowed := min((limit*n+total-1)/total, left)
		left -= allowed
		if truncateReady {
			s.NotReadyAddresses = nil
			s.Addresses = s.Addresses[:min(len(s.Addresses), allowed)]
		} else {
			s.NotReadyAddresses = s.NotReadyAddresses[:min(len(s.NotReadyAddresses), allowed)]
		}
	}
	return true
}
