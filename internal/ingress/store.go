package ingress

import (
	"net/netip"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	listersnetworkingv1 "k8s.io/client-go/listers/networking/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/api"
)

// indexService indexes EndpointSlices by "<namespace>/<service>", indexIP
// by the addresses of their endpoints.
const (
	indexService = "service"
	indexIP      = "ip"
)

// store reads the informer caches the controller routes from. Its methods
// are safe for concurrent use; returned objects are shared with the cache
// and must not be modified.
type store struct {
	factory   informers.SharedInformerFactory
	ingresses listersnetworkingv1.IngressLister
	classes   listersnetworkingv1.IngressClassLister
	services  cache.Indexer
	slices    cache.Indexer
	secrets   cache.Indexer
	informers struct {
		ingresses, classes, services, slices, secrets cache.SharedIndexInformer
	}
	synced []cache.InformerSynced
}

var (
	_ serviceSource = (*store)(nil)
	_ secretSource  = (*store)(nil)
)

// newStore registers the informers; nothing runs until factory.Start.
func newStore(client kubernetes.Interface) (*store, error) {
	f := informers.NewSharedInformerFactory(client, 0)
	s := &store{factory: f}
	ing := f.Networking().V1().Ingresses()
	ic := f.Networking().V1().IngressClasses()
	s.ingresses, s.classes = ing.Lister(), ic.Lister()
	inf := &s.informers
	inf.ingresses, inf.classes = ing.Informer(), ic.Informer()
	inf.services = f.Core().V1().Services().Informer()
	inf.slices = f.Discovery().V1().EndpointSlices().Informer()
	inf.secrets = f.Core().V1().Secrets().Informer()
	for _, i := range []cache.SharedIndexInformer{inf.ingresses, inf.classes, inf.services, inf.slices} {
		if err := i.SetTransform(api.DropManagedFields); err != nil {
			return nil, err
		}
		s.synced = append(s.synced, i.HasSynced)
	}
	if err := inf.secrets.SetTransform(keepTLSData); err != nil {
		return nil, err
	}
	s.synced = append(s.synced, inf.secrets.HasSynced)
	if err := inf.slices.AddIndexers(cache.Indexers{indexService: sliceService, indexIP: sliceIPs}); err != nil {
		return nil, err
	}
	s.services, s.slices, s.secrets = inf.services.GetIndexer(), inf.slices.GetIndexer(), inf.secrets.GetIndexer()
	return s, nil
}

func (s *store) service(namespace, name string) (*corev1.Service, bool) {
	obj, ok, err := s.services.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	svc, ok := obj.(*corev1.Service)
	return svc, ok
}

func (s *store) endpointSlices(namespace, name string) []*discoveryv1.EndpointSlice {
	objs, _ := s.slices.ByIndex(indexService, namespace+"/"+name)
	out := make([]*discoveryv1.EndpointSlice, 0, len(objs))
	for _, o := range objs {
		if es, ok := o.(*discoveryv1.EndpointSlice); ok {
			out = append(out, es)
		}
	}
	return out
}

func (s *store) secret(namespace, name string) (*corev1.Secret, bool) {
	obj, ok, err := s.secrets.GetByKey(namespace + "/" + name)
	if err != nil || !ok {
		return nil, false
	}
	sec, ok := obj.(*corev1.Secret)
	return sec, ok
}

func sliceService(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	svc := es.Labels[discoveryv1.LabelServiceName]
	if svc == "" {
		return nil, nil
	}
	return []string{es.Namespace + "/" + svc}, nil
}

func sliceIPs(obj any) ([]string, error) {
	es, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok {
		return nil, nil
	}
	var out []string
	for _, ep := range es.Endpoints {
		for _, a := range ep.Addresses {
			if ip, err := netip.ParseAddr(a); err == nil {
				out = append(out, ip.Unmap().String())
			}
		}
	}
	return out, nil
}

// servesEndpoint reports whether an EndpointSlice in the cache names ip
// as a ready endpoint (a nil ready condition means ready).
func (s *store) servesEndpoint(ip netip.Addr) bool {
	objs, _ := s.slices.ByIndex(indexIP, ip.Unmap().String())
	for _, o := range objs {
		es, ok := o.(*discoveryv1.EndpointSlice)
		if !ok {
			continue
		}
		for _, ep := range es.Endpoints {
			if ep.Conditions.Ready != nil && !*ep.Conditions.Ready {
				continue
			}
			for _, a := range ep.Addresses {
				if b, err := netip.ParseAddr(a); err == nil && b.Unmap() == ip.Unmap() {
					return true
				}
			}
		}
	}
	return false
}

// keepTLSData keeps only tls.crt and tls.key of cached Secrets: the
// controller reads nothing else, and the cache holds every Secret.
func keepTLSData(obj any) (any, error) {
	sec, ok := obj.(*corev1.Secret)
	if !ok {
		return api.DropManagedFields(obj)
	}
	sec.ManagedFields = nil
	if len(sec.Data) > 0 {
		kept := map[string][]byte{}
		for _, k := range []string{corev1.TLSCertKey, corev1.TLSPrivateKeyKey} {
			if v, ok := sec.Data[k]; ok {
				kept[k] = v
			}
		}
		sec.Data = kept
	}
	sec.StringData = nil
	return sec, nil
}
