package job

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	batchlisters "k8s.io/client-go/listers/batch/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs, metrics and events.
const Name = "job"

// Config tunes the Job controller.
type Config struct {
	// Workers is the number of Jobs reconciled concurrently.
	Workers int
	// PodBackoffBase and PodBackoffMax bound the delay before a failed pod
	// is replaced: base·2^(failures-1), capped (Kubernetes: 10 s, 6 min).
	PodBackoffBase, PodBackoffMax time.Duration
	// ExpectationsTimeout is how long outstanding pod creations block new
	// ones before the cache is trusted again anyway.
	ExpectationsTimeout time.Duration
	// Now is the clock; nil: time.Now.
	Now func() time.Time
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings (Kubernetes' defaults).
func DefaultConfig() Config {
	return Config{Workers: 5, PodBackoffBase: 10 * time.Second, PodBackoffMax: 6 * time.Minute, ExpectationsTimeout: 5 * time.Minute}
}

// controllerKind is the kind of the ownerReferences this controller writes.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("Job")

// podJobIndex indexes pods by "namespace/name" of the Job that controls
// them (by reference, whether or not that Job still exists).
const podJobIndex = "job.gantry.dev/job"

func indexPodByJob(obj any) ([]string, error) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return nil, nil
	}
	if ref := jobRef(pod); ref != nil {
		return []string{keyOf(pod.Namespace, ref.Name)}, nil
	}
	return nil, nil
}

// jobRef returns the pod's controller reference if it names a Job.
func jobRef(pod *corev1.Pod) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(pod)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return ref
}

// Controller is the Job controller.
type Controller struct {
	cfg       Config
	kube      kubernetes.Interface
	log       *slog.Logger
	factory   informers.SharedInformerFactory
	jobLister batchlisters.JobLister
	podIndex  cache.Indexer
	synced    []cache.InformerSynced
	ctrl      *controller.Controller
	exp       *controller.Expectations
	backoff   *backoffRecords
	released  *releasedPods

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
	if cfg.PodBackoffBase < 0 {
		cfg.PodBackoffBase = 0
	}
	if cfg.PodBackoffMax < cfg.PodBackoffBase {
		cfg.PodBackoffMax = cfg.PodBackoffBase
	}
	if cfg.ExpectationsTimeout <= 0 {
		cfg.ExpectationsTimeout = def.ExpectationsTimeout
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{cfg: cfg, kube: kube, factory: factory, exp: controller.NewExpectations(cfg.ExpectationsTimeout, cfg.Now), backoff: newBackoffRecords(), released: newReleasedPods()}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "job-controller"})

	jobInf := factory.Batch().V1().Jobs()
	podInf := factory.Core().V1().Pods()
	if err := podInf.Informer().AddIndexers(cache.Indexers{podJobIndex: indexPodByJob}); err != nil {
		return nil, fmt.Errorf("job: pod indexer: %w", err)
	}
	c.jobLister = jobInf.Lister()
	c.podIndex = podInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{jobInf.Informer().HasSynced, podInf.Informer().HasSynced}

	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueJob,
		UpdateFunc: func(_, cur any) { c.enqueueJob(cur) },
		DeleteFunc: c.enqueueJob,
	}); err != nil {
		return nil, fmt.Errorf("job: event handler: %w", err)
	}
	if _, err := podInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { c.podEvent(obj, true, false) },
		UpdateFunc: func(_, cur any) { c.podEvent(cur, false, false) },
		DeleteFunc: func(obj any) { c.podEvent(obj, false, true) },
	}); err != nil {
		return nil, fmt.Errorf("job: event handler: %w", err)
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

func (c *Controller) enqueueJob(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if j, ok := obj.(*batchv1.Job); ok {
		c.ctrl.Enqueue(keyOf(j.Namespace, j.Name))
	}
}

// podEvent maps a pod event to its Job's key, whether or not the Job is
// still cached: a Job that is gone still has finalizers to release.
func (c *Controller) podEvent(obj any, added, deleted bool) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	if deleted {
		c.released.observed(pod.UID)
	}
	ref := jobRef(pod)
	if ref == nil {
		return
	}
	key := keyOf(pod.Namespace, ref.Name)
	if !hasFinalizer(pod) {
		c.released.observed(pod.UID)
	}
	if added {
		c.exp.CreationObserved(key)
	}
	c.ctrl.Enqueue(key)
}
