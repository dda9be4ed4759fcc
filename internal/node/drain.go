package node

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strings"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	"k8s.io/client-go/tools/cache"
)

// The drain handshake (design 0009). Before a deleted pod's containers
// get SIGTERM, its node asks every other node whether that node still
// sends new connections to the pod's IPs as a ready endpoint (through its
// service proxy, cluster DNS or ingress), and waits, bounded by the
// agent, until every Ready node has answered that it does not. Requests
// and answers travel through one Lease per node in kube-system, which
// carries two annotations:
//
//   - drainRequested: the IPs this node is waiting on;
//   - drainConfirmed: the IPs other nodes asked about that this node no
//     longer sends new connections to.
//
// A node writes its Lease only when one of the two sets changes, so an
// idle cluster writes nothing.
const (
	drainNamespace    = metav1.NamespaceSystem
	drainLeasePrefix  = "gantry-drain-"
	drainLabel        = "gantry.dev/lease"
	drainLabelValue   = "endpoint-drain"
	drainRequested    = "drain.gantry.dev/requested"
	drainConfirmed    = "drain.gantry.dev/confirmed"
	drainPollInterval = 20 * time.Millisecond
)

// drainLeaseName is the name of node's handshake Lease.
func drainLeaseName(node string) string { return drainLeasePrefix + node }

// drainer answers other nodes' drain requests and makes this node's own.
type drainer struct {
	node   string
	client kubernetes.Interface
	log    *slog.Logger
	// serves reports whether this node still sends new connections to ip
	// as a ready endpoint.
	serves func(ip netip.Addr) bool

	leases coordinationlisters.LeaseLister
	synced cache.InformerSynced
	poke   chan struct{}

	mu        sync.Mutex
	requested map[netip.Addr]int // this node's pending drains, counted
	running   bool
}

func newDrainer(node string, client kubernetes.Interface, serves func(netip.Addr) bool, log *slog.Logger) *drainer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &drainer{
		node: node, client: client, serves: serves, log: log,
		poke:      make(chan struct{}, 1),
		requested: map[netip.Addr]int{},
	}
}

func (d *drainer) wake() {
	select {
	case d.poke <- struct{}{}:
	default:
	}
}

// run keeps this node's Lease in step until ctx ends.
func (d *drainer) run(ctx context.Context) {
	f := informers.NewSharedInformerFactoryWithOptions(d.client, 0,
		informers.WithNamespace(drainNamespace),
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.LabelSelector = drainLabel + "=" + drainLabelValue
		}))
	inf := f.Coordination().V1().Leases()
	_, _ = inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { d.wake() },
		UpdateFunc: func(any, any) { d.wake() },
		DeleteFunc: func(any) { d.wake() },
	})
	d.mu.Lock()
	d.leases, d.synced = inf.Lister(), inf.Informer().HasSynced
	d.running = true
	d.mu.Unlock()
	f.Start(ctx.Done())
	defer f.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), d.synced) {
		return
	}
	// While anyone waits, the answers are rechecked every poll interval:
	// the proxy, DNS and ingress change without telling the drainer.
	tick := time.NewTicker(drainPollInterval)
	defer tick.Stop()
	for {
		busy, err := d.reconcile(ctx)
		if err != nil && ctx.Err() == nil {
			d.log.Warn("endpoint drain lease not written; retrying", "err", err)
			busy = true
		}
		if busy {
			select {
			case <-ctx.Done():
				return
			case <-d.poke:
			case <-tick.C:
			}
			continue
		}
		select {
		case <-ctx.Done():
			return
		case <-d.poke:
		}
	}
}

// reconcile writes this node's requests and answers to its Lease if they
// changed. It reports whether any request is open anywhere.
func (d *drainer) reconcile(ctx context.Context) (busy bool, err error) {
	all, err := d.leases.Leases(drainNamespace).List(labels.Everything())
	if err != nil {
		return false, err
	}
	var own *coordinationv1.Lease
	asked := map[netip.Addr]bool{}
	for _, l := range all {
		if l.Name == drainLeaseName(d.node) {
			own = l
			continue
		}
		for _, ip := range parseIPs(l.Annotations[drainRequested]) {
			asked[ip] = true
		}
	}
	var confirmed []netip.Addr
	for ip := range asked {
		if !d.serves(ip) {
			confirmed = append(confirmed, ip)
		}
	}
	d.mu.Lock()
	requested := make([]netip.Addr, 0, len(d.requested))
	for ip := range d.requested {
		requested = append(requested, ip)
	}
	d.mu.Unlock()
	busy = len(asked) > 0 || len(requested) > 0
	want := map[string]string{drainRequested: formatIPs(requested), drainConfirmed: formatIPs(confirmed)}
	if own == nil {
		return busy, d.createLease(ctx, want)
	}
	if own.Annotations[drainRequested] == want[drainRequested] && own.Annotations[drainConfirmed] == want[drainConfirmed] {
		return busy, nil
	}
	l := own.DeepCopy()
	if l.Annotations == nil {
		l.Annotations = map[string]string{}
	}
	for k, v := range want {
		l.Annotations[k] = v
	}
	now := metav1.NewMicroTime(time.Now())
	l.Spec.RenewTime = &now
	_, err = d.client.CoordinationV1().Leases(drainNamespace).Update(ctx, l, metav1.UpdateOptions{})
	if apierrors.IsConflict(err) {
		return true, nil // the informer brings the newer copy
	}
	return busy, err
}

