package servicelb

import (
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
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
const Name = "servicelb"

// Component is the event source of the controller's events.
const Component = "servicelb-controller"

// Class is the spec.loadBalancerClass this controller implements; services
// without a class are served too.
const Class = "gantry.dev/servicelb"

// Event reasons. Those of a served service are the ones Kubernetes'
// service controller uses.
const (
	// ReasonPortConflict (Warning): the service stays pending because a
	// port is reserved, a node port, or held by another LoadBalancer service.
	ReasonPortConflict = "PortConflict"
	// ReasonEnsuredLoadBalancer (Normal): the ingress addresses were set or changed.
	ReasonEnsuredLoadBalancer = "EnsuredLoadBalancer"
	// ReasonDeletedLoadBalancer (Normal): the ingress addresses were removed
	// because the service is no longer of type LoadBalancer.
	ReasonDeletedLoadBalancer = "DeletedLoadBalancer"
)

// Config tunes the service load-balancer controller.
type Config struct {
	// ReservedPorts are ports on the node addresses no LoadBalancer
	// service may take (the ingress controller's 80 and 443 when it runs,
	// the API server's port).
	ReservedPorts []ReservedPort
	// Workers is the number of services processed concurrently.
	Workers int
	// ResyncPeriod is how often every service is looked at again even
	// without events.
	ResyncPeriod time.Duration
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings, with no reserved ports.
func DefaultConfig() Config { return Config{Workers: 1, ResyncPeriod: 5 * time.Minute} }

// Controller sets status.loadBalancer.ingress of LoadBalancer services.
type Controller struct {
	cfg     Config
	kube    kubernetes.Interface
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	services   corelisters.ServiceLister
	nodes      corelisters.NodeLister
	synced     []cache.InformerSynced
	ctrl       *controller.Controller
	broadcast  record.EventBroadcaster
	// ownEvents: broadcast was made by New, so Run starts and shuts it down.
	ownEvents bool
	recorder  record.EventRecorder
	mu        sync.Mutex
	explained map[string]string // pending services → the message last sent
	ran       bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller. It checks cfg and does no I/O. Its informers come from factory,
// shared with other controllers (the caller starts and shuts it down), or
// from a factory of its own when factory is nil.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.ResyncPeriod <= 0 {
		cfg.ResyncPeriod = def.ResyncPeriod
	}
	for _, r := range cfg.ReservedPorts {
		if r.Port < 1 || r.Port > 65535 {
			return nil, fmt.Errorf("servicelb: reserved port %d out of range", r.Port)
		}
		switch protocolOf(r.Protocol) {
		case corev1.ProtocolTCP, corev1.ProtocolUDP, corev1.ProtocolSCTP:
		default:
			return nil, fmt.Errorf("servicelb: reserved port %d: unknown protocol %q", r.Port, r.Protocol)
		}
	}
	cfg.ReservedPorts = slices.Clone(cfg.ReservedPorts)
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{cfg: cfg, kube: kube, log: log, explained: map[string]string{}}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, cfg.ResyncPeriod)
	}
	svcInf := c.factory.Core().V1().Services()
	nodeInf := c.factory.Core().V1().Nodes()
	c.services, c.nodes = svcInf.Lister(), nodeInf.Lister()
	c.synced = []cache.InformerSynced{svcInf.Informer().HasSynced, nodeInf.Informer().HasSynced}

	if _, err := svcInf.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.serviceChanged(nil, obj) },
		UpdateFunc: c.serviceChanged,
		DeleteFunc: func(obj any) { c.serviceChanged(obj, nil) },
	}, cfg.ResyncPeriod); err != nil {
		return nil, fmt.Errorf("servicelb: event handler: %w", err)
	}
	if _, err := nodeInf.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.nodeChanged(nil, obj) },
		UpdateFunc: c.nodeChanged,
		DeleteFunc: func(obj any) { c.nodeChanged(obj, nil) },
	}, cfg.ResyncPeriod); err != nil {
		return nil, fmt.Errorf("servicelb: event handler: %w", err)
	}
	c.broadcast, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcast = record.NewBroadcaster()
	}
	c.recorder = c.broadcast.NewRecorder(scheme.Scheme, corev1.EventSource{Component: Component})
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
		c.broadcast.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
		defer c.broadcast.Shutdown()
	}
	c.factory.Start(ctx.Done())
	if c.ownFactory {
		defer c.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended
	}
	return c.ctrl.Run(ctx)
}

// asService unwraps informer tombstones.
func asService(obj any) *corev1.Service {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	svc, _ := obj.(*corev1.Service)
	return svc
}

func asNode(obj any) *corev1.Node {
	if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = tomb.Obj
	}
	n, _ := obj.(*corev1.Node)
	return n
}

// serviceChanged enqueues the service, and every managed service when the
// change can move a port between services (ports, node ports, type, class,
// whether it serves, existence).
func (c *Controller) serviceChanged(oldObj, newObj any) {
	older, newer := asService(oldObj), asService(newObj)
	if newer != nil {
		c.ctrl.Enqueue(key(newer))
	} else if older != nil {
		c.ctrl.Enqueue(key(older))
	}
	if portFingerprint(older) != portFingerprint(newer) {
		c.enqueueManaged()
	}
}

