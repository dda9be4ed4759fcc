package apiserver

import (
	"context"
	"errors"
	"fmt"
	"math/big"
	"math/rand/v2"
	"net"
	"net/netip"
	"slices"
	"strconv"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/validation/field"

	"github.com/gantry-dev/gantry/internal/storage"
)

// ServiceConfig sets the ranges services draw from.
type ServiceConfig struct {
	// CIDR is the service (ClusterIP) range, e.g. 10.43.0.0/16.
	CIDR string
	// NodePortBase and NodePortSize give the node port range
	// [Base, Base+Size), e.g. 30000 and 2768.
	NodePortBase, NodePortSize int
}

// DefaultServiceConfig returns Gantry's defaults.
func DefaultServiceConfig() ServiceConfig {
	return ServiceConfig{CIDR: "10.43.0.0/16", NodePortBase: 30000, NodePortSize: 2768}
}

// serviceAllocator hands out ClusterIPs and node ports. Each allocation is
// a key in storage ("ranges/serviceips/<ip>", "ranges/nodeports/<port>")
// created with compare-and-swap, so two API servers never hand out the
// same value. The first address of the range (.1) is reserved for the
// "kubernetes" service.
type serviceAllocator struct {
	cfg    ServiceConfig
	store  storage.Interface
	prefix netip.Prefix
	size   int64 // usable addresses, excluding network and broadcast
}

func newServiceAllocator(cfg ServiceConfig, store storage.Interface) (*serviceAllocator, error) {
	if cfg.CIDR == "" {
		cfg = DefaultServiceConfig()
	}
	p, err := netip.ParsePrefix(cfg.CIDR)
	if err != nil || !p.Addr().Is4() {
		return nil, fmt.Errorf("apiserver: service CIDR %q must be an IPv4 CIDR", cfg.CIDR)
	}
	p = p.Masked()
	bits := 32 - p.Bits()
	if bits < 2 || bits > 24 {
		return nil, fmt.Errorf("apiserver: service CIDR %q must be between /8 and /30", cfg.CIDR)
	}
	if cfg.NodePortSize <= 0 {
		cfg.NodePortBase, cfg.NodePortSize = 30000, 2768
	}
	return &serviceAllocator{cfg: cfg, store: store, prefix: p, size: int64(1)<<bits - 2}, nil
}

// KubernetesServiceIP returns the first address of the range.
func (a *serviceAllocator) KubernetesServiceIP() string { return a.ipAt(0) }

func (a *serviceAllocator) ipAt(offset int64) string {
	base := new(big.Int).SetBytes(a.prefix.Addr().AsSlice())
	base.Add(base, big.NewInt(offset+1))
	b := base.FillBytes(make([]byte, 4))
	return net.IP(b).String()
}

// The storage key prefixes of ClusterIP and node port reservations.
const (
	ipKeyPrefix   = "ranges/serviceips/"
	portKeyPrefix = "ranges/nodeports/"
)

func ipKey(ip string) string    { return ipKeyPrefix + ip }
func portKey(port int32) string { return portKeyPrefix + strconv.Itoa(int(port)) }

// reserve creates key; false when it is taken.
func (a *serviceAllocator) reserve(ctx context.Context, key, owner string) (bool, error) {
	_, err := a.store.Create(ctx, key, []byte(owner))
	if errors.Is(err, storage.ErrExists) {
		return false, nil
	}
	return err == nil, err
}

func (a *serviceAllocator) free(ctx context.Context, key string) {
	_, _ = a.store.Delete(ctx, key, 0)
}

func (a *serviceAllocator) allocateIP(ctx context.Context, owner string) (string, error) {
	start := rand.Int64N(a.size)
	for i := int64(0); i < a.size; i++ {
		off := (start + i) % a.size
		if off == 0 {
			continue // reserved for the kubernetes service unless asked for
		}
		ip := a.ipAt(off)
		ok, err := a.reserve(ctx, ipKey(ip), owner)
		if err != nil {
			return "", err
		}
		if ok {
			return ip, nil
		}
	}
	return "", errors.New("range is full")
}

