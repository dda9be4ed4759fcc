package disruption

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	appslisters "k8s.io/client-go/listers/apps/v1"
	corelisters "k8s.io/client-go/listers/core/v1"
	policylisters "k8s.io/client-go/listers/policy/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs, metrics and events.
const Name = "disruption"

// Config tunes the disruption controller.
type Config struct {
	// Workers is the number of budgets reconciled concurrently.
	Workers int
	// DeletionTimeout is how long a pod recorded in status.disruptedPods by
	// an eviction is assumed to be going away; after it the entry is
	// dropped and the pod counts again (Kubernetes: 2 minutes).
	DeletionTimeout time.Duration
	// StalePodDisruptionTimeout is how long a pod that is not terminating
	// keeps a DisruptionTarget=True condition (added by an eviction that
	// did not delete it) before the condition is reset to False
	// (Kubernetes: 2 minutes).
	StalePodDisruptionTimeout time.Duration
	// Clock is the time source (tests inject a fake); nil: the real clock.
	Clock clock.Clock
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings (Kubernetes' defaults).
func DefaultConfig() Config {
	return Config{Workers: 2, DeletionTimeout: 2 * time.Minute, StalePodDisruptionTimeout: 2 * time.Minute}
}

// Controller computes the status of PodDisruptionBudgets.
type Controller struct {
	cfg       Config
	kube      kubernetes.Interface
	log       *slog.Logger
	factory   informers.SharedInformerFactory
	pdbLister policylisters.PodDisruptionBudgetLister
	podLister corelisters.PodLister
	rsLister  appslisters.ReplicaSetLister
	dLister   appslisters.DeploymentLister
	ssLister  appslisters.StatefulSetLister
	synced    []cache.InformerSynced
	ctrl      *controller.Controller

	broadcaster record.EventBroadcaster
	// ownEvents: broadcaster was made by New, so Run starts and shuts it down.
	ownEvents bool
	recorder  record.EventRecorder

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller on informers of factory (which may be shared;
// Run starts it). It does no I/O.
func New(cfg Config, kube kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.DeletionTimeout <= 0 {
		cfg.DeletionTimeout = def.DeletionTimeout
	}
	if cfg.StalePodDisruptionTimeout <= 0 {
		cfg.StalePodDisruptionTimeout = def.StalePodDisruptionTimeout
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	c := &Controller{cfg: cfg, kube: kube, factory: factory}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "controllermanager"})

	pdbInf := factory.Policy().V1().PodDisruptionBudgets()
	podInf := factory.Core().V1().Pods()
	rsInf := factory.Apps().V1().ReplicaSets()
	dInf := factory.Apps().V1().Deployments()
	ssInf := factory.Apps().V1().StatefulSets()
	c.pdbLister, c.podLister = pdbInf.Lister(), podInf.Lister()
	c.rsLister, c.dLister, c.ssLister = rsInf.Lister(), dInf.Lister(), ssInf.Lister()
	c.synced = []cache.InformerSynced{pdbInf.Informer().HasSynced, podInf.Informer().HasSynced,
		rsInf.Informer().HasSynced, dInf.Informer().HasSynced, ssInf.Informer().HasSynced}

	handlers := []struct {
		inf cache.SharedIndexInformer
		h   cache.ResourceEventHandler
	}{
		{pdbInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc:    c.enqueuePDB,
			UpdateFunc: func(_, cur any) { c.enqueuePDB(cur) },
			DeleteFunc: c.enqueuePDB,
		}},
		{podInf.Informer(), cache.ResourceEventHandlerFuncs{
			AddFunc: c.podChanged,
			UpdateFunc: func(old, cur any) {
				c.podChanged(cur)
				if o, n := old.(*corev1.Pod), cur.(*corev1.Pod); !labels.Equals(o.Labels, n.Labels) {
					c.podChanged(old)
				}
			},
			DeleteFunc: c.podChanged,
		}},
		// A workload's scale is the denominator of percentage budgets.
		{rsInf.Informer(), c.scaleHandler()},
		{dInf.Informer(), c.scaleHandler()},
		{ssInf.Informer(), c.scaleHandler()},
	}
	for _, h := range handlers {
		if _, err := h.inf.AddEventHandler(h.h); err != nil {
			return nil, fmt.Errorf("disruption: event handler: %w", err)
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

func (c *Controller) enqueuePDB(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if pdb, ok := obj.(*policyv1.PodDisruptionBudget); ok {
		c.ctrl.Enqueue(pdb.Namespace + "/" + pdb.Name)
	}
}

// podChanged enqueues every budget selecting the pod.
func (c *Controller) podChanged(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if stale, in := staleDisruption(pod, c.cfg.StalePodDisruptionTimeout, c.cfg.Clock.Now()); stale {
		c.ctrl.EnqueueAfter(podKeyPrefix+pod.Namespace+"/"+pod.Name, in)
	}
	pdbs, err := c.pdbLister.PodDisruptionBudgets(pod.Namespace).List(labels.Everything())
	if err != nil {
		return
	}
	for _, pdb := range pdbs {
		sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
		if err == nil && sel.Matches(labels.Set(pod.Labels)) {
			c.ctrl.Enqueue(pdb.Namespace + "/" + pdb.Name)
		}
	}
}

// scaleHandler enqueues the namespace's budgets when a workload's
// spec.replicas changes.
func (c *Controller) scaleHandler() cache.ResourceEventHandler {
	enqueueNS := func(obj any) {
		if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
			obj = t.Obj
		}
		m, ok := obj.(metav1.Object)
		if !ok {
			return
		}
		pdbs, err := c.pdbLister.PodDisruptionBudgets(m.GetNamespace()).List(labels.Everything())
		if err != nil {
			return
		}
		for _, pdb := range pdbs {
			c.ctrl.Enqueue(pdb.Namespace + "/" + pdb.Name)
		}
	}
	return cache.ResourceEventHandlerFuncs{
		AddFunc: enqueueNS,
		UpdateFunc: func(old, cur any) {
			if specReplicas(old) != specReplicas(cur) {
				enqueueNS(cur)
			}
		},
		DeleteFunc: enqueueNS,
	}
}

func specReplicas(obj any) int32 {
	switch o := obj.(type) {
	case *appsv1.ReplicaSet:
		return replicas(o.Spec.Replicas)
	case *appsv1.Deployment:
		return replicas(o.Spec.Replicas)
	case *appsv1.StatefulSet:
		return replicas(o.Spec.Replicas)
	}
	return -1
}

// podKeyPrefix marks the queue keys of pods whose DisruptionTarget
// condition may be stale ("pod:namespace/name"; a budget's key
// "namespace/name" cannot start with it).
const podKeyPrefix = "pod:"

// Reconcile computes one budget's status and writes it if it changed, or,
// for a pod key, resets a stale DisruptionTarget condition.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	if podKey, ok := strings.CutPrefix(key, podKeyPrefix); ok {
		return c.resetStaleDisruption(ctx, podKey)
	}
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Result{}, nil
	}
	pdb, err := c.pdbLister.PodDisruptionBudgets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	res, err := c.sync(ctx, pdb)
	if err == nil || apierrors.IsConflict(err) {
		return res, err
	}
	// As Kubernetes: a budget that cannot be computed allows nothing.
	c.log.Warn("cannot compute budget", "namespace", ns, "podDisruptionBudget", name, "err", err)
	next := pdb.DeepCopy()
	next.Status = failSafeStatus(pdb, err)
	if _, werr := c.kube.PolicyV1().PodDisruptionBudgets(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); werr != nil {
		return controller.Result{}, errors.Join(err, werr)
	}
	return controller.Result{}, err
}

func (c *Controller) sync(ctx context.Context, pdb *policyv1.PodDisruptionBudget) (controller.Result, error) {
	sel, err := metav1.LabelSelectorAsSelector(pdb.Spec.Selector)
	if err != nil {
		return controller.Result{}, err
	}
	pods, err := c.podLister.Pods(pdb.Namespace).List(sel)
	if err != nil {
		return controller.Result{}, err
	}
	if len(pods) == 0 {
		c.recorder.Event(pdb, corev1.EventTypeNormal, "NoPods", "No matching pods found")
	}
	expected, desired, unmanaged, err := expectedCounts(pdb, pods, listers{c})
	if err != nil {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "CalculateExpectedPodCountFailed", "Failed to calculate the number of expected pods: %v", err)
		return controller.Result{}, err
	}
	if len(unmanaged) > 0 {
		c.recorder.Eventf(pdb, corev1.EventTypeWarning, "UnmanagedPods", "Pods selected by this PodDisruptionBudget (selector: %v) were found "+
			"to be unmanaged. As a result, the status of the PDB cannot be calculated correctly, which may result in undefined behavior. "+
			"To account for these pods please set \".spec.minAvailable\" "+
			"field of the PDB to an integer value.", pdb.Spec.Selector)
	}
	now := c.cfg.Clock.Now()
	disrupted, expired, recheck := disruptedPodMap(pdb, pods, now, c.cfg.DeletionTimeout)
	for _, name := range expired {
		if pod, err := c.podLister.Pods(pdb.Namespace).Get(name); err == nil {
			c.recorder.Eventf(pod, corev1.EventTypeWarning, "NotDeleted", "Pod was expected by PDB %s/%s to be deleted but it wasn't", pdb.Namespace, pdb.Name)
		}
	}
	healthy := countHealthy(pods, disrupted, now, c.cfg.DeletionTimeout)
	status, changed := newStatus(pdb, healthy, desired, expected, disrupted)
	if changed {
		next := pdb.DeepCopy()
		next.Status = status
		if _, err := c.kube.PolicyV1().PodDisruptionBudgets(pdb.Namespace).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil {
			return controller.Result{}, err
		}
	}
	if recheck != nil {
		return controller.Result{RequeueAfter: recheck.Sub(now) + time.Millisecond}, nil
	}
	return controller.Result{}, nil
}

