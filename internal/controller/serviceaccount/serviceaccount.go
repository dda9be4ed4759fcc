// Package serviceaccount is the service account controller: every
// namespace that is not terminating has a ServiceAccount named "default",
// created when the namespace appears and again whenever it is deleted, as
// Kubernetes' serviceaccounts-controller does.
//
// Keys are namespace names. Reconcile creates the account when the cache
// has none (an AlreadyExists answer means the cache lagged). The
// controller is safe for concurrent use; Run may be called once.
package serviceaccount

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "serviceaccount"

// DefaultName is the ServiceAccount every namespace gets.
const DefaultName = "default"

// Config tunes the service account controller.
type Config struct {
	// Workers is the number of namespaces processed concurrently.
	Workers int
	// ResyncPeriod is how often every namespace is looked at again even
	// without events.
	ResyncPeriod time.Duration
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config { return Config{Workers: 2, ResyncPeriod: 5 * time.Minute} }

// Controller keeps a default ServiceAccount in every namespace.
type Controller struct {
	kube    kubernetes.Interface
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	nsLister   corelisters.NamespaceLister
	saLister   corelisters.ServiceAccountLister
	synced     []cache.InformerSynced
	ctrl       *controller.Controller

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller. It does no I/O. Its informers come from factory,
// shared with other controllers (the caller starts and shuts it down), or
// from a factory of its own when factory is nil.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultConfig().Workers
	}
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{kube: kube, log: log}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, cfg.ResyncPeriod)
	}
	nsInf := c.factory.Core().V1().Namespaces()
	saInf := c.factory.Core().V1().ServiceAccounts()
	c.nsLister, c.saLister = nsInf.Lister(), saInf.Lister()
	c.synced = []cache.InformerSynced{nsInf.Informer().HasSynced, saInf.Informer().HasSynced}

	onNamespace := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			c.ctrl.Enqueue(ns.Name)
		}
	}
	if _, err := nsInf.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    onNamespace,
		UpdateFunc: func(_, obj any) { onNamespace(obj) },
	}, cfg.ResyncPeriod); err != nil {
		return nil, fmt.Errorf("serviceaccount: event handler: %w", err)
	}
	onAccountDeleted := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if sa, ok := obj.(*corev1.ServiceAccount); ok && sa.Name == DefaultName {
			c.ctrl.Enqueue(sa.Namespace)
		}
	}
	if _, err := saInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{DeleteFunc: onAccountDeleted}); err != nil {
		return nil, fmt.Errorf("serviceaccount: event handler: %w", err)
	}
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

	c.factory.Start(ctx.Done())
	if c.ownFactory {
		defer c.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended
	}
	return c.ctrl.Run(ctx)
}

// Reconcile creates the default ServiceAccount of namespace key if it is
// missing and the namespace is active.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, err := c.nsLister.Get(key)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if ns.DeletionTimestamp != nil || ns.Status.Phase == corev1.NamespaceTerminating {
		return controller.Result{}, nil
	}
	if _, err := c.saLister.ServiceAccounts(key).Get(DefaultName); err == nil {
		return controller.Result{}, nil
	} else if !apierrors.IsNotFound(err) {
		return controller.Result{}, err
	}
	sa := &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: key}}
	_, err = c.kube.CoreV1().ServiceAccounts(key).Create(ctx, sa, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created default service account", "namespace", key)
		return controller.Result{}, nil
	case apierrors.IsAlreadyExists(err):
		return controller.Result{}, nil
	case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return controller.Result{}, nil // started terminating meanwhile
	case apierrors.IsNotFound(err):
		return controller.Result{}, nil // namespace gone meanwhile
	default:
		return controller.Result{}, fmt.Errorf("serviceaccount: create in %s: %w", key, err)
	}
}
