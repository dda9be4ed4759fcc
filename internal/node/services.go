package node

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/clusterdns"
	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/proxy"
)

// The cluster DNS Service, as Kubernetes names it. Each node serves DNS on
// its pod-network gateway and publishes that address in its own
// EndpointSlice; the Service's internalTrafficPolicy Local keeps every
// pod's queries on its own node.
const (
	dnsNamespace   = metav1.NamespaceSystem
	dnsServiceName = "kube-dns"
	dnsManagedBy   = "gantry-node"
)

// services runs a node's service proxy and cluster DNS. They start once
// the agent has set up the pod network (start), and the agent asks drain
// before it stops a deleted pod's containers.
type services struct {
	node   string
	client kubernetes.Interface
	// informers is the node's shared informer factory.
	informers informers.SharedInformerFactory
	log       *slog.Logger
	// extra are other in-process components that route to endpoints
	// (the server's ingress): drains wait for them too.
	extra   []func(netip.Addr) bool
	proxy   atomic.Pointer[proxy.Proxy]
	dns     atomic.Pointer[clusterdns.Server]
	drainer atomic.Pointer[drainer]
	wg      sync.WaitGroup
}

// start runs the proxy and the DNS server in the background until ctx
// ends. A part that fails is logged: pods keep running without it.
func (s *services) start(ctx context.Context, nw container.Network, settings api.ClusterSettings) {
	p := proxy.New(proxy.Config{
		NodeName:    s.node,
		ClusterCIDR: settings.ClusterCIDR,
		TableName:   tableName(s.node),
		Informers:   s.informers,
	}, s.client, s.log)
	s.proxy.Store(p)
	s.wg.Go(func() {
		if err := p.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("service proxy stopped; services are not reachable from this node", "err", err)
		}
	})
	d := newDrainer(s.node, s.client, s.serves, s.log)
	s.drainer.Store(d)
	s.wg.Go(func() { d.run(ctx) })
	gw, err := netip.ParseAddr(nw.Gateway)
	if err != nil || settings.ClusterDNS == "" {
		s.log.Error("cluster DNS not started", "gateway", nw.Gateway, "clusterDNS", settings.ClusterDNS, "err", err)
		return
	}
	cfg := clusterdns.DefaultConfig()
	cfg.ListenAddrs = []string{netip.AddrPortFrom(gw, 53).String()}
	cfg.ReusePort = true
	cfg.Informers = s.informers
	if settings.ClusterDomain != "" {
		cfg.ClusterDomain = settings.ClusterDomain
	}
	dns, err := clusterdns.New(cfg, s.client, s.log)
	if err != nil {
		s.log.Error("cluster DNS not started", "err", err)
		return
	}
	s.dns.Store(dns)
	s.wg.Go(func() {
		if err := dns.Run(ctx); err != nil && ctx.Err() == nil {
			s.log.Error("cluster DNS stopped", "err", err)
		}
	})
	s.wg.Go(func() {
		select {
		case <-dns.Ready():
		case <-ctx.Done():
			return
		}
		if err := s.publishDNS(ctx, settings, gw); err != nil && ctx.Err() == nil {
			s.log.Error("cluster DNS endpoint not published; pods use the node's resolver", "err", err)
		}
	})
}

// wait waits for the proxy and DNS to stop after ctx ended.
func (s *services) wait() { s.wg.Wait() }

// drain returns once neither this node's proxy, DNS and ingress nor any
// other Ready node's send new connections to the pod's IPs as a ready
// endpoint (the agent bounds ctx). A pod that is a service's last endpoint
// stays in the rules as a terminating fallback, which does not hold it
// back.
func (s *services) drain(ctx context.Context, pod *corev1.Pod) error {
	var ips []netip.Addr
	for _, ip := range pod.Status.PodIPs {
		if a, err := netip.ParseAddr(ip.IP); err == nil {
			ips = append(ips, a)
		}
	}
	if a, err := netip.ParseAddr(pod.Status.PodIP); err == nil {
		ips = append(ips, a)
	}
	d := s.drainer.Load()
	if d == nil || len(ips) == 0 {
		return nil
	}
	return d.drain(ctx, ips)
}

// serves reports whether this node's proxy, DNS or in-process ingress
// still sends new connections to ip as a ready endpoint.
func (s *services) serves(ip netip.Addr) bool {
	if p := s.proxy.Load(); p != nil && readyEndpoint(p.Applied(), []netip.Addr{ip}) {
		return true
	}
	if dns := s.dns.Load(); dns != nil && dns.ServesEndpoint(ip) {
		return true
	}
	for _, f := range s.extra {
		if f(ip) {
			return true
		}
	}
	return false
}

