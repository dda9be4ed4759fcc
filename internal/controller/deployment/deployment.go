package deployment

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs, metrics and events.
const Name = "deployment"

// Config tunes the Deployment controller.
type Config struct {
	// Workers is the number of Deployments reconciled concurrently.
	Workers int
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings (Kubernetes' defaults).
func DefaultConfig() Config { return Config{Workers: 5} }

var (
	controllerKind = appsv1.SchemeGroupVersion.WithKind("Deployment")
	rsKind         = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")
)

// podOwnerIndex indexes pods of the shared informer by the UID of their
// controller.
const podOwnerIndex = "deployment.gantry.dev/controllerUID"

func indexByOwner(obj any) ([]string, error) {
	m, ok := obj.(metav1.Object)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOfNoCopy(m); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return nil, nil
}

// Controller is the Deployment controller.
type Controller struct {
	cfg      Config
	kube     kubernetes.Interface
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	dLister  appslisters.DeploymentLister
	rsLister appslisters.ReplicaSetLister
	podIndex cache.Indexer
	synced   []cache.InformerSynced
	ctrl     *controller.Controller
	now      func() time.Time

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
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultConfig().Workers
	}
	c := &Controller{cfg: cfg, kube: kube, factory: factory, now: time.Now}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "deployment-controller"})

	dInf := factory.Apps().V1().Deployments()
	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podOwnerIndex: indexByOwner}); err != nil {
		return nil, fmt.Errorf("deployment: pod indexer: %w", err)
	}
	c.dLister = dInf.Lister()
	c.rsLister = rsInf.Lister()
	c.podIndex = podInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{dInf.Informer().HasSynced, rsInf.Informer().HasSynced, podInf.Informer().HasSynced}

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandlerFuncs
	}{
		{dInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueueDeployment,
			UpdateFunc: func(_, cur any) { c.enqueueDeployment(cur) },
			DeleteFunc: c.enqueueDeployment,
		}},
		{rsInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.addRS,
			UpdateFunc: c.updateRS,
			DeleteFunc: c.deleteRS,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: c.deletePod}},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("deployment: event handler: %w", err)
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
		return nil
	}
	return c.ctrl.Run(ctx)
}

func keyOf(namespace, name string) string { return namespace + "/" + name }

func (c *Controller) enqueueDeployment(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if d, ok := obj.(*appsv1.Deployment); ok {
		c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
	}
}

// resolveRef returns the Deployment ref names if it is cached with that UID.
func (c *Controller) resolveRef(namespace string, ref *metav1.OwnerReference) *appsv1.Deployment {
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	d, err := c.dLister.Deployments(namespace).Get(ref.Name)
	if err != nil || d.UID != ref.UID {
		return nil
	}
	return d
}

// enqueueMatching enqueues the Deployments whose selector matches an orphan
// ReplicaSet, so one can adopt it.
func (c *Controller) enqueueMatching(rs *appsv1.ReplicaSet) {
	list, err := c.dLister.Deployments(rs.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, d := range list {
		sel, err := metav1.LabelSelectorAsSelector(d.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(rs.Labels)) {
			continue
		}
		c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
	}
}

func (c *Controller) addRS(obj any) {
	rs := obj.(*appsv1.ReplicaSet)
	if rs.DeletionTimestamp != nil {
		c.deleteRS(rs)
		return
	}
	if ref := metav1.GetControllerOf(rs); ref != nil {
		if d := c.resolveRef(rs.Namespace, ref); d != nil {
			c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
		}
		return
	}
	c.enqueueMatching(rs)
}

func (c *Controller) updateRS(oldObj, curObj any) {
	old, cur := oldObj.(*appsv1.ReplicaSet), curObj.(*appsv1.ReplicaSet)
	if old.ResourceVersion == cur.ResourceVersion {
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	refChanged := (oldRef == nil) != (curRef == nil) || (oldRef != nil && curRef != nil && oldRef.UID != curRef.UID)
	if refChanged && oldRef != nil {
		if d := c.resolveRef(old.Namespace, oldRef); d != nil {
			c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
		}
	}
	if curRef != nil {
		if d := c.resolveRef(cur.Namespace, curRef); d != nil {
			c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
		}
		return
	}
	if refChanged || !labels.Equals(old.Labels, cur.Labels) {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deleteRS(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	rs, ok := obj.(*appsv1.ReplicaSet)
	if !ok {
		return
	}
	if d := c.resolveRef(rs.Namespace, metav1.GetControllerOf(rs)); d != nil {
		c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
	}
}

// deletePod wakes a Recreate Deployment up when the last old pod is gone.
func (c *Controller) deletePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != rsKind.Kind {
		return
	}
	rs, err := c.rsLister.ReplicaSets(pod.Namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return
	}
	d := c.resolveRef(rs.Namespace, metav1.GetControllerOf(rs))
	if d == nil || d.Spec.Strategy.Type != appsv1.RecreateDeploymentStrategyType {
		return
	}
	c.ctrl.Enqueue(keyOf(d.Namespace, d.Name))
}
