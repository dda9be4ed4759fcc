package controller

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"golang.org/x/time/rate"
	"k8s.io/client-go/util/workqueue"

	"github.com/gantry-dev/gantry/internal/logging"
)

// ErrAlreadyRun is returned by Run when the Controller has been run before.
var ErrAlreadyRun = errors.New("controller: already run")

// Reconciler converges the state of one root object.
type Reconciler interface {
	// Reconcile reads the current state for key and converges it. It must be
	// idempotent. An error retries the key with exponential back-off; a
	// Result with RequeueAfter > 0 looks at the key again after that delay.
	Reconcile(ctx context.Context, key string) (Result, error)
}

// ReconcilerFunc adapts a function to Reconciler.
type ReconcilerFunc func(ctx context.Context, key string) (Result, error)

// Reconcile calls f.
func (f ReconcilerFunc) Reconcile(ctx context.Context, key string) (Result, error) {
	return f(ctx, key)
}

// Result tells the runtime what to do with a key that reconciled without error.
type Result struct {
	// RequeueAfter, when positive, processes the key again after this delay.
	RequeueAfter time.Duration
}

// Default back-off bounds for keys whose Reconcile failed.
const (
	DefaultBaseBackoff = 5 * time.Millisecond
	DefaultMaxBackoff  = 5 * time.Minute
)

// Option adjusts a Controller built by New.
type Option func(*options)

type options struct {
	baseBackoff, maxBackoff time.Duration
}

// WithBackoff sets the per-key exponential back-off bounds used after errors.
func WithBackoff(base, max time.Duration) Option {
	return func(o *options) { o.baseBackoff, o.maxBackoff = base, max }
}

// Controller runs a Reconciler over a rate-limited queue of keys.
type Controller struct {
	name       string
	reconciler Reconciler
	workers    int
	log        *slog.Logger
	queue      workqueue.TypedRateLimitingInterface[string]
	metrics    *metrics
	active     atomic.Int64 // keys being reconciled

	mu  sync.Mutex
	ran bool
}

// New returns a Controller named name that calls r from workers goroutines
// (at least one). It does no I/O; call Run to start it.
func New(name string, r Reconciler, workers int, log *slog.Logger, opts ...Option) *Controller {
	o := options{baseBackoff: DefaultBaseBackoff, maxBackoff: DefaultMaxBackoff}
	for _, opt := range opts {
		opt(&o)
	}
	if workers < 1 {
		workers = 1
	}
	limiter := workqueue.NewTypedMaxOfRateLimiter(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](o.baseBackoff, o.maxBackoff),
		// Overall retry rate limit, as client-go's default controller limiter.
		&workqueue.TypedBucketRateLimiter[string]{Limiter: rate.NewLimiter(rate.Limit(50), 300)},
	)
	c := &Controller{
		name:       name,
		reconciler: r,
		workers:    workers,
		log:        logging.Component(log, "controller").With("controller", name),
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(limiter, workqueue.TypedRateLimitingQueueConfig[string]{
			Name: name,
			// A no-op provider: queue metrics are Gantry's own (see Collectors),
			// never client-go's process-global ones.
			MetricsProvider: noopProvider{},
		}),
	}
	c.metrics = newMetrics(name, c.queue.Len)
	return c
}

// Name returns the controller's name.
func (c *Controller) Name() string { return c.name }

// Enqueue schedules key for reconciliation. Keys already waiting are merged.
func (c *Controller) Enqueue(key string) { c.queue.Add(key) }

// EnqueueAfter schedules key for reconciliation after d.
func (c *Controller) EnqueueAfter(key string, d time.Duration) { c.queue.AddAfter(key, d) }

// Len returns the number of keys waiting to be processed.
func (c *Controller) Len() int { return c.queue.Len() }

// Pending returns the number of keys waiting or being processed; keys
// scheduled for later (EnqueueAfter, back-off) are not counted. Zero means
// the controller is idle for now.
func (c *Controller) Pending() int { return c.queue.Len() + int(c.active.Load()) }

// Run starts the workers and blocks until ctx ends; it then stops the queue
// and waits for running reconciles to return. It returns nil after a normal
// stop and ErrAlreadyRun if the Controller was run before.
func (c *Controller) Run(ctx context.Context) error {
	c.mu.Lock()
	if c.ran {
		c.mu.Unlock()
		return ErrAlreadyRun
	}
	c.ran = true
	c.mu.Unlock()

	c.log.Debug("starting", "workers", c.workers)
	var wg sync.WaitGroup
	for range c.workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for c.processNext(ctx) {
			}
		}()
	}
	<-ctx.Done()
	c.queue.ShutDown()
	wg.Wait()
	c.log.Debug("stopped")
	return nil
}

// processNext handles one key; it returns false once the queue is shut down.
func (c *Controller) processNext(ctx context.Context) bool {
	key, shutdown := c.queue.Get()
	if shutdown {
		return false
	}
	c.active.Add(1)
	defer c.active.Add(-1) // after Done, so Pending never drops to 0 early
	defer c.queue.Done(key)

	start := time.Now()
	res, err := c.reconcile(ctx, key)
	c.metrics.observe(err, time.Since(start))
	switch {
	case ctx.Err() != nil:
		// Stopping: the error, if any, is the cancellation.
	case err != nil:
		retries := c.queue.NumRequeues(key)
		level := slog.LevelDebug
		if retries >= 3 {
			level = slog.LevelWarn
		}
		c.log.Log(ctx, level, "reconcile failed, retrying", "key", key, "retries", retries, "err", err)
		c.queue.AddRateLimited(key)
	default:
		c.queue.Forget(key)
		if res.RequeueAfter > 0 {
			c.queue.AddAfter(key, res.RequeueAfter)
		}
	}
	return true
}

func (c *Controller) reconcile(ctx context.Context, key string) (res Result, err error) {
	defer func() {
		if p := recover(); p != nil {
			c.log.Error("reconcile panicked", "key", key, "panic", p)
			err = fmt.Errorf("controller %s: panic reconciling %q: %v", c.name, key, p)
		}
	}()
	return c.reconciler.Reconcile(ctx, key)
}
