package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	discoverylisters "k8s.io/client-go/listers/discovery/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/logging"
)

// ErrConfig means the Config given to New cannot be used; Run returns it.
var ErrConfig = errors.New("proxy: invalid config")

// Config configures the proxy.
type Config struct {
	// NodeName is this node: endpoints whose nodeName it is are local
	// (externalTrafficPolicy and internalTrafficPolicy Local).
	NodeName string
	// NodeAddresses are the addresses LoadBalancer services are served on
	// at their port. Empty means the InternalIP and ExternalIP addresses
	// of the Node object named NodeName, followed as they change.
	NodeAddresses []netip.Addr
	// ClusterCIDR is the pod network ("10.42.0.0/16"). Traffic to a
	// cluster IP from outside it (the node itself, other hosts) is
	// masqueraded so that replies come back through this node. Empty
	// masquerades only hairpin and external traffic.
	ClusterCIDR string
	// TableName is the nftables table ("ip" family) the proxy owns.
	TableName string
	// MasqueradeMark is the packet mark bit that asks for masquerading
	// (kube-proxy's 0x4000).
	MasqueradeMark uint32
	// MinSyncInterval is the least time between two syncs: changes
	// arriving faster are coalesced into one sync.
	MinSyncInterval time.Duration
	// SyncPeriod is how often the table is rewritten even without changes,
	// repairing anything that modified it.
	SyncPeriod time.Duration
	// NetNS is a file descriptor of the network namespace to program; 0
	// is the process's own. Tests use throwaway namespaces.
	NetNS int
	// Registerer receives the proxy's metrics; nil registers nowhere.
	Registerer prometheus.Registerer
	// Informers, if set, is an informer factory shared with the other
	// components of this node (its watches are unfiltered): the proxy
	// takes its Service and EndpointSlice informers from it and starts
	// them, and its owner shuts it down. Nil means a factory of its own.
	Informers informers.SharedInformerFactory
}

// DefaultConfig returns kube-proxy's defaults: table "gantry", mark 0x4000,
// at most one sync per 100 ms, a full resync every 30 s.
func DefaultConfig() Config {
	return Config{
		TableName:       "gantry",
		MasqueradeMark:  0x4000,
		MinSyncInterval: 100 * time.Millisecond,
		SyncPeriod:      30 * time.Second,
	}
}

// maxRetryInterval bounds the back-off after failed syncs.
const maxRetryInterval = 30 * time.Second

// Proxy keeps this node's netfilter rules in step with the cluster's
// Services and EndpointSlices. See the package documentation.
type Proxy struct {
	cfg     Config
	client  kubernetes.Interface
	log     *slog.Logger
	metrics *metrics
	backend backend
	forward dockerForward // set by Run

	started atomic.Bool
	trigger chan struct{} // capacity 1: a sync is wanted

	mu         sync.Mutex
	applied    *Ruleset      // nil before the first sync and after Run ends
	changed    chan struct{} // closed and replaced when applied changes
	synced     chan struct{} // closed after the first successful sync
	syncedOnce sync.Once
}

// New returns a proxy for cfg reading from client. It does no I/O: Run
// starts the informers and programs netfilter. Zero Config fields take
// DefaultConfig's values. The metrics are registered on cfg.Registerer
// here; a registration error is logged.
func New(cfg Config, client kubernetes.Interface, log *slog.Logger) *Proxy {
	def := DefaultConfig()
	if cfg.TableName == "" {
		cfg.TableName = def.TableName
	}
	if cfg.MasqueradeMark == 0 {
		cfg.MasqueradeMark = def.MasqueradeMark
	}
	if cfg.MinSyncInterval <= 0 {
		cfg.MinSyncInterval = def.MinSyncInterval
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = def.SyncPeriod
	}
	p := &Proxy{
		cfg:     cfg,
		client:  client,
		log:     logging.Component(log, "proxy"),
		metrics: newMetrics(),
		backend: newNFTBackend(cfg.NetNS, cfg.TableName, cfg.MasqueradeMark),
		trigger: make(chan struct{}, 1),
		changed: make(chan struct{}),
		synced:  make(chan struct{}),
	}
	if cfg.Registerer != nil {
		for _, c := range p.metrics.collectors() {
			if err := cfg.Registerer.Register(c); err != nil {
				p.log.Warn("metric not registered", "err", err)
			}
		}
	}
	return p
}