func (a *serviceAllocator) allocatePort(ctx context.Context, owner string) (int32, error) {
	n := a.cfg.NodePortSize
	start := rand.IntN(n)
	for i := 0; i < n; i++ {
		port := int32(a.cfg.NodePortBase + (start+i)%n)
		ok, err := a.reserve(ctx, portKey(port), owner)
		if err != nil {
			return 0, err
		}
		if ok {
			return port, nil
		}
	}
	return 0, errors.New("range is full")
}

func (a *serviceAllocator) inPortRange(p int32) bool {
	return int(p) >= a.cfg.NodePortBase && int(p) < a.cfg.NodePortBase+a.cfg.NodePortSize
}

func wantsNodePorts(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeNodePort ||
		svc.Spec.Type == corev1.ServiceTypeLoadBalancer && (svc.Spec.AllocateLoadBalancerNodePorts == nil || *svc.Spec.AllocateLoadBalancerNodePorts)
}

func wantsClusterIP(svc *corev1.Service) bool {
	return svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != corev1.ClusterIPNone
}

// prepareServiceUpdate does for a service update what Kubernetes' service
// registry does before validation: it carries over from old the values
// the server allocated and the update leaves unset (a client that PUTs a
// service without spec.clusterIP or a port's nodePort keeps them), and
// drops the fields of the old type that no longer apply and that the
// client did not change (node ports and externalTrafficPolicy when a
// NodePort service becomes ClusterIP, …).
func prepareServiceUpdate(svc, old *corev1.Service) {
	// Carry over allocated values.
	if needsClusterIP(svc) && needsClusterIP(old) {
		if svc.Spec.ClusterIP == "" {
			svc.Spec.ClusterIP = old.Spec.ClusterIP
		}
		if len(svc.Spec.ClusterIPs) == 0 {
			svc.Spec.ClusterIPs = old.Spec.ClusterIPs
		}
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = old.Spec.IPFamilies
		}
		if svc.Spec.IPFamilyPolicy == nil {
			svc.Spec.IPFamilyPolicy = old.Spec.IPFamilyPolicy
		}
	}
	if wantsNodePorts(svc) && wantsNodePorts(old) {
		// A port keeps the node port of the old port with its name, unless
		// another port of the new service already uses that node port.
		used := map[int32]bool{}
		for _, p := range svc.Spec.Ports {
			used[p.NodePort] = true
		}
		byName := map[string]int32{}
		for _, p := range old.Spec.Ports {
			byName[p.Name] = p.NodePort
		}
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			if np := byName[p.Name]; p.NodePort == 0 && np != 0 && !used[np] {
				p.NodePort = np
				used[np] = true
			}
		}
	}
	if needsHealthCheckNodePort(svc) && needsHealthCheckNodePort(old) && svc.Spec.HealthCheckNodePort == 0 {
		svc.Spec.HealthCheckNodePort = old.Spec.HealthCheckNodePort
	}

	// Drop what the new type does not use, where the client left it as it was.
	if needsClusterIP(old) && !needsClusterIP(svc) {
		if slices.Equal(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) && svc.Spec.ClusterIP == old.Spec.ClusterIP {
			svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		}
		if slices.Equal(svc.Spec.IPFamilies, old.Spec.IPFamilies) {
			svc.Spec.IPFamilies = nil
		}
		if ptrEqual(svc.Spec.IPFamilyPolicy, old.Spec.IPFamilyPolicy) {
			svc.Spec.IPFamilyPolicy = nil
		}
	}
	if wantsNodePorts(old) && !wantsNodePorts(svc) && slices.Equal(nodePorts(svc), nodePorts(old)) {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if needsHealthCheckNodePort(old) && !needsHealthCheckNodePort(svc) && svc.Spec.HealthCheckNodePort == old.Spec.HealthCheckNodePort {
		svc.Spec.HealthCheckNodePort = 0
	}
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		if ptrEqual(svc.Spec.AllocateLoadBalancerNodePorts, old.Spec.AllocateLoadBalancerNodePorts) {
			svc.Spec.AllocateLoadBalancerNodePorts = nil
		}
		if ptrEqual(svc.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass) {
			svc.Spec.LoadBalancerClass = nil
		}
	}
	if externallyAccessible(old) && !externallyAccessible(svc) && svc.Spec.ExternalTrafficPolicy == old.Spec.ExternalTrafficPolicy {
		svc.Spec.ExternalTrafficPolicy = ""
	}
	if svc.Spec.Type != corev1.ServiceTypeLoadBalancer {
		svc.Status.LoadBalancer = corev1.LoadBalancerStatus{}
	}
}

