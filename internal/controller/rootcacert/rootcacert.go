// Package rootcacert is the root CA certificate publisher: every namespace
// that is not terminating has a ConfigMap named "kube-root-ca.crt" whose
// data is exactly the cluster CA certificate under "ca.crt", so that pods
// can verify the API server on its internal endpoints, as Kubernetes'
// root-ca-cert-publisher controller does.
//
// Keys are namespace names. Reconcile creates the ConfigMap when the cache
// has none (an AlreadyExists answer means the cache lagged) and rewrites it
// when its data differ or its description annotation is missing, keeping
// its other annotations and labels (and a description someone changed).
// The ConfigMap informer watches only ConfigMaps of
// that name (a metadata.name field selector), not every ConfigMap of the
// cluster; any event on one looks at its namespace again, so a deleted or
// edited ConfigMap is restored. The controller is safe for concurrent use;
// Run may be called once.
package rootcacert

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/informers"
	coreinformers "k8s.io/client-go/informers/core/v1"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "rootcacert"

// ConfigMapName is the ConfigMap every namespace gets.
const ConfigMapName = "kube-root-ca.crt"

// DataKey is the ConfigMap data key holding the CA certificate (PEM).
const DataKey = "ca.crt"

// DescriptionAnnotation and Description describe the ConfigMap's purpose,
// with Kubernetes' words.
const (
	DescriptionAnnotation = "kubernetes.io/description"
	Description           = "Contains a CA bundle that can be used to verify the kube-apiserver when using internal endpoints such as the internal service IP or kubernetes.default.svc. " +
		"No other usage is guaranteed across distributions of Kubernetes clusters."
)

// ErrNoCACert is returned by New when Config.CACert is empty.
var ErrNoCACert = errors.New("rootcacert: no CA certificate")

// Config tunes the root CA certificate publisher.
type Config struct {
	// Workers is the number of namespaces processed concurrently.
	Workers int
	// ResyncPeriod is how often every namespace is looked at again even
	// without events.
	ResyncPeriod time.Duration
	// CACert is the cluster CA certificate (PEM) published in every
	// namespace. It has no default.
	CACert []byte
}

// DefaultConfig returns the production settings, without CACert.
func DefaultConfig() Config { return Config{Workers: 2, ResyncPeriod: 5 * time.Minute} }

// Controller keeps the kube-root-ca.crt ConfigMap in every namespace.
type Controller struct {
	kube    kubernetes.Interface
	log     *slog.Logger
	caCert  string
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	// configMaps watches only the kube-root-ca.crt ConfigMaps, so it is
	// this controller's own, run by Run.
	configMaps cache.SharedIndexInformer
	nsLister   corelisters.NamespaceLister
	cmLister   corelisters.ConfigMapLister
	synced     []cache.InformerSynced
	ctrl       *controller.Controller

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller. It does no I/O. It returns ErrNoCACert when
// cfg.CACert is empty. Its namespace informer comes from factory, shared
// with other controllers (the caller starts and shuts it down), or from a
// factory of its own when factory is nil.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	if len(cfg.CACert) == 0 {
		return nil, ErrNoCACert
	}
	if cfg.Workers <= 0 {
		cfg.Workers = DefaultConfig().Workers
	}
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{kube: kube, log: log, caCert: string(cfg.CACert)}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, cfg.ResyncPeriod)
	}
	nsInf := c.factory.Core().V1().Namespaces()
	cmInf := coreinformers.NewFilteredConfigMapInformer(kube, metav1.NamespaceAll, cfg.ResyncPeriod,
		cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc},
		func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("metadata.name", ConfigMapName).String()
		})
	c.configMaps = cmInf
	c.nsLister, c.cmLister = nsInf.Lister(), corelisters.NewConfigMapLister(cmInf.GetIndexer())
	c.synced = []cache.InformerSynced{nsInf.Informer().HasSynced, cmInf.HasSynced}

	onNamespace := func(obj any) {
		if ns, ok := obj.(*corev1.Namespace); ok {
			c.ctrl.Enqueue(ns.Name)
		}
	}
	if _, err := nsInf.Informer().AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		AddFunc:    onNamespace,
		UpdateFunc: func(_, obj any) { onNamespace(obj) },
	}, cfg.ResyncPeriod); err != nil {
		return nil, fmt.Errorf("rootcacert: event handler: %w", err)
	}
	onConfigMap := func(obj any) {
		if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = tomb.Obj
		}
		if cm, ok := obj.(*corev1.ConfigMap); ok && cm.Name == ConfigMapName {
			c.ctrl.Enqueue(cm.Namespace)
		}
	}
	if _, err := cmInf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    onConfigMap,
		UpdateFunc: func(_, obj any) { onConfigMap(obj) },
		DeleteFunc: onConfigMap,
	}); err != nil {
		return nil, fmt.Errorf("rootcacert: event handler: %w", err)
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
	var wg sync.WaitGroup
	defer wg.Wait()
	wg.Go(func() { c.configMaps.RunWithContext(ctx) })
	if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
		return nil // ctx ended
	}
	return c.ctrl.Run(ctx)
}

