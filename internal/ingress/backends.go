package ingress

import (
	"errors"
	"fmt"
	"net"
	"slices"
	"strconv"
	"sync"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// Why a backend has nowhere to send a request; each is answered with 503.
var (
	ErrNoService   = errors.New("ingress: backend service not found")
	ErrNoPort      = errors.New("ingress: backend service has no such port")
	ErrNoEndpoints = errors.New("ingress: backend service has no ready endpoints")
	ErrUnsupported = errors.New("ingress: unsupported backend")
)

// serviceSource reads Services and their EndpointSlices (informer caches
// in the controller). Returned objects are shared: read only.
type serviceSource interface {
	// service returns the Service namespace/name, or false.
	service(namespace, name string) (*corev1.Service, bool)
	// endpointSlices returns the slices labelled with the Service's name.
	endpointSlices(namespace, name string) []*discoveryv1.EndpointSlice
}

// resolve returns the host:port addresses of be's endpoints, sorted: the
// ready ones or, when none is ready, the serving terminating ones (as
// kube-proxy falls back to them). A Service port is found by number or
// name; its endpoint port is the slice's port of the same name (the
// Service's resolved targetPort).
func resolve(src serviceSource, be backendRef) ([]string, error) {
	if be.service == "" {
		return nil, fmt.Errorf("%w: %s", ErrUnsupported, describeResource(be))
	}
	svc, ok := src.service(be.namespace, be.service)
	if !ok {
		return nil, fmt.Errorf("%w: %s/%s", ErrNoService, be.namespace, be.service)
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil, fmt.Errorf("%w: ExternalName service %s/%s", ErrUnsupported, be.namespace, be.service)
	}
	var sp *corev1.ServicePort
	for i := range svc.Spec.Ports {
		p := &svc.Spec.Ports[i]
		if p.Protocol != "" && p.Protocol != corev1.ProtocolTCP {
			continue
		}
		if (be.port.Name != "" && p.Name == be.port.Name) || (be.port.Name == "" && p.Port == be.port.Number) {
			sp = p
			break
		}
	}
	if sp == nil {
		return nil, fmt.Errorf("%w: %s/%s port %s", ErrNoPort, be.namespace, be.service, describePort(be))
	}
	var ready, terminating []string
	for _, s := range src.endpointSlices(be.namespace, be.service) {
		if s.AddressType == discoveryv1.AddressTypeFQDN {
			continue
		}
		port := int32(-1)
		for _, p := range s.Ports {
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name == sp.Name && (p.Protocol == nil || *p.Protocol == corev1.ProtocolTCP) && p.Port != nil {
				port = *p.Port
				break
			}
		}
		if port < 0 {
			continue
		}
		for _, ep := range s.Endpoints {
			if len(ep.Addresses) == 0 {
				continue
			}
			addr := net.JoinHostPort(ep.Addresses[0], strconv.Itoa(int(port)))
			c := ep.Conditions
			switch {
			case c.Ready == nil || *c.Ready:
				ready = append(ready, addr)
			case c.Serving != nil && *c.Serving && c.Terminating != nil && *c.Terminating:
				terminating = append(terminating, addr)
			}
		}
	}
	out := ready
	if len(out) == 0 {
		out = terminating
	}
	if len(out) == 0 {
		return nil, fmt.Errorf("%w: %s/%s port %s", ErrNoEndpoints, be.namespace, be.service, describePort(be))
	}
	slices.Sort(out)
	return slices.Compact(out), nil
}

func describePort(be backendRef) string {
	if be.port.Name != "" {
		return be.port.Name
	}
	return strconv.Itoa(int(be.port.Number))
}

func describeResource(be backendRef) string {
	if be.resource == nil {
		return "no service"
	}
	return "resource " + be.resource.Kind + "/" + be.resource.Name
}

// balancer spreads requests round robin over a backend's endpoints. It is
// safe for concurrent use.
type balancer struct {
	mu   sync.Mutex
	next map[string]uint64 // by namespace/service:port
}

// retain forgets the positions of backends not in keep (by key).
func (b *balancer) retain(keep map[string]bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	for k := range b.next {
		if !keep[k] {
			delete(b.next, k)
		}
	}
}

func balancerKey(be backendRef) string {
	return be.namespace + "/" + be.service + ":" + describePort(be)
}

// pick returns the next of addrs (non-empty) for the backend be.
func (b *balancer) pick(be backendRef, addrs []string) string {
	key := balancerKey(be)
	b.mu.Lock()
	if b.next == nil {
		b.next = map[string]uint64{}
	}
	n := b.next[key]
	b.next[key] = n + 1
	b.mu.Unlock()
	return addrs[n%uint64(len(addrs))]
}
