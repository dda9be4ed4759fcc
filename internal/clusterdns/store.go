package clusterdns

import (
	"net/netip"
	"strings"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/api"
)

// Index names of the informer caches.
const (
	// Named for this package: on a shared informer, index names are
	// everyone's.
	indexIP      = "clusterdns/ip"      // services by cluster IP, slices by endpoint address
	indexService = "clusterdns/service" // slices by "<namespace>/<service>"
)

// tolerateUnreadyAnnotation is the pre-publishNotReadyAddresses way of
// asking for not-ready endpoints in DNS; the DNS specification still
// honours it.
const tolerateUnreadyAnnotation = "service.alpha.kubernetes.io/tolerate-unready-endpoints"

// store reads Services and EndpointSlices from informer caches. All its
// methods are safe for concurrent use; the objects they return are shared
// with the cache and must not be modified.
type store struct {
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by newStore, so the server shuts it
	// down.
	ownFactory bool
	services   cache.Indexer
	slices     cache.Indexer
	synced     []cache.InformerSynced
}

// newStore registers the informers and their indexes on f, or on a factory
// of its own if f is nil; nothing runs until factory.Start.
func newStore(client kubernetes.Interface, f informers.SharedInformerFactory) (*store, error) {
	own := f == nil
	if own {
		f = informers.NewSharedInformerFactory(client, 0)
	}
	svcInf := f.Core().V1().Services().Informer()
	sliceInf := f.Discovery().V1().EndpointSlices().Informer()
	for _, inf := range []cache.SharedIndexInformer{svcInf, sliceInf} {
		// A shared factory's informer may be running already (with the
		// factory's own transform).
		if err := inf.SetTransform(api.DropManagedFields); err != nil && own {
			return nil, err
		}
	}
	if err := svcInf.AddIndexers(cache.Indexers{indexIP: serviceIPs}); err != nil {
		return nil, err
	}
	if err := sliceInf.AddIndexers(cache.Indexers{indexIP: sliceIPs, indexService: sliceService}); err != nil {
		return nil, err
	}
	return &store{
		factory:    f,
		ownFactory: own,
		services:   svcInf.GetIndexer(),
		slices:     sliceInf.GetIndexer(),
		synced:     []cache.InformerSynced{svcInf.HasSynced, sliceInf.HasSynced},
	}, nil
}

func serviceIPs(obj any) ([]string, error) {
	svc, ok := obj.(*corev1.Service)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ip := range clusterIPs(svc) {
		out = append(out, ip.String())
	}
	return out, nil
}

func sliceIPs(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.AddressType == discoveryv1.AddressTypeFQDN {
		return nil, nil
	}
	var out []string
	for _, ep := range s.Endpoints {
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				out = append(out, ip.String())
			}
		}
	}
	return out, nil
}

func sliceService(obj any) ([]string, error) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	name := s.Labels[discoveryv1.LabelServiceName]
	if name == "" {
		return nil, nil
	}
	return []string{s.Namespace + "/" + name}, nil
}

// clusterIPs returns a service's parsed cluster IPs; none for headless
// and ExternalName services.
func clusterIPs(svc *corev1.Service) []netip.Addr {
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	ips := svc.Spec.ClusterIPs
	if len(ips) == 0 && svc.Spec.ClusterIP != "" {
		ips = []string{svc.Spec.ClusterIP}
	}
	var out []netip.Addr
	for _, s := range ips {
		if ip, err := netip.ParseAddr(s); err == nil {
			out = append(out, ip.Unmap())
		}
	}
	return out
}

// headless reports whether svc is a headless service (clusterIP None).
func headless(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP == corev1.ClusterIPNone
}

// service returns the named service, or nil.
func (s *store) service(namespace, name string) *corev1.Service {
	obj, ok, err := s.services.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

// hasServices reports whether namespace holds at least one service.
func (s *store) hasServices(namespace string) bool {
	objs, err := s.services.ByIndex(cache.NamespaceIndex, namespace)
	return err == nil && len(objs) > 0
}

// servicesByIP returns the services with ip among their cluster IPs.
func (s *store) servicesByIP(ip netip.Addr) []*corev1.Service {
	objs, _ := s.services.ByIndex(indexIP, ip.String())
	out := make([]*corev1.Service, 0, len(objs))
	for _, o := range objs {
		if svc, ok := o.(*corev1.Service); ok {
			out = append(out, svc)
		}
	}
	return out
}

// slicesByIP returns the endpoint slices with an endpoint at ip.
func (s *store) slicesByIP(ip netip.Addr) []*discoveryv1.EndpointSlice {
	objs, _ := s.slices.ByIndex(indexIP, ip.String())
	return toSlices(objs)
}

func toSlices(objs []any) []*discoveryv1.EndpointSlice {
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if es, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, es)
		}
	}
	return out
}

// endpoint is one address of a service's endpoint as DNS names it.
type endpoint struct {
	// host is the endpoint's hostname, or its address with dashes when
	// it has none (the specification's "system-assigned identifier").
	host  string
	addr  netip.Addr
	ports []discoveryv1.EndpointPort
}

// endpoints returns the ready endpoint addresses of svc, each address
// once, in the caches' order.
func (s *store) endpoints(svc *corev1.Service) []endpoint {
	objs, _ := s.slices.ByIndex(indexService, svc.Namespace+"/"+svc.Name)
	return readyEndpoints(svc, toSlices(objs), netip.Addr{})
}

// readyEndpoints collects the ready endpoints of svc from its slices, only
// those at addr when addr is valid.
func readyEndpoints(svc *corev1.Service, slices []*discoveryv1.EndpointSlice, only netip.Addr) []endpoint {
	all := svc.Spec.PublishNotReadyAddresses || svc.Annotations[tolerateUnreadyAnnotation] == "true"
	var out []endpoint
	seen := map[netip.Addr]bool{}
	for _, es := range slices {
		if es.AddressType == discoveryv1.AddressTypeFQDN || es.Labels[discoveryv1.LabelServiceName] != svc.Name || es.Namespace != svc.Namespace {
			continue
		}
		for _, ep := range es.Endpoints {
			if !all && ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				ip, err := netip.ParseAddr(a)
				if err != nil {
					continue
				}
				ip = ip.Unmap()
				if seen[ip] || (only.IsValid() && ip != only) {
					continue
				}
				seen[ip] = true
				host := ""
				if ep.Hostname != nil {
					host = strings.ToLower(*ep.Hostname)
				}
				if host == "" {
					host = dashed(ip)
				}
				out = append(out, endpoint{host: host, addr: ip, ports: es.Ports})
			}
		}
	}
	return out
}

// dashed writes an address as one DNS label: 10-42-0-5, 2001-db8--5.
func dashed(ip netip.Addr) string {
	if ip.Is4() {
		return strings.ReplaceAll(ip.String(), ".", "-")
	}
	return strings.ReplaceAll(ip.String(), ":", "-")
}

// servesEndpoint reports whether a headless service's records still name
// ip as a ready endpoint (other services answer with their cluster IP).
func (s *store) servesEndpoint(ip netip.Addr) bool {
	for _, es := range s.slicesByIP(ip) {
		svc := s.service(es.Namespace, es.Labels[discoveryv1.LabelServiceName])
		if svc != nil && headless(svc) && len(readyEndpoints(svc, []*discoveryv1.EndpointSlice{es}, ip)) > 0 {
			return true
		}
	}
	return false
}
