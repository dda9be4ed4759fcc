package nodeipam

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/netip"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "nodeipam"

// Event and condition reasons, as Kubernetes' node IPAM controller uses them.
const (
	// ReasonCIDRNotAvailable is the event reason when no range is left.
	ReasonCIDRNotAvailable = "CIDRNotAvailable"
	// ReasonNoCIDRAvailable is the NetworkUnavailable condition's reason
	// while the node waits for a range.
	ReasonNoCIDRAvailable = "NoCIDRAvailable"
	// ReasonCIDRAssigned clears that condition once a range is assigned.
	ReasonCIDRAssigned = "CIDRAssigned"
)

// Config tunes the node IPAM controller.
type Config struct {
	// ClusterCIDR is the pod network that node ranges are carved from.
	ClusterCIDR string
	// MaskSize is the prefix length of each node's spec.podCIDR.
	MaskSize int
	// Workers is the number of nodes processed concurrently.
	Workers int
	// FullRecheck is how often a node left without a range because the
	// cluster CIDR is full is looked at again (a deleted node frees a range
	// and wakes waiting nodes at once; this is the safety net).
	FullRecheck time.Duration
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings (the server's defaults for
// the cluster CIDR and mask size).
func DefaultConfig() Config {
	return Config{ClusterCIDR: "10.42.0.0/16", MaskSize: 24, Workers: 2, FullRecheck: 30 * time.Second}
}

// Controller assigns pod CIDRs to nodes.
type Controller struct {
	cfg     Config
	kube    kubernetes.Interface
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	lister     corelisters.NodeLister
	synced     cache.InformerSynced
	ctrl       *controller.Controller
	events     record.EventBroadcaster
	// ownEvents: events was made by New, so Run starts and shuts it down.
	ownEvents bool
	record    record.EventRecorder

	mu     sync.Mutex
	set    *cidrSet
	byNode map[string]netip.Prefix // ranges held, by node name
	// explained holds the nodes told that the cluster CIDR is full.
	explained map[string]bool
	ran       bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller. It checks cfg and does no I/O. Its node
// informer comes from factory, shared with other controllers (the caller
// starts and shuts it down), or from a factory of its own when factory is
// nil.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.FullRecheck <= 0 {
		cfg.FullRecheck = def.FullRecheck
	}
	set, err := newCIDRSet(cfg.ClusterCIDR, cfg.MaskSize)
	if err != nil {
		return nil, err
	}
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{cfg: cfg, kube: kube, log: log, set: set, byNode: map[string]netip.Prefix{}, explained: map[string]bool{}}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, 0)
	}
	inf := c.factory.Core().V1().Nodes()
	c.lister = inf.Lister()
	c.synced = inf.Informer().HasSynced
	enqueue := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if n, ok := obj.(*corev1.Node); ok {
			c.ctrl.Enqueue(n.Name)
		}
	}
	if _, err := inf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return nil, fmt.Errorf("nodeipam: event handler: %w", err)
	}
	c.events, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.events = record.NewBroadcaster()
	}
	c.record = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-ipam-controller"})
	return c, nil
}

// Controller returns the underlying work-queue controller (for metrics).
func (c *Controller) Controller() *controller.Controller { return c.ctrl }

// Run starts the node informer, rebuilds the allocation from the nodes'
// existing ranges, and reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ran {
		c.mu.Unlock()
		return controller.ErrAlreadyRun
	}
	c.ran = true
	c.mu.Unlock()

	if c.ownEvents {
		c.events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
		defer c.events.Shutdown()
	}
	c.factory.Start(ctx.Done())
	if c.ownFactory {
		defer c.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil // ctx ended
	}
	nodes, err := c.lister.List(labels.Everything())
	if err != nil {
		return fmt.Errorf("nodeipam: list nodes: %w", err)
	}
	c.mu.Lock()
	for _, n := range nodes {
		c.occupyLocked(n)
	}
	c.log.Debug("allocation rebuilt", "nodes", len(nodes), "free", c.set.free())
	c.mu.Unlock()
	return c.ctrl.Run(ctx)
}

// nodeCIDR returns the node's range in the cluster CIDR's family, if any.
func (c *Controller) nodeCIDR(n *corev1.Node) (netip.Prefix, bool) {
	cidrs := n.Spec.PodCIDRs
	if len(cidrs) == 0 && n.Spec.PodCIDR != "" {
		cidrs = []string{n.Spec.PodCIDR}
	}
	for _, s := range cidrs {
		p, err := netip.ParsePrefix(s)
		if err == nil && p.Addr().Is4() == c.set.base.Addr().Is4() {
			return p.Masked(), true
		}
	}
	return netip.Prefix{}, false
}

// occupyLocked records the range node n already has. c.mu must be held.
func (c *Controller) occupyLocked(n *corev1.Node) {
	p, ok := c.nodeCIDR(n)
	if !ok {
		return
	}
	if old, held := c.byNode[n.Name]; held && old != p {
		c.set.release(old)
	}
	if !c.set.occupy(p) {
		c.log.Warn("node pod CIDR is outside the cluster CIDR", "node", n.Name, "podCIDR", p.String(), "clusterCIDR", c.set.base.String())
		delete(c.byNode, n.Name)
		return
	}
	c.byNode[n.Name] = p
}

