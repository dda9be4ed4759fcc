package cronjob

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
const Name = "cronjob"

// Config tunes the CronJob controller.
type Config struct {
	// Workers is the number of CronJobs reconciled concurrently.
	Workers int
	// Now is the clock; nil: time.Now. Tests inject a fake one and
	// Enqueue the CronJob after moving it.
	Now func() time.Time
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config { return Config{Workers: 5} }

// controllerKind is the kind of the ownerReferences this controller writes.
var controllerKind = batchv1.SchemeGroupVersion.WithKind("CronJob")

// jobOwnerIndex indexes Jobs by "namespace/name" of the CronJob that
// controls them.
const jobOwnerIndex = "cronjob.gantry.dev/cronjob"

func indexJobByCronJob(obj any) ([]string, error) {
	j, ok := obj.(*batchv1.Job)
	if !ok {
		return nil, nil
	}
	if ref := cronJobRef(j); ref != nil {
		return []string{keyOf(j.Namespace, ref.Name)}, nil
	}
	return nil, nil
}

func cronJobRef(j *batchv1.Job) *metav1.OwnerReference {
	ref := metav1.GetControllerOf(j)
	if ref == nil || ref.Kind != controllerKind.Kind || ref.APIVersion != controllerKind.GroupVersion().String() {
		return nil
	}
	return ref
}

// Controller is the CronJob controller.
type Controller struct {
	cfg      Config
	kube     kubernetes.Interface
	log      *slog.Logger
	factory  informers.SharedInformerFactory
	cjLister batchlisters.CronJobLister
	jobIndex cache.Indexer
	synced   []cache.InformerSynced
	ctrl     *controller.Controller

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
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	c := &Controller{cfg: cfg, kube: kube, factory: factory}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "cronjob-controller"})

	cjInf := factory.Batch().V1().CronJobs()
	jobInf := factory.Batch().V1().Jobs()
	if err := jobInf.Informer().AddIndexers(cache.Indexers{jobOwnerIndex: indexJobByCronJob}); err != nil {
		return nil, fmt.Errorf("cronjob: job indexer: %w", err)
	}
	c.cjLister = cjInf.Lister()
	c.jobIndex = jobInf.Informer().GetIndexer()
	c.synced = []cache.InformerSynced{cjInf.Informer().HasSynced, jobInf.Informer().HasSynced}

	if _, err := cjInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.enqueueCronJob,
		UpdateFunc: func(_, cur any) { c.enqueueCronJob(cur) },
		DeleteFunc: c.enqueueCronJob,
	}); err != nil {
		return nil, fmt.Errorf("cronjob: event handler: %w", err)
	}
	if _, err := jobInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    c.jobEvent,
		UpdateFunc: func(_, cur any) { c.jobEvent(cur) },
		DeleteFunc: c.jobEvent,
	}); err != nil {
		return nil, fmt.Errorf("cronjob: event handler: %w", err)
	}
	return c, nil
}

// Controller returns the underlying work-queue controller (for metrics,
// and for tests to Enqueue a key after moving a fake clock).
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

func (c *Controller) enqueueCronJob(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if cj, ok := obj.(*batchv1.CronJob); ok {
		c.ctrl.Enqueue(keyOf(cj.Namespace, cj.Name))
	}
}

func (c *Controller) jobEvent(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if j, ok := obj.(*batchv1.Job); ok {
		if ref := cronJobRef(j); ref != nil {
			c.ctrl.Enqueue(keyOf(j.Namespace, ref.Name))
		}
	}
}
