package nodelifecycle

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	coordinationlisters "k8s.io/client-go/listers/coordination/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "nodelifecycle"

// Condition reasons and messages, as Kubernetes' node lifecycle controller
// writes them.
const (
	ReasonNodeStatusUnknown      = "NodeStatusUnknown"
	MessageNodeStatusUnknown     = "Kubelet stopped posting node status."
	ReasonNodeStatusNeverUpdated = "NodeStatusNeverUpdated"
	MessageNeverUpdated          = "Kubelet never posted node status."
	// ReasonDeletionByTaintManager is the DisruptionTarget reason on
	// evicted pods.
	ReasonDeletionByTaintManager = "DeletionByTaintManager"
)

// Config tunes the node lifecycle controller. The defaults make the pods of
// a dead node eligible to run elsewhere within 25 s of its last heartbeat:
// NodeMonitorGracePeriod (15 s) until the node is Unknown and tainted
// unreachable, then DefaultTolerationSeconds (10 s) until its pods are
// deleted. Kubernetes' defaults (40 s + 300 s) take about 6 minutes.
type Config struct {
	// NodeMonitorGracePeriod is how long a node may go without renewing its
	// Lease (kube-node-lease/<node>) or its Ready heartbeat before it is
	// marked Ready=Unknown and tainted node.kubernetes.io/unreachable. It
	// must be several times the agent's renew interval (a quarter of its
	// lease duration, 5 s by default).
	NodeMonitorGracePeriod time.Duration
	// DefaultTolerationSeconds is how long pods without a toleration of
	// their own for the not-ready or unreachable NoExecute taint stay on
	// such a node before they are deleted (Kubernetes' DefaultToleration
	// Seconds admission adds 300 s).
	DefaultTolerationSeconds int64
	// Workers is the number of nodes processed concurrently.
	Workers int
	// ResyncPeriod is how often every node is looked at again even without
	// events (deadlines are also scheduled exactly).
	ResyncPeriod time.Duration
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		NodeMonitorGracePeriod:   15 * time.Second,
		DefaultTolerationSeconds: 10,
		Workers:                  4,
		ResyncPeriod:             time.Minute,
	}
}

// health is what the controller last saw of a node's heartbeats, and when
// (by its own clock, so that clock skew between machines does not matter).
type health struct {
	probe     time.Time        // when a heartbeat last changed
	renew     metav1.MicroTime // the lease's renewTime then
	heartbeat metav1.Time      // the Ready condition's lastHeartbeatTime then
}

// Controller watches node heartbeats, taints unhealthy nodes and evicts
// their pods.
type Controller struct {
	cfg     Config
	kube    kubernetes.Interface
	log     *slog.Logger
	now     func() time.Time
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	nodes      corelisters.NodeLister
	leases     coordinationlisters.LeaseLister
	podsIdx    cache.Indexer
	synced     []cache.InformerSynced
	// leaseFactory watches kube-node-lease only.
	leaseFactory informers.SharedInformerFactory
	ctrl         *controller.Controller
	events       record.EventBroadcaster
	// ownEvents: events was made by New, so Run starts and shuts it down.
	ownEvents bool
	record    record.EventRecorder

	mu     sync.Mutex
	health map[string]health
	ran    bool
}

var _ controller.Reconciler = (*Controller)(nil)

const podsByNode = "nodelifecycle.gantry.dev/nodeName"