func needsClusterIP(svc *corev1.Service) bool { return svc.Spec.Type != corev1.ServiceTypeExternalName }

func needsHealthCheckNodePort(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer && svc.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
}

func externallyAccessible(svc *corev1.Service) bool {
	return svc.Spec.Type == corev1.ServiceTypeLoadBalancer || svc.Spec.Type == corev1.ServiceTypeNodePort ||
		svc.Spec.Type == corev1.ServiceTypeClusterIP && len(svc.Spec.ExternalIPs) > 0
}

func nodePorts(svc *corev1.Service) []int32 {
	out := make([]int32, len(svc.Spec.Ports))
	for i, p := range svc.Spec.Ports {
		out[i] = p.NodePort
	}
	return out
}

func ptrEqual[T comparable](a, b *T) bool {
	return a == nil && b == nil || a != nil && b != nil && *a == *b
}

// allocate fills the ClusterIP and node ports svc needs and that old (nil
// on create) did not already hold. It returns a function that undoes the
// new reservations, for when the write fails.
func (a *serviceAllocator) allocate(ctx context.Context, svc, old *corev1.Service) (func(), error) {
	owner := svc.Namespace + "/" + svc.Name
	var taken []string
	undo := func() {
		for _, k := range taken {
			a.free(context.WithoutCancel(ctx), k)
		}
	}
	var errs field.ErrorList
	if svc.Spec.ClusterIP == "" && len(svc.Spec.ClusterIPs) > 0 {
		svc.Spec.ClusterIP = svc.Spec.ClusterIPs[0]
	}
	if len(svc.Spec.ClusterIPs) > 0 && svc.Spec.ClusterIPs[0] != svc.Spec.ClusterIP {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIPs[0], "must match `clusterIP` when both are specified"))
	}
	if old != nil && old.Spec.ClusterIP != "" && svc.Spec.Type != corev1.ServiceTypeExternalName && svc.Spec.ClusterIP != old.Spec.ClusterIP {
		errs = append(errs, field.Invalid(field.NewPath("spec", "clusterIPs").Index(0), svc.Spec.ClusterIPs, "may not change once set"))
	}
	if svc.Spec.Type == corev1.ServiceTypeExternalName {
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
	}
	if len(errs) > 0 {
		return func() {}, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	if wantsClusterIP(svc) && (old == nil || old.Spec.ClusterIP == "" || old.Spec.ClusterIP == corev1.ClusterIPNone) {
		if ip := svc.Spec.ClusterIP; ip != "" {
			path := field.NewPath("spec", "clusterIPs").Index(0)
			addr, err := netip.ParseAddr(ip)
			switch {
			case err != nil:
				errs = append(errs, field.Invalid(path, ip, "must be a valid IP address"))
			case !a.prefix.Contains(addr):
				errs = append(errs, field.Invalid(path, ip, fmt.Sprintf("failed to allocate IP %s: provided IP is not in the valid range. The range of valid IPs is %s", ip, a.prefix)))
			default:
				ok, err := a.reserve(ctx, ipKey(addr.String()), owner)
				if err != nil {
					return undo, apierrors.NewInternalError(err)
				}
				if !ok {
					errs = append(errs, field.Invalid(path, ip, fmt.Sprintf("failed to allocate IP %s: provided IP is already allocated", ip)))
				} else {
					taken = append(taken, ipKey(addr.String()))
				}
			}
		} else {
			ip, err := a.allocateIP(ctx, owner)
			if err != nil {
				undo()
				return func() {}, apierrors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %w", err))
			}
			taken = append(taken, ipKey(ip))
			svc.Spec.ClusterIP = ip
		}
		if len(errs) == 0 {
			svc.Spec.ClusterIPs = []string{svc.Spec.ClusterIP}
		}
	}
	if svc.Spec.ClusterIP == corev1.ClusterIPNone {
		svc.Spec.ClusterIPs = []string{corev1.ClusterIPNone}
	}
	if wantsClusterIP(svc) || svc.Spec.ClusterIP == corev1.ClusterIPNone {
		if len(svc.Spec.IPFamilies) == 0 {
			svc.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv4Protocol}
		}
		if svc.Spec.IPFamilyPolicy == nil {
			p := corev1.IPFamilyPolicySingleStack
			svc.Spec.IPFamilyPolicy = &p
		}
	}
	held := map[int32]bool{}
	if old != nil {
		for _, p := range old.Spec.Ports {
			if p.NodePort != 0 {
				held[p.NodePort] = true
			}
		}
	}
	if wantsNodePorts(svc) {
		for i := range svc.Spec.Ports {
			p := &svc.Spec.Ports[i]
			path := field.NewPath("spec", "ports").Index(i).Child("nodePort")
			switch {
			case p.NodePort != 0 && held[p.NodePort]:
			case p.NodePort != 0:
				if !a.inPortRange(p.NodePort) {
					errs = append(errs, field.Invalid(path, p.NodePort, fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", a.cfg.NodePortBase, a.cfg.NodePortBase+a.cfg.NodePortSize-1)))
					continue
				}
				ok, err := a.reserve(ctx, portKey(p.NodePort), owner)
				if err != nil {
					undo()
					return func() {}, apierrors.NewInternalError(err)
				}
				if !ok {
					errs = append(errs, field.Invalid(path, p.NodePort, "provided port is already allocated"))
					continue
				}
				taken = append(taken, portKey(p.NodePort))
			default:
				port, err := a.allocatePort(ctx, owner)
				if err != nil {
					undo()
					return func() {}, apierrors.NewInternalError(fmt.Errorf("failed to allocate a nodePort: %w", err))
				}
				taken = append(taken, portKey(port))
				p.NodePort = port
			}
		}
	} else {
		for i := range svc.Spec.Ports {
			svc.Spec.Ports[i].NodePort = 0
		}
	}
	if len(errs) > 0 {
		undo()
		return func() {}, apierrors.NewInvalid(corev1.SchemeGroupVersion.WithKind("Service").GroupKind(), svc.Name, errs)
	}
	return undo, nil
}

// releaseUnused frees what old held and svc no longer does.
func (a *serviceAllocator) releaseUnused(ctx context.Context, svc, old *corev1.Service) {
	keep := map[int32]bool{}
	for _, p := range svc.Spec.Ports {
		keep[p.NodePort] = true
	}
	for _, p := range old.Spec.Ports {
		if p.NodePort != 0 && !keep[p.NodePort] {
			a.free(ctx, portKey(p.NodePort))
		}
	}
	if old.Spec.ClusterIP != "" && old.Spec.ClusterIP != corev1.ClusterIPNone && old.Spec.ClusterIP != svc.Spec.ClusterIP {
		a.free(ctx, ipKey(old.Spec.ClusterIP))
	}
}

// release frees everything a deleted service held.
func (a *serviceAllocator) release(ctx context.Context, svc *corev1.Service) {
	a.releaseUnused(ctx, &corev1.Service{}, svc)
}

// admitCreate runs admission on a new object (ServiceAccount for pods)
// and performs its allocations (services); the returned function
// undoes them if the object is not stored.
func (s *Server) admitCreate(ctx context.Context, req *request, obj runtime.Object, dryRun bool) (func(), error) {
	if pod, ok := obj.(*corev1.Pod); ok && s.cfg.ServiceAccountAdmission {
		return func() {}, s.admitServiceAccount(ctx, pod)
	}
	svc, ok := obj.(*corev1.Service)
	if !ok || dryRun {
		return func() {}, nil
	}
	return s.services.allocate(ctx, svc, nil)
}

// admitUpdate performs allocations for an updated object. Once next is
// stored the caller runs commit (which frees what current held and next
// no longer does); if it is not stored, undo.
func (s *Server) admitUpdate(ctx context.Context, req *request, next, current runtime.Object, dryRun bool) (commit, undo func(), err error) {
	nop := func() {}
	svc, ok := next.(*corev1.Service)
	if !ok || dryRun || req.subresource != "" {
		return nop, nop, nil
	}
	old := current.(*corev1.Service)
	undo, err = s.services.allocate(ctx, svc, old)
	if err != nil {
		return nop, nop, err
	}
	return func() { s.services.releaseUnused(context.WithoutCancel(ctx), svc, old) }, undo, nil
}