// readyEndpoint reports whether any service port sends traffic to one of
// ips as a ready endpoint.
func readyEndpoint(r *proxy.Ruleset, ips []netip.Addr) bool {
	if r == nil {
		return false
	}
	for i := range r.Services {
		sp := &r.Services[i]
		for _, list := range [][]proxy.Endpoint{sp.Endpoints, sp.LocalEndpoints} {
			for _, ep := range list {
				if ep.Ready && containsAddr(ips, ep.Addr) {
					return true
				}
			}
		}
	}
	return false
}

func containsAddr(list []netip.Addr, a netip.Addr) bool {
	for _, b := range list {
		if a == b {
			return true
		}
	}
	return false
}

// tableName is the node's nftables table: nodes sharing a host keep
// their own rules and remove only their own.
func tableName(node string) string {
	return "gantry-" + strings.ReplaceAll(node, ".", "_")
}

// publishDNS makes sure the kube-dns Service holds the cluster DNS IP and
// that this node's EndpointSlice names its DNS address, retrying until
// ctx ends.
func (s *services) publishDNS(ctx context.Context, settings api.ClusterSettings, addr netip.Addr) error {
	for {
		err := s.ensureDNSService(ctx, settings)
		if err == nil {
			err = s.ensureDNSEndpoints(ctx, addr)
		}
		if err == nil || errors.Is(err, errDNSIPTaken) {
			return err
		}
		s.log.Warn("publishing the cluster DNS endpoint, retrying", "err", err)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(2 * time.Second):
		}
	}
}

var errDNSIPTaken = errors.New("node: the cluster DNS IP is held by another Service")

func dnsPorts() []corev1.ServicePort {
	return []corev1.ServicePort{
		{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
		{Name: "dns-tcp", Port: 53, Protocol: corev1.ProtocolTCP},
	}
}

// ensureDNSService creates kube-system/kube-dns unless it exists; an
// existing one is left as it is (an administrator may have changed it).
func (s *services) ensureDNSService(ctx context.Context, settings api.ClusterSettings) error {
	local := corev1.ServiceInternalTrafficPolicyLocal
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{
			Name: dnsServiceName, Namespace: dnsNamespace,
			Labels: map[string]string{"k8s-app": "kube-dns", "kubernetes.io/name": "Gantry-DNS"},
		},
		Spec: corev1.ServiceSpec{
			ClusterIP:             settings.ClusterDNS,
			Ports:                 dnsPorts(),
			InternalTrafficPolicy: &local,
		},
	}
	_, err := s.client.CoreV1().Services(dnsNamespace).Create(ctx, svc, metav1.CreateOptions{})
	switch {
	case err == nil, apierrors.IsAlreadyExists(err):
		return nil
	case apierrors.IsInvalid(err) && strings.Contains(err.Error(), "already allocated"):
		return fmt.Errorf("%w: %s: %v", errDNSIPTaken, settings.ClusterDNS, err)
	}
	return err
}

// ensureDNSEndpoints writes the EndpointSlice kube-dns-<node>, owned by
// the Node so that it goes away with it.
func (s *services) ensureDNSEndpoints(ctx context.Context, addr netip.Addr) error {
	node, err := s.client.CoreV1().Nodes().Get(ctx, s.node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	ready, name := true, s.node
	udp, tcp := corev1.ProtocolUDP, corev1.ProtocolTCP
	port := int32(53)
	dnsName, tcpName := "dns", "dns-tcp"
	want := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{
			Name: dnsServiceName + "-" + s.node, Namespace: dnsNamespace,
			Labels: map[string]string{
				discoveryv1.LabelServiceName: dnsServiceName,
				discoveryv1.LabelManagedBy:   dnsManagedBy,
			},
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}},
		},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints: []discoveryv1.Endpoint{{
			Addresses:  []string{addr.String()},
			Conditions: discoveryv1.EndpointConditions{Ready: &ready},
			NodeName:   &name,
		}},
		Ports: []discoveryv1.EndpointPort{
			{Name: &dnsName, Protocol: &udp, Port: &port},
			{Name: &tcpName, Protocol: &tcp, Port: &port},
		},
	}
	slices := s.client.DiscoveryV1().EndpointSlices(dnsNamespace)
	cur, err := slices.Get(ctx, want.Name, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		_, err = slices.Create(ctx, want, metav1.CreateOptions{})
		return err
	}
	if err != nil {
		return err
	}
	want.ResourceVersion = cur.ResourceVersion
	_, err = slices.Update(ctx, want, metav1.UpdateOptions{})
	return err
}