// New builds the controller. It does no I/O. Its node and pod informers
// come from factory, shared with other controllers (the caller starts and
// shuts it down), or from a factory of its own when factory is nil.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.NodeMonitorGracePeriod <= 0 {
		cfg.NodeMonitorGracePeriod = def.NodeMonitorGracePeriod
	}
	if cfg.DefaultTolerationSeconds < 0 {
		cfg.DefaultTolerationSeconds = def.DefaultTolerationSeconds
	}
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = def.ResyncPeriod
	}
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{cfg: cfg, kube: kube, log: log, now: time.Now, health: map[string]health{}}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, 0)
	}
	nodeInf := c.factory.Core().V1().Nodes()
	podInf := c.factory.Core().V1().Pods()
	c.leaseFactory = informers.NewSharedInformerFactoryWithOptions(kube, cfg.ResyncPeriod, informers.WithNamespace(corev1.NamespaceNodeLease))
	leaseInf := c.leaseFactory.Coordination().V1().Leases()
	c.nodes, c.leases = nodeInf.Lister(), leaseInf.Lister()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podsByNode: func(obj any) ([]string, error) {
		if p, ok := obj.(*corev1.Pod); ok && p.Spec.NodeName != "" {
			return []string{p.Spec.NodeName}, nil
		}
		return nil, nil
	}}); err != nil {
		return nil, fmt.Errorf("nodelifecycle: pod index: %w", err)
	}
	c.podsIdx = podInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{nodeInf.Informer().HasSynced, podInf.Informer().HasSynced, leaseInf.Informer().HasSynced}

	byName := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		switch o := obj.(type) {
		case *corev1.Node:
			c.ctrl.Enqueue(o.Name)
		case *coordinationv1.Lease:
			c.ctrl.Enqueue(o.Name)
		case *corev1.Pod:
			if o.Spec.NodeName != "" {
				c.ctrl.Enqueue(o.Spec.NodeName)
			}
		}
	}
	h := cache.ResourceEventHandlerFuncs{AddFunc: byName, UpdateFunc: func(_, obj any) { byName(obj) }, DeleteFunc: byName}
	podHandler := cache.ResourceEventHandlerFuncs{
		AddFunc: byName,
		UpdateFunc: func(old, obj any) {
			// Only what decides eviction: binding and tolerations.
			o, ok1 := old.(*corev1.Pod)
			n, ok2 := obj.(*corev1.Pod)
			if ok1 && ok2 && (o.Spec.NodeName != n.Spec.NodeName || len(o.Spec.Tolerations) != len(n.Spec.Tolerations)) {
				byName(obj)
			}
		},
	}
	for inf, handler := range map[cache.SharedIndexInformer]cache.ResourceEventHandler{
		nodeInf.Informer(): h, leaseInf.Informer(): h, podInf.Informer(): podHandler,
	} {
		if _, err := inf.AddEventHandlerWithResyncPeriod(handler, cfg.ResyncPeriod); err != nil {
			return nil, fmt.Errorf("nodelifecycle: event handler: %w", err)
		}
	}
	c.events, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.events = record.NewBroadcaster()
	}
	c.record = c.events.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "node-controller"})
	return c, nil
}

// Controller returns the underlying work-queue controller (for metrics).
func (c *Controller) Controller() *controller.Controller { return c.ctrl }

// Run starts the informers and reconciles until ctx ends.
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
	c.leaseFactory.Start(ctx.Done())
	defer c.leaseFactory.Shutdown()
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended
	}
	return c.ctrl.Run(ctx)
}