// Synced is closed once the first ruleset has been applied.
func (p *Proxy) Synced() <-chan struct{} { return p.synced }

// Applied returns the ruleset in force, nil before the first sync and
// after Run has returned. It is shared: do not modify it.
func (p *Proxy) Applied() *Ruleset {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.applied
}

// WaitApplied blocks until a ruleset satisfying ok is in force (checking
// the current one first) and returns nil, or returns ctx's error. ok is
// called with the proxy's lock released and must not modify the ruleset.
// Example, before stopping a terminating pod:
//
//	err := p.WaitApplied(ctx, func(r *proxy.Ruleset) bool { return !r.HasEndpoint(podIP) })
func (p *Proxy) WaitApplied(ctx context.Context, ok func(*Ruleset) bool) error {
	for {
		p.mu.Lock()
		r, ch := p.applied, p.changed
		p.mu.Unlock()
		if r != nil && ok(r) {
			return nil
		}
		select {
		case <-ch:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (p *Proxy) publish(r *Ruleset) {
	p.mu.Lock()
	p.applied = r
	close(p.changed)
	p.changed = make(chan struct{})
	p.mu.Unlock()
	if r != nil {
		p.syncedOnce.Do(func() { close(p.synced) })
	}
}

// poke asks for a sync; it never blocks.
func (p *Proxy) poke() {
	select {
	case p.trigger <- struct{}{}:
	default:
	}
}

// sources are the informer caches a sync reads.
type sources struct {
	services corelisters.ServiceLister
	slices   discoverylisters.EndpointSliceLister
	nodes    corelisters.NodeLister // nil when Config.NodeAddresses is set
	synced   []cache.InformerSynced
}

// Run deletes any table left by an earlier run, starts the informers,
// applies the rules once their caches have synced and after every change
// (coalesced to one sync per MinSyncInterval), and blocks until ctx ends.
// Then it removes the table and returns nil. It returns an error at once
// if the Config is invalid or netfilter cannot be programmed at all (e.g.
// without CAP_NET_ADMIN). A Proxy runs once.
func (p *Proxy) Run(ctx context.Context) error {
	if !p.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	var cidr netip.Prefix
	if p.cfg.ClusterCIDR != "" {
		var err error
		if cidr, err = netip.ParsePrefix(p.cfg.ClusterCIDR); err != nil || !cidr.Addr().Is4() {
			return fmt.Errorf("%w: cluster CIDR %q", ErrConfig, p.cfg.ClusterCIDR)
		}
	}
	if err := p.backend.Cleanup(); err != nil {
		return err
	}
	p.forward = newDockerForward(p.cfg.NetNS, cidr, p.cfg.TableName)
	p.ensureForward()
	defer func() {
		if err := p.backend.Cleanup(); err != nil {
			p.log.Error("removing rules", "err", err)
		}
		if err := p.forward.remove(); err != nil {
			p.log.Error("removing the DOCKER-USER rule", "err", err)
		}
		p.publish(nil)
	}()

	src, factories := p.informers()
	for _, f := range factories {
		f.Start(ctx.Done())
		if f != p.cfg.Informers {
			defer f.Shutdown()
		}
	}
	if !cache.WaitForCacheSync(ctx.Done(), src.synced...) {
		return nil // ctx ended first
	}
	p.log.Info("caches synced; programming rules", "table", p.cfg.TableName, "node", p.cfg.NodeName)

	var (
		last  time.Time
		retry time.Duration
	)
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-p.trigger:
			timer.Reset(time.Until(last.Add(p.cfg.MinSyncInterval)))
			continue
		case <-timer.C:
		}
		last = time.Now()
		if err := p.sync(src, cidr); err != nil {
			retry = min(max(2*retry, time.Second), maxRetryInterval)
			p.log.Error("sync failed; retrying", "err", err, "in", retry)
			timer.Reset(retry)
			continue
		}
		retry = 0
		timer.Reset(p.cfg.SyncPeriod)
	}
}

// informers wires the caches and their event handlers.
func (p *Proxy) informers() (*sources, []informers.SharedInformerFactory) {
	f := p.cfg.Informers
	if f == nil {
		f = informers.NewSharedInformerFactory(p.client, 0)
	}
	svcInf := f.Core().V1().Services()
	sliceInf := f.Discovery().V1().EndpointSlices()
	src := &sources{services: svcInf.Lister(), slices: sliceInf.Lister()}
	handler := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { p.poke() },
		UpdateFunc: func(any, any) { p.poke() },
		DeleteFunc: func(any) { p.poke() },
	}
	factories := []informers.SharedInformerFactory{f}
	infs := []cache.SharedIndexInformer{svcInf.Informer(), sliceInf.Informer()}
	if len(p.cfg.NodeAddresses) == 0 && p.cfg.NodeName != "" {
		nf := informers.NewSharedInformerFactoryWithOptions(p.client, 0,
			informers.WithTweakListOptions(func(o *metav1.ListOptions) {
				o.FieldSelector = fields.OneTermEqualSelector("metadata.name", p.cfg.NodeName).String()
			}))
		nodeInf := nf.Core().V1().Nodes()
		src.nodes = nodeInf.Lister()
		infs = append(infs, nodeInf.Informer())
		factories = append(factories, nf)
	}
	for _, inf := range infs {
		_ = inf.SetTransform(api.DropManagedFields) // fails only once started (shared)
		_, _ = inf.AddEventHandler(handler)         // fails only once stopped
		src.synced = append(src.synced, inf.HasSynced)
	}
	return src, factories
}

