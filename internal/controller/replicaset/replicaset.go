package replicaset

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
const Name = "replicaset"

// Config tunes the ReplicaSet controller.
type Config struct {
	// Workers is the number of ReplicaSets reconciled concurrently.
	Workers int
	// BurstReplicas caps the pods created or deleted for one ReplicaSet in
	// one reconcile.
	BurstReplicas int
	// ExpectationsTimeout is how long outstanding creations and deletions
	// block scaling before the cache is trusted again anyway.
	ExpectationsTimeout time.Duration
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings (Kubernetes' defaults).
func DefaultConfig() Config {
	return Config{Workers: 5, BurstReplicas: 500, ExpectationsTimeout: 5 * time.Minute}
}

// controllerKind is the kind of the ownerReferences this controller writes.
var controllerKind = appsv1.SchemeGroupVersion.WithKind("ReplicaSet")

// podOwnerIndex indexes pods by the UID of their controller, orphans under
// orphanKey(namespace).
const podOwnerIndex = "replicaset.gantry.dev/controllerUID"

func orphanKey(namespace string) string { return "orphan/" + namespace }

func indexPodByOwner(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		return []string{string(ref.UID)}, nil
	}
	return []string{orphanKey(pod.Namespace)}, nil
}

// Controller is the ReplicaSet controller.
type Controller struct {
	cfg      Config
	kube     kubernetes.Interface
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	rsLister appslisters.ReplicaSetLister
	podIndex cache.Indexer
	synced   []cache.InformerSynced
	ctrl     *controller.Controller
	exp      *controller.Expectations

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
	if cfg.BurstReplicas <= 0 {
		cfg.BurstReplicas = def.BurstReplicas
	}
	if cfg.ExpectationsTimeout <= 0 {
		cfg.ExpectationsTimeout = def.ExpectationsTimeout
	}
	c := &Controller{cfg: cfg, kube: kube, factory: factory, exp: controller.NewExpectations(cfg.ExpectationsTimeout, time.Now)}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "replicaset-controller"})

	rsInf := factory.Apps().V1().ReplicaSets()
	podInf := factory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podOwnerIndex: indexPodByOwner}); err != nil {
		return nil, fmt.Errorf("replicaset: pod indexer: %w", err)
	}
	c.rsLister = rsInf.Lister()
	c.podIndex = podInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{rsInf.Informer().HasSynced, podInf.Informer().HasSynced}

	if _, err := rsInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueRS,
		UpdateFunc: func(_, cur any) { c.enqueueRS(cur) },
		DeleteFunc: c.enqueueRS,
	}); err != nil {
		return nil, fmt.Errorf("replicaset: event handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.addPod,
		UpdateFunc: c.updatePod,
		DeleteFunc: c.deletePod,
	}); err != nil {
		return nil, fmt.Errorf("replicaset: event handler: %w", err)
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

func (c *Controller) enqueueRS(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if rs, ok := obj.(*appsv1.ReplicaSet); ok {
		c.ctrl.Enqueue(keyOf(rs.Namespace, rs.Name))
	}
}

// resolveRef returns the key of the ReplicaSet ref names if it is in the
// cache with the same UID.
func (c *Controller) resolveRef(namespace string, ref *metav1.OwnerReference) (*appsv1.ReplicaSet, bool) {
	if ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil, false
	}
	rs, err := c.rsLister.ReplicaSets(namespace).Get(ref.Name)
	if err != nil || rs.UID != ref.UID {
		return nil, false
	}
	return rs, true
}

// enqueueMatching enqueues every ReplicaSet whose selector matches the
// orphan pod, so one of them can adopt it.
func (c *Controller) enqueueMatching(pod *corev1.Pod) {
	list, err := c.rsLister.ReplicaSets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, rs := range list {
		sel, err := metav1.LabelSelectorAsSelector(rs.Spec.Selector)
		if err != nil || sel.Empty() || !sel.Matches(labels.Set(pod.Labels)) {
			continue
		}
		c.ctrl.Enqueue(keyOf(rs.Namespace, rs.Name))
	}
}

func (c *Controller) addPod(obj any) {
	pod := obj.(*corev1.Pod)
	if pod.DeletionTimestamp != nil {
		// Seen for the first time while being deleted (e.g. after a restart).
		c.deletePod(pod)
		return
	}
	if ref := metav1.GetControllerOf(pod); ref != nil {
		if rs, ok := c.resolveRef(pod.Namespace, ref); ok {
			key := keyOf(rs.Namespace, rs.Name)
			c.exp.CreationObserved(key)
			c.ctrl.Enqueue(key)
		}
		return
	}
	c.enqueueMatching(pod)
}

func (c *Controller) updatePod(oldObj, curObj any) {
	old, cur := oldObj.(*corev1.Pod), curObj.(*corev1.Pod)
	if old.ResourceVersion == cur.ResourceVersion {
		return // resync
	}
	labelsChanged := !labels.Equals(old.Labels, cur.Labels)
	if cur.DeletionTimestamp != nil {
		// A graceful delete: the pod no longer counts, so act now rather
		// than when it finally goes.
		c.deletePod(cur)
		if labelsChanged {
			c.deletePod(old)
		}
		return
	}
	oldRef, curRef := metav1.GetControllerOf(old), metav1.GetControllerOf(cur)
	refChanged := !refEqual(oldRef, curRef)
	if refChanged && oldRef != nil {
		if rs, ok := c.resolveRef(old.Namespace, oldRef); ok {
			c.ctrl.Enqueue(keyOf(rs.Namespace, rs.Name))
		}
	}
	if curRef != nil {
		rs, ok := c.resolveRef(cur.Namespace, curRef)
		if !ok {
			return
		}
		key := keyOf(rs.Namespace, rs.Name)
		c.ctrl.Enqueue(key)
		// A pod turning ready becomes available minReadySeconds later.
		if rs.Spec.MinReadySeconds > 0 && !isPodReady(old) && isPodReady(cur) {
			c.ctrl.EnqueueAfter(key, time.Duration(rs.Spec.MinReadySeconds)*time.Second+time.Second)
		}
		return
	}
	if labelsChanged || refChanged {
		c.enqueueMatching(cur)
	}
}

func (c *Controller) deletePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	ref := metav1.GetControllerOf(pod)
	if ref == nil {
		return
	}
	rs, ok := c.resolveRef(pod.Namespace, ref)
	if !ok {
		return
	}
	key := keyOf(rs.Namespace, rs.Name)
	c.exp.DeletionObserved(key, keyOf(pod.Namespace, pod.Name))
	c.ctrl.Enqueue(key)
}

func refEqual(a, b *metav1.OwnerReference) bool {
	if a == nil || b == nil {
		return a == b
	}
	return a.UID == b.UID
}