// observe records the node's heartbeats and returns when one last changed.
func (c *Controller) observe(node *corev1.Node, lease *coordinationv1.Lease, now time.Time) time.Time {
	var renew metav1.MicroTime
	if lease != nil && lease.Spec.RenewTime != nil {
		renew = *lease.Spec.RenewTime
	}
	var heartbeat metav1.Time
	if ready := findCondition(node, corev1.NodeReady); ready != nil {
		heartbeat = ready.LastHeartbeatTime
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	h, seen := c.health[node.Name]
	if !seen || !h.renew.Equal(&renew) || !h.heartbeat.Equal(&heartbeat) {
		h = health{probe: now, renew: renew, heartbeat: heartbeat}
		c.health[node.Name] = h
	}
	return h.probe
}

// Reconcile looks at one node: its heartbeats, its Ready condition, its
// taints and the eviction of its pods.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	node, err := c.nodes.Get(key)
	if apierrors.IsNotFound(err) {
		c.mu.Lock()
		delete(c.health, key)
		c.mu.Unlock()
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	lease, err := c.leases.Leases(corev1.NamespaceNodeLease).Get(key)
	if err != nil && !apierrors.IsNotFound(err) {
		return controller.Result{}, err
	}
	if err != nil {
		lease = nil
	}
	now := c.now()
	probe := c.observe(node, lease, now)
	deadline := probe.Add(c.cfg.NodeMonitorGracePeriod)
	log := c.log.With("node", key)

	var next time.Duration // when to look again; 0: no need
	later := func(d time.Duration) {
		if d > 0 && (next == 0 || d < next) {
			next = d
		}
	}
	if now.Before(deadline) {
		later(deadline.Sub(now) + 10*time.Millisecond)
	} else if node, err = c.markUnknown(ctx, node, now); err != nil {
		return controller.Result{}, err
	}

	ready := findCondition(node, corev1.NodeReady)
	if ready != nil && ready.Status != corev1.ConditionTrue {
		if err := c.markPodsNotReady(ctx, key, log); err != nil {
			return controller.Result{}, err
		}
	}
	if node, err = c.syncTaints(ctx, node, ready, now); err != nil {
		return controller.Result{}, err
	}
	wait, err := c.evict(ctx, node, now, log)
	if err != nil {
		return controller.Result{}, err
	}
	later(wait)
	return controller.Result{RequeueAfter: next}, nil
}

// markUnknown sets every node condition to Unknown, as Kubernetes does for
// a node that stopped posting status, unless Ready already is.
func (c *Controller) markUnknown(ctx context.Context, node *corev1.Node, now time.Time) (*corev1.Node, error) {
	if ready := findCondition(node, corev1.NodeReady); ready != nil && ready.Status == corev1.ConditionUnknown {
		return node, nil
	}
	next := node.DeepCopy()
	nowT := metav1.NewTime(now)
	for _, t := range []corev1.NodeConditionType{corev1.NodeReady, corev1.NodeMemoryPressure, corev1.NodeDiskPressure, corev1.NodePIDPressure} {
		cond := findCondition(next, t)
		if cond == nil {
			next.Status.Conditions = append(next.Status.Conditions, corev1.NodeCondition{
				Type: t, Status: corev1.ConditionUnknown,
				Reason: ReasonNodeStatusNeverUpdated, Message: MessageNeverUpdated,
				LastHeartbeatTime: node.CreationTimestamp, LastTransitionTime: nowT,
			})
			continue
		}
		if cond.Status != corev1.ConditionUnknown {
			cond.Status, cond.LastTransitionTime = corev1.ConditionUnknown, nowT
		}
		cond.Reason, cond.Message = ReasonNodeStatusUnknown, MessageNodeStatusUnknown
	}
	updated, err := c.kube.CoreV1().Nodes().UpdateStatus(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: node %s status: %w", node.Name, err)
	}
	c.log.Warn("node stopped posting status", "node", node.Name, "gracePeriod", c.cfg.NodeMonitorGracePeriod)
	c.record.Eventf(node, corev1.EventTypeNormal, "NodeNotReady", "Node %s status is now: NodeNotReady", node.Name)
	return updated, nil
}

// markPodsNotReady sets the Ready condition of the node's pods to False,
// as Kubernetes' MarkPodsNotReady does.
func (c *Controller) markPodsNotReady(ctx context.Context, nodeName string, log *slog.Logger) error {
	objs, err := c.podsIdx.ByIndex(podsByNode, nodeName)
	if err != nil {
		return err
	}
	var errs []error
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if pod.Spec.NodeName != nodeName || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
			continue
		}
		i := podCondition(pod, corev1.PodReady)
		if i < 0 || pod.Status.Conditions[i].Status == corev1.ConditionFalse {
			continue
		}
		next := pod.DeepCopy()
		cond := &next.Status.Conditions[i]
		cond.Status, cond.LastTransitionTime = corev1.ConditionFalse, metav1.Now()
		if _, err := c.kube.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("mark pod %s/%s not ready: %w", pod.Namespace, pod.Name, err))
			continue
		}
		log.Debug("pod marked not ready", "namespace", pod.Namespace, "pod", pod.Name)
	}
	return errors.Join(errs...)
}

