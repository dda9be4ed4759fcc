package hpa

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	autoscalinglisters "k8s.io/client-go/listers/autoscaling/v2"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/utils/clock"

	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs, metrics and events.
const Name = "horizontalpodautoscaler"

// Config tunes the HorizontalPodAutoscaler controller. The defaults are
// kube-controller-manager's --horizontal-pod-autoscaler-* defaults.
type Config struct {
	// Workers is the number of autoscalers reconciled concurrently.
	Workers int
	// SyncPeriod is how often each autoscaler is evaluated.
	SyncPeriod time.Duration
	// Tolerance is the band around the target inside which nothing is
	// scaled (0.1: usage within ±10% of the target).
	Tolerance float64
	// DownscaleStabilizationWindow: without behavior (or for a scaleDown
	// without stabilizationWindowSeconds), the highest recommendation of
	// this window is applied.
	DownscaleStabilizationWindow time.Duration
	// CPUInitializationPeriod: a pod started less than this long ago has
	// its CPU sample ignored unless it is ready and the sample was taken
	// after it turned ready.
	CPUInitializationPeriod time.Duration
	// InitialReadinessDelay: after the initialization period, an unready
	// pod whose readiness last changed within this delay of its start has
	// never been ready, and its CPU sample is ignored.
	InitialReadinessDelay time.Duration
	// Clock is the time source for stabilization windows, scaling periods
	// and readiness; nil: the real clock.
	Clock clock.PassiveClock
	// Events, if set, is an event broadcaster shared with other
	// controllers, which its owner starts and shuts down; the controller
	// records its events through it. Nil means one of its own, run by Run.
	Events record.EventBroadcaster
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		Workers:                      5,
		SyncPeriod:                   15 * time.Second,
		Tolerance:                    0.1,
		DownscaleStabilizationWindow: 5 * time.Minute,
		CPUInitializationPeriod:      5 * time.Minute,
		InitialReadinessDelay:        30 * time.Second,
	}
}

// Controller is the HorizontalPodAutoscaler controller.
type Controller struct {
	cfg       Config
	kube      kubernetes.Interface
	metrics   MetricsSource
	log       *slog.Logger
	factory   informers.SharedInformerFactory
	hpaLister autoscalinglisters.HorizontalPodAutoscalerLister
	podLister corelisters.PodLister
	synced    []cache.InformerSynced
	ctrl      *controller.Controller
	limiter   *limiter
	selectors selectorIndex

	broadcaster record.EventBroadcaster
	// ownEvents: broadcaster was made by New, so Run starts and shuts it down.
	ownEvents bool
	recorder  record.EventRecorder

	mu  sync.Mutex
	ran bool
}

var _ controller.Reconciler = (*Controller)(nil)

// New builds the controller on informers of factory (which may be shared;
// Run starts it), reading usage from metrics. It does no I/O.
func New(cfg Config, kube kubernetes.Interface, metrics MetricsSource, factory informers.SharedInformerFactory, log *slog.Logger) (*Controller, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.SyncPeriod <= 0 {
		cfg.SyncPeriod = def.SyncPeriod
	}
	if cfg.Tolerance <= 0 {
		cfg.Tolerance = def.Tolerance
	}
	if cfg.DownscaleStabilizationWindow < 0 {
		cfg.DownscaleStabilizationWindow = 0
	}
	if cfg.Clock == nil {
		cfg.Clock = clock.RealClock{}
	}
	c := &Controller{cfg: cfg, kube: kube, metrics: metrics, factory: factory, limiter: newLimiter(cfg.DownscaleStabilizationWindow)}
	c.ctrl = controller.New(Name, c, cfg.Workers, log)
	c.log = logging.Component(log, "controller").With("controller", Name)
	c.broadcaster, c.ownEvents = cfg.Events, cfg.Events == nil
	if c.ownEvents {
		c.broadcaster = record.NewBroadcaster()
	}
	c.recorder = c.broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "horizontal-pod-autoscaler"})

	hpaInf := factory.Autoscaling().V2().HorizontalPodAutoscalers()
	podInf := factory.Core().V1().Pods()
	c.hpaLister, c.podLister = hpaInf.Lister(), podInf.Lister()
	c.synced = []cache.InformerSynced{hpaInf.Informer().HasSynced, podInf.Informer().HasSynced}
	if _, err := hpaInf.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc: c.enqueue,
		UpdateFunc: func(old, cur any) {
			// Status writes (ours) do not trigger a sync: the sync period
			// does. Spec changes are looked at at once.
			if old.(*autoscalingv2.HorizontalPodAutoscaler).Generation != cur.(*autoscalingv2.HorizontalPodAutoscaler).Generation {
				c.enqueue(cur)
			}
		},
		DeleteFunc: func(obj any) {
			if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
				obj = t.Obj
			}
			if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
				c.limiter.forget(h.Namespace + "/" + h.Name)
				c.selectors.forget(h.Namespace + "/" + h.Name)
			}
		},
	}); err != nil {
		return nil, fmt.Errorf("hpa: event handler: %w", err)
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

func (c *Controller) enqueue(obj any) {
	if h, ok := obj.(*autoscalingv2.HorizontalPodAutoscaler); ok {
		c.ctrl.Enqueue(h.Namespace + "/" + h.Name)
	}
}
