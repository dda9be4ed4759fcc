package daemonset

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs, metrics and events.
const Name = "daemonset"

// Config tunes the DaemonSet controller.
type Config struct {
	// Workers is the number of DaemonSets reconciled concurrently.
	Workers int
	// ExpectationsTimeout is how long outstanding pod creations and
	// deletions block new ones before the cache is trusted again anyway.
	ExpectationsTimeout time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config { return Config{Workers: 2, ExpectationsTimeout: 5 * time.Minute} }

var controllerKind = appsv1.SchemeGroupVersion.WithKind("DaemonSet")

// ownerIndex indexes pods and ControllerRevisions by "namespace/name" of
// the DaemonSet that controls them.
const ownerIndex = "daemonset.gantry.dev/owner"

func indexByOwner(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if ref := ownerRef(m); ref != nil {
		return []string{keyOf(m.GetNamespace(), ref.Name)}, nil
	}
	return nil, nil
}

func ownerRef(m metav1.Object) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(m)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return ref
}

// Controller is the DaemonSet controller.
type Controller struct {
	cfg        Config
	kube       kubernetes.Interface
	log        *slog.Logger
	factory    informers.SharedInformerFactory
	dsLister   appslisters.DaemonSetLister
	nodeLister corelisters.NodeLister
	podIndex   cache.Indexer
	revIndex   cache.Indexer
	synced     []cache.InformerSynced
	ctrl       *controller.Controller
	exp        *controller.Expectations

	broadcaster record.EventBroadcaster
	// ownEvents: broadcaster was made by New, so Run starts and shuts it down.
	ownEvents bool
	recorder  record.EventRecorder

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller on informers of factory (which may be shared
// with other controllers; Run starts it). It does no I/O.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.ExpectationsTimeout <= 0 {
		cfg.ExpectationsTimeout = def.ExpectationsTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{cfg: cfg, kube: kube, factory: factory, exp: controller.NewExpectations(cfg.ExpectationsTimeout, cfg.Now)}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "daemonset-controller"})

	dsInf := factory.Apps().V1().DaemonSets()
	podInf := factory.Core().V1().Pods()
	nodeInf := factory.Core().V1().Nodes()
	revInf := factory.Apps().V1().ControllerRevisions()
	for _, inf := range []cache.SharedIndexInformer{podInf.Informer(), revInf.Informer()} {
		if err := inf.AddIndexers(cache.Indexers{ownerIndex: indexByOwner}); err != nil {
			return nil, fmt.Errorf("daemonset: indexer: %w", err)
		}
	}
	c.dsLister = dsInf.Lister()
	c.nodeLister = nodeInf.Lister()
	c.podIndex = podInf.Informer().GetIndexer()
	c.revIndex = revInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{dsInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced, revInf.Informer().HasSynced}

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{dsInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueDS,
			UpdateFunc: func(_, cur any) { c.enqueueDS(cur) },
			DeleteFunc: c.enqueueDS,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(obj any) { c.podEvent(obj, "add") },
			UpdateFunc: func(old, cur any) { c.podUpdate(old, cur) },
			DeleteFunc: func(obj any) { c.podEvent(obj, "delete") },
		}},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    func(any) { c.enqueueAll() },
			UpdateFunc: c.nodeUpdate,
			DeleteFunc: func(any) { c.enqueueAll() },
		}},
		{revInf.Informer(), cache.ResourceEventHandlerFuncs{
			DeleteFunc: func(obj any) { c.ownedEvent(obj) },
		}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("daemonset: event handler: %w", err)
		}
	}
	return c, nil
}

// Controller returns the underlying work-queue controller (for metrics).
func (c *Controller) Controller() *controller.Controller { return c.ctrl }

// Run starts the informers, waits for their caches and reconciles until
// ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ran {
		c.mu.Unlock()
		return controller.ErrAlreadyRun
	}
	c.ran = true
	c.mu.Unlock()

	if c.ownEvents {
		c.broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: c.kube.CoreV1().Events("")})
		defer c.broadcaster.Shutdown()
	}
	c.factory.Start(ctx.Done())
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended
	}
	return c.ctrl.Run(ctx)
}

func keyOf(namespace, name string) string { return namespace + "/" + name }

func (c *Controller) enqueueDS(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if ds, ok := obj.(*appsv1.DaemonSet); ok {
		c.ctrl.Enqueue(keyOf(ds.Namespace, ds.Name))
	}
}

func (c *Controller) enqueueAll() {
	list, err := c.dsLister.List(labels.Everything())
	if err != nil {
		return
	}
	for _, ds := range list {
		c.ctrl.Enqueue(keyOf(ds.Namespace, ds.Name))
	}
}

// nodeUpdate wakes every DaemonSet when something that decides where
// daemon pods run changed.
func (c *Controller) nodeUpdate(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Node), curObj.(*corev1.Node)
	if labels.Equals(old.Labels, cur.Labels) && equality.Semantic.DeepEqual(old.Spec.Taints, cur.Spec.Taints) &&
		old.Spec.Unschedulable == cur.Spec.Unschedulable {
		return
	}
	c.enqueueAll()
}

func (c *Controller) ownedEvent(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if m, ok := obj.(metav1.Object); ok {
		if ref := ownerRef(m); ref != nil {
			c.ctrl.Enqueue(keyOf(m.GetNamespace(), ref.Name))
		}
	}
}

func (c *Controller) podEvent(obj any, what string) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := ownerRef(pod)
	if ref == nil {
		return
	}
	key := keyOf(pod.Namespace, ref.Name)
	switch {
	case what == "add" && pod.DeletionTimestamp == nil:
		c.exp.CreationObserved(key)
	case what == "delete", pod.DeletionTimestamp != nil:
		c.exp.DeletionObserved(key, keyOf(pod.Namespace, pod.Name))
	}
	c.ctrl.Enqueue(key)
}

func (c *Controller) podUpdate(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	c.podEvent(cur, "update")
	if ref := ownerRef(cur); ref != nil {
		// A pod turning ready becomes available minReadySeconds later.
		if ds, err := c.dsLister.DaemonSets(cur.Namespace).Get(ref.Name); err == nil && ds.Spec.MinReadySeconds > 0 && !podReady(old) && podReady(cur) {
			c.ctrl.EnqueueAfter(keyOf(ds.Namespace, ds.Name), time.Duration(ds.Spec.MinReadySeconds)*time.Second+time.Second)
		}
	}
}
