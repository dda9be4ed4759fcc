package endpointslice

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "endpointslice"

// Config tunes the EndpointSlice controller.
type Config struct {
	// Workers is the number of services processed concurrently.
	Workers int
	// MaxEndpointsPerSlice caps each slice (Kubernetes' default is 100).
	MaxEndpointsPerSlice int
	// ResyncPeriod is how often every service is looked at again even
	// without events.
	ResyncPeriod time.Duration
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{Workers: 4, MaxEndpointsPerSlice: 100, ResyncPeriod: 5 * time.Minute}
}

// Controller keeps the EndpointSlices and Endpoints of selector services.
type Controller struct {
	cfg     Config
	kube    kubernetes.Interface
	log     *slog.Logger
	factory informers.SharedInformerFactory
	// ownFactory: factory was made by New, so Run shuts it down.
	ownFactory bool
	services   corelisters.ServiceLister
	pods       corelisters.PodLister
	nodes      corelisters.NodeLister
	endpoints  corelisters.EndpointsLister
	synced     []cache.InformerSynced
	ctrl       *controller.Controller

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller. It does no I/O. Its informers come from
// factory, shared with other controllers (the caller starts and shuts it
// down), or from a factory of its own when factory is nil.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.MaxEndpointsPerSlice <= 0 || cfg.MaxEndpointsPerSlice > 1000 {
		cfg.MaxEndpointsPerSlice = def.MaxEndpointsPerSlice
	}
	log = logging.Component(log, "controller").With("controller", Name)
	c := &Controller{cfg: cfg, kube: kube, log: log}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.factory, c.ownFactory = factory, factory == nil
	if c.ownFactory {
		c.factory = informers.NewSharedInformerFactory(kube, 0)
	}
	svcInf := c.factory.Core().V1().Services()
	podInf := c.factory.Core().V1().Pods()
	nodeInf := c.factory.Core().V1().Nodes()
	epInf := c.factory.Core().V1().Endpoints()
	sliceInf := c.factory.Discovery().V1().EndpointSlices()
	c.services, c.pods, c.nodes, c.endpoints = svcInf.Lister(), podInf.Lister(), nodeInf.Lister(), epInf.Lister()
	c.synced = []cache.InformerSynced{
		svcInf.Informer().HasSynced, podInf.Informer().HasSynced, nodeInf.Informer().HasSynced,
		epInf.Informer().HasSynced, sliceInf.Informer().HasSynced,
	}

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{svcInf.Informer(), handler(func(obj any) {
			if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
				c.ctrl.Enqueue(key)
			}
		}, nil)},
		{podInf.Informer(), handler(c.onPod, func(old, obj any) { c.onPod(old); c.onPod(obj) })},
		{nodeInf.Informer(), cache.ResourceEventHandlerFuncs{UpdateFunc: c.onNodeUpdate}},
		{epInf.Informer(), cache.ResourceEventHandlerFuncs{DeleteFunc: func(obj any) {
			if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
				c.ctrl.Enqueue(key)
			}
		}}},
		{sliceInf.Informer(), handler(c.onSlice, nil)},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandlerWithResyncPeriod(h.h, cfg.ResyncPeriod); err != nil {
			return nil, fmt.Errorf("endpointslice: event handler: %w", err)
		}
	}
	return c, nil
}

// handler calls fn for adds, deletes (tombstones unwrapped) and, unless
// update is given, for the new object of updates.
func handler(fn func(obj any), update func(old, obj any)) cache.ResourceEventHandlerFuncs {
	if update == nil {
		update = func(_, obj any) { fn(obj) }
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc:    fn,
		UpdateFunc: update,
		DeleteFunc: func(obj any) {
			if tomb, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = tomb.Obj
			}
			fn(obj)
		},
	}
}

// onPod enqueues the services whose selector matches the pod.
func (c *Controller) onPod(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	svcs, err := c.services.Services(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	set := labels.Set(pod.Labels)
	for _, svc := range svcs {
		if len(svc.Spec.Selector) > 0 && labels.SelectorFromValidatedSet(svc.Spec.Selector).Matches(set) {
			c.ctrl.Enqueue(svc.Namespace + "/" + svc.Name)
		}
	}
}

// onNodeUpdate looks at every service again when a node's zone changes
// (rare; zones are set when a node registers).
func (c *Controller) onNodeUpdate(old, obj any) {
	o, ok1 := old.(*corev1.Node)
	n, ok2 := obj.(*corev1.Node)
	if !ok1 || !ok2 || o.Labels[corev1.LabelTopologyZone] == n.Labels[corev1.LabelTopologyZone] {
		return
	}
	svcs, err := c.services.List(labels.Everything())
	if err != nil {
		return
	}
	for _, svc := range svcs {
		c.ctrl.Enqueue(svc.Namespace + "/" + svc.Name)
	}
}

// onSlice enqueues the service of a managed slice, so that slices changed
// or deleted by others are put right.
func (c *Controller) onSlice(obj any) {
	s, ok := obj.(*discoveryv1.EndpointSlice)
	if !ok || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels[discoveryv1.LabelServiceName] == "" {
		return
	}
	c.ctrl.Enqueue(s.Namespace + "/" + s.Labels[discoveryv1.LabelServiceName])
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

// Reconcile converges the slices and Endpoints of the service key
// ("namespace/name").
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Result{}, nil // not a key of ours
	}
	svc, err := c.services.Services(ns).Get(name)
	if apierrors.IsNotFound(err) {
		// Slices go with their owner (garbage collector); Endpoints have
		// none and go here, as in Kubernetes.
		return controller.Result{}, c.deleteEndpoints(ctx, ns, name)
	}
	if err != nil {
		return controller.Result{}, err
	}
	existing, err := c.managedSlices(ctx, ns, name)
	if err != nil {
		return controller.Result{}, err
	}
	if len(svc.Spec.Selector) == 0 || svc.Spec.Type == corev1.ServiceTypeExternalName {
		// Not ours to fill: endpoints of such services are managed by users.
		return controller.Result{}, c.apply(ctx, svc, plan{delete: existing})
	}
	pods, err := c.pods.Pods(ns).List(labels.SelectorFromValidatedSet(svc.Spec.Selector))
	if err != nil {
		return controller.Result{}, err
	}
	groups := desiredGroups(svc, pods, c.zone)
	errSlices := c.apply(ctx, svc, planSlices(svc, groups, existing, c.cfg.MaxEndpointsPerSlice))
	errEndpoints := c.syncEndpoints(ctx, svc, desiredSubsets(svc, pods))
	return controller.Result{}, errors.Join(errSlices, errEndpoints)
}