// createLease creates this node's Lease, owned by its Node so that it goes
// away with it.
func (d *drainer) createLease(ctx context.Context, ann map[string]string) error {
	n, err := d.client.CoreV1().Nodes().Get(ctx, d.node, metav1.GetOptions{})
	if err != nil {
		return err
	}
	holder, now := d.node, metav1.NewMicroTime(time.Now())
	l := &coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{
			Name: drainLeaseName(d.node), Namespace: drainNamespace,
			Labels:          map[string]string{drainLabel: drainLabelValue},
			Annotations:     ann,
			OwnerReferences: []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: n.Name, UID: n.UID}},
		},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: &holder, AcquireTime: &now, RenewTime: &now},
	}
	_, err = d.client.CoordinationV1().Leases(drainNamespace).Create(ctx, l, metav1.CreateOptions{})
	if apierrors.IsAlreadyExists(err) {
		return nil // the informer brings it
	}
	return err
}

// drain returns once neither this node nor any other Ready node sends new
// connections to ips as a ready endpoint, or with ctx's error. Nodes
// without a drain Lease (no proxy runs there) are not asked.
func (d *drainer) drain(ctx context.Context, ips []netip.Addr) error {
	d.mu.Lock()
	running := d.running
	if running {
		for _, ip := range ips {
			d.requested[ip]++
		}
	}
	d.mu.Unlock()
	if running {
		d.wake()
		defer func() {
			d.mu.Lock()
			for _, ip := range ips {
				if d.requested[ip]--; d.requested[ip] <= 0 {
					delete(d.requested, ip)
				}
			}
			d.mu.Unlock()
			d.wake()
		}()
	}
	var ready map[string]bool // Ready nodes, listed once the local part is done
	tick := time.NewTicker(drainPollInterval)
	defer tick.Stop()
	for {
		local := !slices.ContainsFunc(ips, d.serves)
		if local && !running {
			return nil
		}
		if local && d.synced() {
			if ready == nil {
				var err error
				if ready, err = d.readyNodes(ctx); err != nil {
					return err
				}
			}
			if d.othersConfirmed(ips, ready) {
				return nil
			}
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// othersConfirmed reports whether every other Ready node's Lease confirms
// all of ips.
func (d *drainer) othersConfirmed(ips []netip.Addr, ready map[string]bool) bool {
	all, err := d.leases.Leases(drainNamespace).List(labels.Everything())
	if err != nil {
		return false
	}
	for _, l := range all {
		node := strings.TrimPrefix(l.Name, drainLeasePrefix)
		if node == d.node || !ready[node] {
			continue
		}
		got := parseIPs(l.Annotations[drainConfirmed])
		for _, ip := range ips {
			if !slices.Contains(got, ip) {
				return false
			}
		}
	}
	return true
}

// readyNodes returns the names of the nodes whose Ready condition is True.
func (d *drainer) readyNodes(ctx context.Context) (map[string]bool, error) {
	list, err := d.client.CoreV1().Nodes().List(ctx, metav1.ListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]bool{}
	for i := range list.Items {
		for _, c := range list.Items[i].Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				out[list.Items[i].Name] = true
			}
		}
	}
	return out, nil
}

// formatIPs is the annotation form of a set of IPs: sorted, comma-separated.
func formatIPs(ips []netip.Addr) string {
	slices.SortFunc(ips, func(a, b netip.Addr) int { return a.Compare(b) })
	ips = slices.Compact(ips)
	parts := make([]string, len(ips))
	for i, ip := range ips {
		parts[i] = ip.String()
	}
	return strings.Join(parts, ",")
}

// parseIPs reads an annotation written by formatIPs; what does not parse
// is skipped.
func parseIPs(s string) []netip.Addr {
	var out []netip.Addr
	for _, p := range strings.Split(s, ",") {
		if ip, err := netip.ParseAddr(strings.TrimSpace(p)); err == nil {
			out = append(out, ip)
		}
	}
	return out
}