// sync computes the rules from the caches and applies the changes, unless
// they equal those in force; once per SyncPeriod it rewrites every chain.
func (p *Proxy) sync(src *sources, cidr netip.Prefix) error {
	start := time.Now()
	services, err := src.services.List(labels.Everything())
	if err != nil {
		return err
	}
	slices, err := src.slices.List(labels.Everything())
	if err != nil {
		return err
	}
	node := Node{Name: p.cfg.NodeName, Addresses: p.cfg.NodeAddresses, ClusterCIDR: cidr}
	if src.nodes != nil {
		if n, err := src.nodes.Get(p.cfg.NodeName); err == nil {
			node.Addresses = nodeAddresses(n)
		}
	}
	r := Compute(services, slices, node)
	refresh := time.Since(p.metrics.lastApply) >= p.cfg.SyncPeriod
	if prev := p.Applied(); prev != nil && !refresh && reflect.DeepEqual(prev, r) {
		return nil
	}
	if refresh {
		p.ensureForward() // Docker may have rebuilt its chains
	}
	n, err := p.backend.Apply(r, refresh)
	p.metrics.observe(start, len(r.Services), n, err)
	if err != nil {
		return err
	}
	if cc, ok := p.backend.(conntrackCleaner); ok {
		if filters := staleUDP(p.Applied(), r); len(filters) > 0 {
			deleted, err := cc.ClearConntrack(filters)
			if err != nil {
				p.log.Warn("stale UDP flows may keep going to removed endpoints until they time out", "err", err)
			}
			p.log.Debug("removed stale UDP conntrack entries", "entries", deleted)
		}
	}
	p.log.Debug("rules applied", "servicePorts", len(r.Services), "rules", n, "took", time.Since(start))
	p.publish(r)
	return nil
}

// ensureForward keeps Docker's FORWARD policy from dropping service
// traffic from other machines; failing that is logged, not fatal: pods
// and the node itself still reach every service.
func (p *Proxy) ensureForward() {
	if err := p.forward.ensure(); err != nil {
		p.log.Warn("NodePort and LoadBalancer traffic from other machines may be dropped by Docker's FORWARD policy", "err", err)
	}
}

// nodeAddresses returns a Node's InternalIP and ExternalIP addresses.
func nodeAddresses(n *corev1.Node) []netip.Addr {
	var out []netip.Addr
	for _, a := range n.Status.Addresses {
		if a.Type != corev1.NodeInternalIP && a.Type != corev1.NodeExternalIP {
			continue
		}
		if ip, err := netip.ParseAddr(a.Address); err == nil {
			out = append(out, ip)
		}
	}
	return out
}