// syncTaints sets the unreachable or not-ready taints the Ready condition
// calls for and removes the others.
func (c *Controller) syncTaints(ctx context.Context, node *corev1.Node, ready *corev1.NodeCondition, now time.Time) (*corev1.Node, error) {
	key, ok := wantedTaintKey(ready)
	if !ok {
		return node, nil
	}
	taints, changed := reconcileTaints(node.Spec.Taints, key, now)
	if !changed {
		return node, nil
	}
	next := node.DeepCopy()
	next.Spec.Taints = taints
	updated, err := c.kube.CoreV1().Nodes().Update(ctx, next, metav1.UpdateOptions{})
	if err != nil {
		return nil, fmt.Errorf("nodelifecycle: node %s taints: %w", node.Name, err)
	}
	if key == "" {
		c.log.Info("node healthy again, taints removed", "node", node.Name)
	} else {
		c.log.Info("node tainted", "node", node.Name, "taint", key)
	}
	return updated, nil
}

// evict deletes the node's pods whose tolerations of its NoExecute taints
// ran out, and returns how long until the next one does (0: none pending).
func (c *Controller) evict(ctx context.Context, node *corev1.Node, now time.Time, log *slog.Logger) (time.Duration, error) {
	hasNoExecute := false
	for _, t := range node.Spec.Taints {
		hasNoExecute = hasNoExecute || t.Effect == corev1.TaintEffectNoExecute
	}
	if !hasNoExecute {
		return 0, nil
	}
	objs, err := c.podsIdx.ByIndex(podsByNode, node.Name)
	if err != nil {
		return 0, err
	}
	var next time.Duration
	var errs []error
	for _, obj := range objs {
		pod := obj.(*corev1.Pod)
		if pod.Spec.NodeName != node.Name || pod.DeletionTimestamp != nil {
			continue
		}
		at, evict := evictionTime(pod, node.Spec.Taints, c.cfg.DefaultTolerationSeconds)
		if !evict {
			continue
		}
		if wait := at.Sub(now); wait > 0 {
			if next == 0 || wait < next {
				next = wait + 10*time.Millisecond
			}
			continue
		}
		if err := c.deletePod(ctx, pod); err != nil {
			errs = append(errs, err)
			continue
		}
		log.Info("evicted pod from tainted node", "namespace", pod.Namespace, "pod", pod.Name)
	}
	return next, errors.Join(errs...)
}

// deletePod marks the pod with a DisruptionTarget condition, as Kubernetes'
// taint eviction does, then deletes it with its own grace period.
func (c *Controller) deletePod(ctx context.Context, pod *corev1.Pod) error {
	if podCondition(pod, corev1.DisruptionTarget) < 0 {
		next := pod.DeepCopy()
		next.Status.Conditions = append(next.Status.Conditions, corev1.PodCondition{
			Type: corev1.DisruptionTarget, Status: corev1.ConditionTrue, LastTransitionTime: metav1.Now(),
			Reason: ReasonDeletionByTaintManager, Message: "Taint manager: deleting due to NoExecute taint",
		})
		if _, err := c.kube.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			// Informative only: the deletion matters.
			c.log.Debug("cannot set DisruptionTarget", "namespace", pod.Namespace, "pod", pod.Name, "err", err)
		}
	}
	err := c.kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return fmt.Errorf("evict pod %s/%s: %w", pod.Namespace, pod.Name, err)
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

func podCondition(p *corev1.Pod, t corev1.PodConditionType) int {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == t {
			return i
		}
	}
	return -1
}