// Reconcile gives the node named key a range if it has none, and releases
// the range of a node that is gone.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	node, err := c.lister.Get(key)
	if apierrors.IsNotFound(err) {
		c.releaseNode(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if _, ok := c.nodeCIDR(node); ok {
		c.mu.Lock()
		c.occupyLocked(node)
		delete(c.explained, key)
		c.mu.Unlock()
		return controller.Result{}, c.clearUnavailable(ctx, node)
	}

	c.mu.Lock()
	p, held := c.byNode[key]
	if !held {
		p, err = c.set.allocate()
		if err == nil {
			c.byNode[key] = p
		}
	}
	c.mu.Unlock()
	if errors.Is(err, ErrFull) {
		if err := c.markUnavailable(ctx, node); err != nil {
			return controller.Result{}, err
		}
		return controller.Result{RequeueAfter: c.cfg.FullRecheck}, nil
	}

	// The cache may lag behind: decide on the stored node.
	live, err := c.kube.CoreV1().Nodes().Get(ctx, key, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		c.releaseNode(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, fmt.Errorf("nodeipam: get node %s: %w", key, err)
	}
	if _, ok := c.nodeCIDR(live); ok {
		c.mu.Lock()
		c.occupyLocked(live)
		c.mu.Unlock()
		return controller.Result{}, nil
	}
	next := live.DeepCopy()
	next.Spec.PodCIDR = p.String()
	next.Spec.PodCIDRs = []string{p.String()}
	updated, err := c.kube.CoreV1().Nodes().Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		// The reservation stays with the node name; a retry uses it again.
		return controller.Result{}, fmt.Errorf("nodeipam: assign %s to node %s: %w", p, key, err)
	}
	c.log.Info("assigned pod CIDR", "node", key, "podCIDR", p.String())
	return controller.Result{}, c.clearUnavailable(ctx, updated)
}

// releaseNode frees the range of a deleted node and wakes nodes waiting
// for one.
func (c *Controller) releaseNode(name string) {
	c.mu.Lock()
	delete(c.explained, name)
	p, held := c.byNode[name]
	if held {
		delete(c.byNode, name)
		c.set.release(p)
	}
	c.mu.Unlock()
	if !held {
		return
	}
	c.log.Info("released pod CIDR", "node", name, "podCIDR", p.String())
	nodes, err := c.lister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, n := range nodes {
		if _, ok := c.nodeCIDR(n); !ok {
			c.ctrl.Enqueue(n.Name)
		}
	}
}

// markUnavailable explains on the node why it has no range: a
// NetworkUnavailable=True condition and a CIDRNotAvailable event, once.
func (c *Controller) markUnavailable(ctx context.Context, node *corev1.Node) error {
	if cond := findCondition(node, corev1.NodeNetworkUnavailable); cond != nil && cond.Status == corev1.ConditionTrue && cond.Reason == ReasonNoCIDRAvailable {
		return nil
	}
	msg := fmt.Sprintf("no pod CIDR available: all %d /%d ranges of cluster CIDR %s are assigned", c.set.count, c.cfg.MaskSize, c.set.base)
	next := node.DeepCopy()
	setCondition(next, corev1.NodeCondition{
		Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionTrue,
		Reason: ReasonNoCIDRAvailable, Message: msg,
	})
	if _, err := c.kube.CoreV1().Nodes().UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("nodeipam: node %s condition: %w", node.Name, err)
	}
	// An agent rewriting the node's conditions drops this one and it is
	// set again; the event and the log say it once per node and episode.
	c.mu.Lock()
	told := c.explained[node.Name]
	c.explained[node.Name] = true
	c.mu.Unlock()
	if !told {
		c.record.Event(node, corev1.EventTypeWarning, ReasonCIDRNotAvailable, "Node "+node.Name+" status is now: CIDRNotAvailable ("+msg+")")
		c.log.Warn("cluster CIDR full", "node", node.Name, "clusterCIDR", c.set.base.String())
	}
	return nil
}

// clearUnavailable turns the condition markUnavailable set to False once
// the node has a range. Conditions set by others are left alone.
func (c *Controller) clearUnavailable(ctx context.Context, node *corev1.Node) error {
	cond := findCondition(node, corev1.NodeNetworkUnavailable)
	if cond == nil || cond.Status != corev1.ConditionTrue || cond.Reason != ReasonNoCIDRAvailable {
		return nil
	}
	next := node.DeepCopy()
	setCondition(next, corev1.NodeCondition{
		Type: corev1.NodeNetworkUnavailable, Status: corev1.ConditionFalse,
		Reason: ReasonCIDRAssigned, Message: "pod CIDR " + next.Spec.PodCIDR + " assigned",
	})
	if _, err := c.kube.CoreV1().Nodes().UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("nodeipam: node %s condition: %w", node.Name, err)
	}
	return nil
}

func findCondition(n *corev1.Node, t corev1.NodeConditionType) *corev1.NodeCondition {
	for i := range n.Status.Conditions {
		if n.Status.Conditions[i].Type == t {
			return &n.Status.Conditions[i]
		}
	}
	return nil
}

// setCondition sets cond on n, keeping the transition time when the status
// does not change.
func setCondition(n *corev1.Node, cond corev1.NodeCondition) {
	now := metav1.Now()
	cond.LastHeartbeatTime, cond.LastTransitionTime = now, now
	if old := findCondition(n, cond.Type); old != nil {
		if old.Status == cond.Status {
			cond.LastTransitionTime = old.LastTransitionTime
		}
		*old = cond
		return
	}
	n.Status.Conditions = append(n.Status.Conditions, cond)
}