// staleDisruption reports whether pod, not terminating and not finished,
// has a DisruptionTarget=True condition, and how long until it is older
// than timeout (0: stale now). Conditions the node agent set when it
// terminated the pod itself are never stale.
func staleDisruption(pod *corev1.Pod, timeout time.Duration, now time.Time) (bool, time.Duration) {
	if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed {
		return false, 0
	}
	for _, cond := range pod.Status.Conditions {
		if cond.Type != corev1.DisruptionTarget {
			continue
		}
		if cond.Status != corev1.ConditionTrue || cond.Reason == corev1.PodReasonTerminationByKubelet {
			return false, 0
		}
		return true, max(timeout-now.Sub(cond.LastTransitionTime.Time), 0)
	}
	return false, 0
}

// resetStaleDisruption sets a stale DisruptionTarget condition to False, as
// Kubernetes' syncStalePodDisruption does.
func (c *Controller) resetStaleDisruption(ctx context.Context, key string) (controller.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Result{}, nil
	}
	pod, err := c.podLister.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	stale, in := staleDisruption(pod, c.cfg.StalePodDisruptionTimeout, c.cfg.Clock.Now())
	if !stale {
		return controller.Result{}, nil
	}
	if in > 0 {
		return controller.Result{RequeueAfter: in}, nil
	}
	next := pod.DeepCopy()
	for i := range next.Status.Conditions {
		if cond := &next.Status.Conditions[i]; cond.Type == corev1.DisruptionTarget {
			cond.Status = corev1.ConditionFalse
			cond.LastTransitionTime = metav1.NewTime(c.cfg.Clock.Now())
		}
	}
	if _, err := c.kube.CoreV1().Pods(ns).UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return controller.Result{}, err
	}
	c.log.Debug("reset stale DisruptionTarget condition", "namespace", ns, "pod", name)
	return controller.Result{}, nil
}

// listers adapts the informer caches to Workloads.
type listers struct{ c *Controller }

func (l listers) ReplicaSet(ns, name string) (*appsv1.ReplicaSet, error) {
	return notFoundNil(l.c.rsLister.ReplicaSets(ns).Get(name))
}

func (l listers) Deployment(ns, name string) (*appsv1.Deployment, error) {
	return notFoundNil(l.c.dLister.Deployments(ns).Get(name))
}

func (l listers) StatefulSet(ns, name string) (*appsv1.StatefulSet, error) {
	return notFoundNil(l.c.ssLister.StatefulSets(ns).Get(name))
}

func notFoundNil[T any](v *T, err error) (*T, error) {
	if apierrors.IsNotFound(err) {
		return nil, nil
	}
	return v, err
}
