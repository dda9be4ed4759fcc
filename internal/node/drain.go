package node

import (
	"context"
	"log/slog"
	"net/netip"
	"slices"
	"strconv"
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
	requested map[netip.Addr]*request // this node's pending drains
	epoch     string                  // random, per drainer: tokens are not reused across restarts
	seq       uint64
	running   bool
}

// request is one IP this node waits on. Its token makes the request
// distinct from an earlier one for the same IP, so that a peer's answer to
// that earlier one (still in an informer cache) is not taken for this one.
type request struct {
	count int // drains waiting on it
	entry string
}

func newDrainer(node string, client kubernetes.Interface, serves func(netip.Addr) bool, log *slog.Logger) *drainer {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &drainer{
		node: node, client: client, serves: serves, log: log,
		poke:      make(chan struct{}, 1),
		requested: map[netip.Addr]*request{},
		epoch:     strconv.FormatInt(time.Now().UnixNano(), 36),
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
	asked := map[string]netip.Addr{} // "ip#token" → ip
	for _, l := range all {
		if l.Name == drainLeaseName(d.node) {
			own = l
			continue
		}
		for _, e := range parseEntries(l.Annotations[drainRequested]) {
			asked[e.raw] = e.ip
		}
	}
	var confirmed []string
	for raw, ip := range asked {
		if !d.serves(ip) {
			confirmed = append(confirmed, raw)
		}
	}
	d.mu.Lock()
	requested := make([]string, 0, len(d.requested))
	for _, r := range d.requested {
		requested = append(requested, r.entry)
	}
	d.mu.Unlock()
	busy = len(asked) > 0 || len(requested) > 0
	want := map[string]string{drainRequested: formatEntries(requested), drainConfirmed: formatEntries(confirmed)}
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
	var entries []string
	if running {
		for _, ip := range ips {
			r := d.requested[ip]
			if r == nil {
				d.seq++
				r = &request{entry: ip.String() + "#" + d.epoch + "." + strconv.FormatUint(d.seq, 36)}
				d.requested[ip] = r
			}
			r.count++
			entries = append(entries, r.entry)
		}
	}
	d.mu.Unlock()
	if running {
		d.wake()
		defer func() {
			d.mu.Lock()
			for _, ip := range ips {
				if r := d.requested[ip]; r != nil {
					if r.count--; r.count <= 0 {
						delete(d.requested, ip)
					}
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
			if d.othersConfirmed(entries, ready) {
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
// all of entries (this node's requests, with their tokens).
func (d *drainer) othersConfirmed(entries []string, ready map[string]bool) bool {
	all, err := d.leases.Leases(drainNamespace).List(labels.Everything())
	if err != nil {
		return false
	}
	for _, l := range all {
		node := strings.TrimPrefix(l.Name, drainLeasePrefix)
		if node == d.node || !ready[node] {
			continue
		}
		got := strings.Split(l.Annotations[drainConfirmed], ",")
		for _, e := range entries {
			if !slices.Contains(got, e) {
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

// formatEntries is the annotation form of a set of "ip#token" entries:
// sorted, comma-separated.
func formatEntries(entries []string) string {
	slices.Sort(entries)
	return strings.Join(slices.Compact(entries), ",")
}

// entry is one parsed "ip#token" request.
type entry struct {
	ip  netip.Addr
	raw string
}

// parseEntries reads an annotation written by formatEntries; what does
// not parse is skipped.
func parseEntries(s string) []entry {
	var out []entry
	for _, p := range strings.Split(s, ",") {
		addr, token, ok := strings.Cut(strings.TrimSpace(p), "#")
		ip, err := netip.ParseAddr(addr)
		if ok && token != "" && err == nil {
			out = append(out, entry{ip: ip, raw: ip.String() + "#" + token})
		}
	}
	return out
}
