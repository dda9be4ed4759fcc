package endpointslice

import (
	"cmp"
	"maps"
	"slices"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Labels and values on the slices this controller manages, as Kubernetes'
// EndpointSlice controller sets them, so that kube-proxy-like clients and
// kubectl treat them the same way.
const (
	// ManagedBy is the discovery.k8s.io/managed-by value of managed slices.
	ManagedBy = "endpointslice-controller.k8s.io"
	// LabelHeadless marks slices and Endpoints of headless services.
	LabelHeadless = corev1.IsHeadlessService
)

// plan is the writes that converge a service's slices.
type plan struct {
	create []*discoveryv1.EndpointSlice
	update []*discoveryv1.EndpointSlice
	delete []*discoveryv1.EndpointSlice
}

// sliceLabels are the labels every slice of svc carries: the service's own,
// then the service name, the manager and the headless mark.
func sliceLabels(svc *corev1.Service) map[string]string {
	l := maps.Clone(svc.Labels)
	if l == nil {
		l = map[string]string{}
	}
	delete(l, LabelHeadless)
	l[discoveryv1.LabelServiceName] = svc.Name
	l[discoveryv1.LabelManagedBy] = ManagedBy
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		l[LabelHeadless] = ""
	}
	return l
}

func newSlice(svc *corev1.Service, t discoveryv1.AddressType, ports []discoveryv1.EndpointPort) *discoveryv1.EndpointSlice {
	prefix := svc.Name
	if len(prefix) > 57 { // leave room for generateName's suffix
		prefix = prefix[:57]
	}
	return &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			GenerateName:    prefix + "-",
			Namespace:       svc.Namespace,
			Labels:          sliceLabels(svc),
			OwnerReferences: []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))},
		},
		AddressType: t,
		Ports:       ports,
		Endpoints:   []discoveryv1.Endpoint{},
	}
}

// planSlices decides the creates, updates and deletes that turn existing
// (the managed slices of svc) into desired, at most max endpoints a slice.
// Endpoints stay in the slice they are in where they can, so that one pod
// changing rewrites one slice; new endpoints fill existing slices with room
// before new slices are made; empty slices go, except that a service
// without any endpoint keeps one empty placeholder slice, as Kubernetes
// does.
func planSlices(svc *corev1.Service, desired []*endpointGroup, existing []*discoveryv1.EndpointSlice, max int) plan {
	var p plan
	existing = slices.Clone(existing)
	slices.SortFunc(existing, func(a, b *discoveryv1.EndpointSlice) int { return cmp.Compare(a.Name, b.Name) })
	byGroup := map[string][]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		k := groupKey(s.AddressType, s.Ports)
		byGroup[k] = append(byGroup[k], s)
	}
	labels := sliceLabels(svc)
	owner := []metav1.OwnerReference{*metav1.NewControllerRef(svc, corev1.SchemeGroupVersion.WithKind("Service"))}
	total := 0
	for _, g := range desired {
		total += len(g.endpoints)
	}
	if total == 0 {
		desired = nil
	}

	type pending struct {
		g    *endpointGroup
		rest []discoveryv1.Endpoint
	}
	var todo []pending
	for _, g := range desired {
		want := map[string]discoveryv1.Endpoint{}
		for _, ep := range g.endpoints {
			want[endpointKey(&ep)] = ep
		}
		olds := byGroup[g.key()]
		delete(byGroup, g.key())
		fills := make([][]discoveryv1.Endpoint, len(olds))
		for i, s := range olds {
			for _, ep := range s.Endpoints {
				k := endpointKey(&ep)
				if nep, ok := want[k]; ok && len(fills[i]) < max {
					fills[i] = append(fills[i], nep)
					delete(want, k)
				}
			}
		}
		var rest []discoveryv1.Endpoint
		for _, ep := range g.endpoints { // sorted: new slices are stable
			if _, ok := want[endpointKey(&ep)]; ok {
				rest = append(rest, ep)
			}
		}
		for i := range olds {
			n := min(max-len(fills[i]), len(rest))
			if n > 0 && len(fills[i]) > 0 {
				fills[i] = append(fills[i], rest[:n]...)
				rest = rest[n:]
			}
		}
		// Empty existing slices are reused before new ones are made.
		for i := range olds {
			n := min(max, len(rest))
			if n > 0 && len(fills[i]) == 0 {
				fills[i] = append(fills[i], rest[:n]...)
				rest = rest[n:]
			}
		}
		for i, s := range olds {
			if len(fills[i]) == 0 {
				byGroup[""] = append(byGroup[""], s) // spare
				continue
			}
			if next := converge(s, labels, owner, g.ports, fills[i]); next != nil {
				p.update = append(p.update, next)
			}
		}
		if len(rest) > 0 {
			todo = append(todo, pending{g, rest})
		}
	}

	// Slices of port sets no longer wanted (such as the placeholder) are
	// spare: reused for endpoints left over, of the same address type.
	var spare []*discoveryv1.EndpointSlice
	for _, k := range slices.Sorted(maps.Keys(byGroup)) {
		spare = append(spare, byGroup[k]...)
	}
	for _, td := range todo {
		rest := td.rest
		for len(rest) > 0 {
			n := min(max, len(rest))
			i := slices.IndexFunc(spare, func(s *discoveryv1.EndpointSlice) bool { return s.AddressType == td.g.addressType })
			if i < 0 {
				s := newSlice(svc, td.g.addressType, td.g.ports)
				s.Endpoints = sortedEndpoints(rest[:n])
				p.create = append(p.create, s)
			} else {
				if next := converge(spare[i], labels, owner, td.g.ports, rest[:n]); next != nil {
					p.update = append(p.update, next)
				}
				spare = slices.Delete(spare, i, i+1)
			}
			rest = rest[n:]
		}
	}

	// The remaining spares go, but one is kept (emptied) as the
	// placeholder of a service without endpoints.
	primary := addressTypes(svc)[0]
	placeholder := total > 0
	for _, s := range spare {
		if !placeholder && s.AddressType == primary {
			placeholder = true
			if next := converge(s, labels, owner, nil, nil); next != nil {
				p.update = append(p.update, next)
			}
			continue
		}
		p.delete = append(p.delete, s)
	}
	if !placeholder {
		p.create = append(p.create, newSlice(svc, primary, nil))
	}
	return p
}

func sortedEndpoints(eps []discoveryv1.Endpoint) []discoveryv1.Endpoint {
	out := slices.Clone(eps)
	if out == nil {
		out = []discoveryv1.Endpoint{}
	}
	slices.SortFunc(out, func(a, b discoveryv1.Endpoint) int { return cmp.Compare(endpointKey(&a), endpointKey(&b)) })
	return out
}

// converge returns s updated to carry labels, owner, ports and endpoints,
// or nil when it already does.
func converge(s *discoveryv1.EndpointSlice, labels map[string]string, owner []metav1.OwnerReference, ports []discoveryv1.EndpointPort, eps []discoveryv1.Endpoint) *discoveryv1.EndpointSlice {
	eps = sortedEndpoints(eps)
	if apiequality.Semantic.DeepEqual(s.Labels, labels) &&
		apiequality.Semantic.DeepEqual(s.OwnerReferences, owner) &&
		portsKey(s.Ports) == portsKey(ports) &&
		apiequality.Semantic.DeepEqual(sortedEndpoints(s.Endpoints), eps) {
		return nil
	}
	next := s.DeepCopy()
	next.Labels = maps.Clone(labels)
	next.OwnerReferences = owner
	next.Ports = ports
	next.Endpoints = eps
	return next
}
