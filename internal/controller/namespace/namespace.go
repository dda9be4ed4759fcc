package namespace

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "namespace"

// Config tunes the namespace controller.
type Config struct {
	// Workers is the number of namespaces processed concurrently.
	Workers int
	// ResyncPeriod is how often every terminating namespace is looked at
	// again even without events.
	ResyncPeriod time.Duration
	// ContentRecheck is how long to wait before looking again at a
	// namespace whose content is not gone yet (finalizers, pods stopping).
	ContentRecheck time.Duration
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		Workers:        2,
		ResyncPeriod:   5 * time.Minute,
		ContentRecheck: time.Second,
	}
}

// Controller is the namespace controller.
type Controller struct {
	cfg     Config
	kube    kubernetes.Interface
	dyn     dynamic.Interface
	targets []schema.GroupVersionResource // namespaced resources to empty
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	lister     corelisters.NamespaceLister
	synced     cache.InformerSynced
	ctrl       *controller.Controller

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller. Objects are deleted and listed through dyn for
// every namespaced resource of reg with its own storage. It does no I/O.
// Its namespace informer comes from factory, shared with other controllers
// (the caller starts and shuts it down), or from a factory of its own when
// factory is nil.
func New(cfg Config, kube kubernetes.Interface, dyn dynamic.Interface, reg *api.Registry, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.ContentRecheck <= 0 {
		cfg.ContentRecheck = def.ContentRecheck
	}
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{cfg: cfg, kube: kube, dyn: dyn, log: log}
	for _, r := range reg.All() {
		// Registry entries are whole resources (subresources hang off them);
		// a resource served from another's storage is emptied through that one.
		if r.Namespaced && r.StorageResource == nil {
			c.targets = append(c.targets, r.GVR)
		}
	}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, cfg.ResyncPeriod)
	}
	inf := c.factory.Core().V1().Namespaces()
	c.lister = inf.Lister()
	c.synced = inf.Informer().HasSynced
	enqueue := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok && ns.DeletionTimestamp != nil {
			c.ctrl.Enqueue(ns.Name)
		}
	}
	if _, err := inf.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}, cfg.ResyncPeriod); err != nil {
		return nil, fmt.Errorf("namespace: event handler: %w", err)
	}
	return c, nil
}

// Controller returns the underlying work-queue controller (for metrics).
func (c *Controller) Controller() *controller.Controller { return c.ctrl }

// Run starts the namespace informer and reconciles until ctx ends.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ran {
		c.mu.Unlock()
		return controller.ErrAlreadyRun
	}
	c.ran = true
	c.mu.Unlock()

	c.factory.Start(ctx.Done())
	if c.ownFactory {
		defer c.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced) {
		return nil // ctx ended
	}
	return c.ctrl.Run(ctx)
}

// Reconcile empties and finalizes the namespace named key if it is being
// deleted and still carries the "kubernetes" finalizer.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	cached, err := c.lister.Get(key)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if cached.DeletionTimestamp == nil || !slices.Contains(cached.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return controller.Result{}, nil
	}
	log := c.log.With("namespace", key)

	content := c.deleteContent(ctx, key)
	// The cache may lag behind our own writes: work on the stored object.
	live, err := c.kube.CoreV1().Namespaces().Get(ctx, key, metav1.GetOptions{})
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, fmt.Errorf("namespace %s: %w", key, err)
	}
	if live.UID != cached.UID || !slices.Contains(live.Spec.Finalizers, corev1.FinalizerKubernetes) {
		return controller.Result{}, nil
	}
	ns, err := c.updateConditions(ctx, live, content)
	if err != nil {
		// Status is informative only; carry on with the object as read.
		log.Debug("updating namespace conditions", "err", err)
		ns = live
	}
	if len(content.failures) > 0 {
		return controller.Result{}, fmt.Errorf("namespace %s: deleting content: %w", key, errors.Join(content.failures...))
	}
	if len(content.remaining) > 0 {
		log.Debug("waiting for content", "remaining", content.remainingMessage())
		return controller.Result{RequeueAfter: c.cfg.ContentRecheck}, nil
	}
	return controller.Result{}, c.finalize(ctx, ns)
}

// finalize removes the "kubernetes" finalizer; the API server then deletes
// the namespace once no other finalizer is left.
func (c *Controller) finalize(ctx context.Context, ns *corev1.Namespace) error {
	next := ns.DeepCopy()
	next.Spec.Finalizers = slices.DeleteFunc(next.Spec.Finalizers, func(f corev1.FinalizerName) bool {
		return f == corev1.FinalizerKubernetes
	})
	_, err := c.kube.CoreV1().Namespaces().Finalize(ctx, next, metav1.UpdateOptions{})
	if apierrors.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("namespace %s: finalize: %w", ns.Name, err)
	}
	c.log.Info("namespace emptied and finalized", "namespace", ns.Name)
	return nil
}

// content is what one pass over a namespace found.
type content struct {
	remaining  map[schema.GroupResource]int // objects still present
	finalizers map[string]int               // finalizer → objects carrying it
	failures   []error
}

// deleteContent deletes every object in namespace ns and reports what is
// still there afterwards.
func (c *Controller) deleteContent(ctx context.Context, ns string) content {
	out := content{remaining: map[schema.GroupResource]int{}, finalizers: map[string]int{}}
	background := metav1.DeletePropagationBackground
	for _, gvr := range c.targets {
		ri := c.dyn.Resource(gvr).Namespace(ns)
		list, err := ri.List(ctx, metav1.ListOptions{})
		if unsupported(err) {
			continue
		}
		if err != nil {
			out.failures = append(out.failures, fmt.Errorf("list %s: %w", gvr.GroupResource(), err))
			continue
		}
		if len(list.Items) == 0 {
			continue
		}
		err = ri.DeleteCollection(ctx, metav1.DeleteOptions{PropagationPolicy: &background}, metav1.ListOptions{})
		if err != nil && !unsupported(err) {
			out.failures = append(out.failures, fmt.Errorf("delete %s: %w", gvr.GroupResource(), err))
		}
		list, err = ri.List(ctx, metav1.ListOptions{})
		if err != nil {
			out.failures = append(out.failures, fmt.Errorf("list %s: %w", gvr.GroupResource(), err))
			continue
		}
		if n := len(list.Items); n > 0 {
			out.remaining[gvr.GroupResource()] = n
		}
		for _, item := range list.Items {
			for _, f := range item.GetFinalizers() {
				out.finalizers[f]++
			}
		}
	}
	return out
}

// unsupported reports errors meaning a resource cannot be listed or
// deleted at all (not served, or no such verb); it is then skipped.
func unsupported(err error) bool {
	return apierrors.IsNotFound(err) || apierrors.IsMethodNotSupported(err)
}

func (ct content) remainingMessage() string {
	parts := make([]string, 0, len(ct.remaining))
	for gr, n := range ct.remaining {
		parts = append(parts, fmt.Sprintf("%s has %d resource instances", gr, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}

func (ct content) finalizersMessage() string {
	parts := make([]string, 0, len(ct.finalizers))
	for f, n := range ct.finalizers {
		parts = append(parts, fmt.Sprintf("%s in %d resource instances", f, n))
	}
	sort.Strings(parts)
	return strings.Join(parts, ", ")
}