// portFingerprint is what of a service matters to other services' decisions.
func portFingerprint(svc *corev1.Service) string {
	if svc == nil {
		return ""
	}
	var b strings.Builder
	fmt.Fprintf(&b, "%t %t %s;", Manages(svc), len(svc.Status.LoadBalancer.Ingress) > 0, svc.CreationTimestamp.UTC())
	for _, p := range svc.Spec.Ports {
		fmt.Fprintf(&b, "%d/%s/%d,", p.Port, p.Protocol, p.NodePort)
	}
	return b.String()
}

// nodeChanged enqueues every managed service when the set of addresses
// they are served on may have changed.
func (c *Controller) nodeChanged(oldObj, newObj any) {
	var before, after []*corev1.Node
	if n := asNode(oldObj); n != nil {
		before = []*corev1.Node{n}
	}
	if n := asNode(newObj); n != nil {
		after = []*corev1.Node{n}
	}
	if !slices.Equal(NodeAddresses(before), NodeAddresses(after)) {
		c.enqueueManaged()
	}
}

func (c *Controller) enqueueManaged() {
	all, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range all {
		if Manages(svc) {
			c.ctrl.Enqueue(key(svc))
		}
	}
}

// Reconcile converges status.loadBalancer.ingress of the service named by
// key ("namespace/name") to the decision over all services and nodes.
func (c *Controller) Reconcile(ctx context.Context, k string) (controller.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(k)
	if err != nil {
		return controller.Result{}, nil
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.setExplained(k, "")
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if svc.Spec.Type == corev1.ServiceTypeLoadBalancer && !Manages(svc) {
		return controller.Result{}, nil // another implementation's
	}
	if !Manages(svc) {
		c.setExplained(k, "")
		if len(svc.Status.LoadBalancer.Ingress) == 0 {
			return controller.Result{}, nil
		}
		if err := c.writeIngress(ctx, svc, nil); err != nil {
			return controller.Result{}, err
		}
		c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonDeletedLoadBalancer,
			"Removed the load-balancer addresses: the service is of type %s", svc.Spec.Type)
		return controller.Result{}, nil
	}

	services, err := c.services.List(labels.Everything())
	if err != nil {
		return controller.Result{}, err
	}
	nodes, err := c.nodes.List(labels.Everything())
	if err != nil {
		return controller.Result{}, err
	}
	d := Decide(services, nodes, c.cfg.ReservedPorts)[k]
	if msg := d.Message(); c.setExplained(k, msg) && msg != "" {
		c.recorder.Event(svc, corev1.EventTypeWarning, ReasonPortConflict, "Service stays pending: "+msg)
		c.log.Info("load balancer pending", "service", k, "reason", msg)
	}
	if sameIngress(svc.Status.LoadBalancer.Ingress, d.Ingress) {
		return controller.Result{}, nil
	}
	if err := c.writeIngress(ctx, svc, d.Ingress); err != nil {
		return controller.Result{}, err
	}
	if len(d.Ingress) > 0 {
		ips := make([]string, len(d.Ingress))
		for i, in := range d.Ingress {
			ips[i] = in.IP
		}
		c.recorder.Eventf(svc, corev1.EventTypeNormal, ReasonEnsuredLoadBalancer,
			"Serving on the node addresses %s", strings.Join(ips, ", "))
	}
	return controller.Result{}, nil
}

// setExplained records the pending message of service k ("" when not
// pending) and reports whether it changed.
func (c *Controller) setExplained(k, msg string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.explained[k] == msg {
		return false
	}
	if msg == "" {
		delete(c.explained, k)
	} else {
		c.explained[k] = msg
	}
	return true
}

// writeIngress replaces status.loadBalancer.ingress of svc (from the
// cache) through the status subresource. A conflict is returned and
// retried on the next, fresher, cache state.
func (c *Controller) writeIngress(ctx context.Context, svc *corev1.Service, ingress []corev1.LoadBalancerIngress) error {
	next := svc.DeepCopy()
	next.Status.LoadBalancer.Ingress = ingress
	_, err := c.kube.CoreV1().Services(svc.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{})
	switch {
	case err == nil:
		c.log.Debug("load balancer ingress updated", "service", key(svc), "ingress", len(ingress))
		return nil
	case apierrors.IsNotFound(err):
		return nil
	default:
		return fmt.Errorf("servicelb: update status of %s: %w", key(svc), err)
	}
}

// sameIngress compares ingress lists, reading an unset ipMode as VIP (the
// API server's default).
func sameIngress(a, b []corev1.LoadBalancerIngress) bool {
	norm := func(in []corev1.LoadBalancerIngress) []corev1.LoadBalancerIngress {
		out := make([]corev1.LoadBalancerIngress, len(in))
		for i := range in {
			out[i] = *in[i].DeepCopy()
			if out[i].IP != "" && out[i].IPMode == nil {
				mode := corev1.LoadBalancerIPModeVIP
				out[i].IPMode = &mode
			}
		}
		return out
	}
	return apiequality.Semantic.DeepEqual(norm(a), norm(b))
}