// Reconcile creates the kube-root-ca.crt ConfigMap of namespace key if it
// is missing, or rewrites it if it differs, when the namespace is active.
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
	want := map[string]string{DataKey: c.caCert}
	cm, err := c.cmLister.ConfigMaps(key).Get(ConfigMapName)
	if apierrors.IsNotFound(err) {
		return c.create(ctx, key, want)
	}
	if err != nil {
		return controller.Result{}, err
	}
	// A description someone changed is theirs to keep, as in Kubernetes;
	// only a missing one is written.
	if maps.Equal(cm.Data, want) && cm.Annotations[DescriptionAnnotation] != "" {
		return controller.Result{}, nil
	}
	cm = cm.DeepCopy() // the cache's copy is read-only
	cm.Data = want
	if cm.Annotations == nil {
		cm.Annotations = map[string]string{}
	}
	if cm.Annotations[DescriptionAnnotation] == "" {
		cm.Annotations[DescriptionAnnotation] = Description
	}
	_, err = c.kube.CoreV1().ConfigMaps(key).Update(ctx, cm, metav1.UpdateOptions{})
	switch {
	case err == nil:
		c.log.Debug("updated root CA ConfigMap", "namespace", key)
		return controller.Result{}, nil
	case apierrors.IsNotFound(err):
		return controller.Result{}, nil // deleted meanwhile: its delete event enqueues the namespace again
	default:
		// A Conflict means the cache lagged: retry once it has caught up.
		return controller.Result{}, fmt.Errorf("rootcacert: update in %s: %w", key, err)
	}
}

// create creates the ConfigMap with data in namespace ns.
func (c *Controller) create(ctx context.Context, ns string, data map[string]string) (controller.Result, error) {
	cm := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{
			Name:        ConfigMapName,
			Namespace:   ns,
			Annotations: map[string]string{DescriptionAnnotation: Description},
		},
		Data: data,
	}
	_, err := c.kube.CoreV1().ConfigMaps(ns).Create(ctx, cm, metav1.CreateOptions{})
	switch {
	case err == nil:
		c.log.Debug("created root CA ConfigMap", "namespace", ns)
		return controller.Result{}, nil
	case apierrors.IsAlreadyExists(err):
		return controller.Result{}, nil // the cache lagged; its add event enqueues the namespace again
	case apierrors.IsForbidden(err) && apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause):
		return controller.Result{}, nil // started terminating meanwhile
	case apierrors.IsNotFound(err):
		return controller.Result{}, nil // namespace gone meanwhile
	default:
		return controller.Result{}, fmt.Errorf("rootcacert: create in %s: %w", ns, err)
	}
}