func (c *Controller) zone(node string) string {
	n, err := c.nodes.Get(node)
	if err != nil {
		return ""
	}
	return n.Labels[corev1.LabelTopologyZone]
}

// managedSlices lists the service's slices from the API, not the cache, so
// that a slice created by the previous reconcile is never created twice.
func (c *Controller) managedSlices(ctx context.Context, ns, name string) ([]*discoveryv1.EndpointSlice, error) {
	sel := labels.SelectorFromSet(labels.Set{discoveryv1.LabelServiceName: name, discoveryv1.LabelManagedBy: ManagedBy})
	list, err := c.kube.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: sel.String()})
	if err != nil {
		return nil, fmt.Errorf("endpointslice: list slices of %s/%s: %w", ns, name, err)
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(list.Items))
	for i := range list.Items {
		out = append(out, &list.Items[i])
	}
	return out, nil
}

// apply carries out p: creates first, then updates, then deletes, so that
// clients never see a service's endpoints vanish in between.
func (c *Controller) apply(ctx context.Context, svc *corev1.Service, p plan) error {
	api := c.kube.DiscoveryV1().EndpointSlices(svc.Namespace)
	var errs []error
	for _, s := range p.create {
		if _, err := api.Create(ctx, s, metav1.CreateOptions{}); err != nil {
			if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
				return nil // the namespace is going away with everything in it
			}
			errs = append(errs, fmt.Errorf("create slice for %s/%s: %w", svc.Namespace, svc.Name, err))
		}
	}
	for _, s := range p.update {
		if _, err := api.Update(ctx, s, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
			errs = append(errs, fmt.Errorf("update slice %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	for _, s := range p.delete {
		err := api.Delete(ctx, s.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &s.UID}})
		if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
			errs = append(errs, fmt.Errorf("delete slice %s/%s: %w", s.Namespace, s.Name, err))
		}
	}
	if n := len(p.create) + len(p.update) + len(p.delete); n > 0 {
		c.log.Debug("slices written", "namespace", svc.Namespace, "service", svc.Name,
			"created", len(p.create), "updated", len(p.update), "deleted", len(p.delete))
	}
	return errors.Join(errs...)
}

// syncEndpoints writes the service's legacy Endpoints when they differ.
func (c *Controller) syncEndpoints(ctx context.Context, svc *corev1.Service, subsets []corev1.EndpointSubset) error {
	api := c.kube.CoreV1().Endpoints(svc.Namespace)
	want := endpointsLabels(svc)
	truncated := truncateSubsets(subsets)
	annotate := func(annotations map[string]string) map[string]string {
		annotations = maps.Clone(annotations)
		if truncated {
			if annotations == nil {
				annotations = map[string]string{}
			}
			annotations[AnnotationOverCapacity] = "truncated"
		} else {
			delete(annotations, AnnotationOverCapacity)
		}
		return annotations
	}
	cur, err := c.endpoints.Endpoints(svc.Namespace).Get(svc.Name)
	switch {
	case apierrors.IsNotFound(err):
		ep := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: svc.Name, Namespace: svc.Namespace, Labels: want, Annotations: annotate(nil)}, Subsets: subsets}
		_, err = api.Create(ctx, ep, metav1.CreateOptions{})
		if apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
			return nil
		}
	case err != nil:
		return err
	case apiequality.Semantic.DeepEqual(cur.Subsets, subsets) && apiequality.Semantic.DeepEqual(cur.Labels, want) &&
		apiequality.Semantic.DeepEqual(cur.Annotations, annotate(cur.Annotations)):
		return nil
	default:
		next := cur.DeepCopy()
		next.Subsets, next.Labels, next.Annotations = subsets, want, annotate(cur.Annotations)
		_, err = api.Update(ctx, next, metav1.UpdateOptions{})
	}
	if err != nil {
		return fmt.Errorf("endpoints %s/%s: %w", svc.Namespace, svc.Name, err)
	}
	return nil
}

func (c *Controller) deleteEndpoints(ctx context.Context, ns, name string) error {
	if _, err := c.endpoints.Endpoints(ns).Get(name); apierrors.IsNotFound(err) {
		return nil
	}
	err := c.kube.CoreV1().Endpoints(ns).Delete(ctx, name, metav1.DeleteOptions{})
	if err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("delete endpoints %s/%s: %w", ns, name, err)
	}
	return nil
}
