package gc

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/metadata/metadatainformer"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/logging"
)

// Name is the controller name used in logs and metrics.
const Name = "garbagecollector"

// ErrCachesNotSynced is returned by Reconcile when owner and orphan
// processing would have to trust caches that have not synced yet.
var ErrCachesNotSynced = errors.New("gc: caches not synced")

// Config tunes the garbage collector.
type Config struct {
	// Workers is the number of objects reconciled concurrently.
	Workers int
	// ResyncPeriod is how often every object with owners or with a garbage
	// collector finalizer is looked at again even without events.
	ResyncPeriod time.Duration
	// CacheSyncTimeout bounds how long Run waits for all caches before it
	// starts the workers anyway (owner and orphan processing keep waiting).
	CacheSyncTimeout time.Duration
	// WaitingRecheck is how often an owner waiting for its dependents in
	// foreground deletion is looked at again besides dependent events.
	WaitingRecheck time.Duration
}

// DefaultConfig returns the production settings.
func DefaultConfig() Config {
	return Config{
		Workers:          4,
		ResyncPeriod:     5 * time.Minute,
		CacheSyncTimeout: 30 * time.Second,
		WaitingRecheck:   10 * time.Second,
	}
}

// GC is the garbage collector.
type GC struct {
	cfg       Config
	client    metadata.Interface
	reg       *api.Registry
	log       *slog.Logger
	factory   metadatainformer.SharedInformerFactory
	shared    []cache.SharedIndexInformer               // from SharedInformers
	resources map[schema.GroupVersionResource]*resource // by storage (= own) GVR
	byPrefix  map[string]*resource                      // by key prefix
	ctrl      *controller.Controller
	absent    absentCache

	mu  sync.Mutex
	ran bool
}

// resource is one cached resource of the owner graph.
type resource struct {
	api      *api.Resource
	gvr      schema.GroupVersionResource
	prefix   string // key prefix "<resource>.<version>.<group>"
	informer cache.SharedIndexInformer
	handler  cache.ResourceEventHandlerRegistration
}

var _ controller.Reconciler = (*GC)(nil)

// SharedInformers returns the typed informer that other controllers share
// for a resource, or nil when there is none; the collector then watches the
// resource's metadata itself. The owner of shared informers starts and
// stops them.
type SharedInformers func(schema.GroupVersionResource) cache.SharedIndexInformer

// New builds a garbage collector over every resource of reg that has its own
// storage, using the informers of shared where it has them (nil: none), as
// kube-controller-manager's collector uses the typed informers of the other
// controllers. It does no I/O.
func New(cfg Config, client metadata.Interface, reg *api.Registry, shared SharedInformers, log *slog.Logger) (*GC, error) {
	def := DefaultConfig()
	if cfg.Workers <= 0 {
		cfg.Workers = def.Workers
	}
	if cfg.CacheSyncTimeout <= 0 {
		cfg.CacheSyncTimeout = def.CacheSyncTimeout
	}
	if cfg.WaitingRecheck <= 0 {
		cfg.WaitingRecheck = def.WaitingRecheck
	}
	log = logging.Component(log, "controller").With("controller", Name)
	g := &GC{
		cfg:       cfg,
		client:    client,
		reg:       reg,
		log:       log,
		resources: map[schema.GroupVersionResource]*resource{},
		byPrefix:  map[string]*resource{},
		absent:    absentCache{max: 10000},
	}
	g.ctrl = controller.New(Name, g, cfg.Workers, log)
	g.factory = metadatainformer.NewSharedInformerFactoryWithOptions(client, cfg.ResyncPeriod,
		metadatainformer.WithTransform(stripManagedFields))
	for _, r := range reg.All() {
		if r.StorageResource != nil {
			continue
		}
		res := &resource{api: r, gvr: r.GVR, prefix: gvrPrefix(r.GVR)}
		if shared != nil {
			res.informer = shared(r.GVR)
		}
		if res.informer != nil {
			g.shared = append(g.shared, res.informer)
		} else {
			res.informer = g.factory.ForResource(r.GVR).Informer()
		}
		if err := res.informer.AddIndexers(cache.Indexers{uidIndex: indexByUID, ownerIndex: indexByOwnerUID}); err != nil {
			return nil, fmt.Errorf("gc: indexers for %s: %w", r.GVR, err)
		}
		reg, err := res.informer.AddEventHandlerWithResyncPeriod(g.handler(res), cfg.ResyncPeriod)
		if err != nil {
			return nil, fmt.Errorf("gc: event handler for %s: %w", r.GVR, err)
		}
		res.handler = reg
		g.resources[r.GVR] = res
		g.byPrefix[res.prefix] = res
	}
	return g, nil
}

// Controller returns the underlying work-queue controller (for metrics).
func (g *GC) Controller() *controller.Controller { return g.ctrl }

// Run starts the informers, waits for their caches (at most
// CacheSyncTimeout) and reconciles until ctx ends.
func (g *GC) Run(ctx context.Context) error {
	g.mu.Lock()
	if g.ran {
		g.mu.Unlock()
		return controller.ErrAlreadyRun
	}
	g.ran = true
	g.mu.Unlock()

	g.factory.Start(ctx.Done())
	defer g.factory.Shutdown()

	syncCtx, cancel := context.WithTimeout(ctx, g.cfg.CacheSyncTimeout)
	g.factory.WaitForCacheSync(syncCtx.Done())
	sharedSynced := make([]cache.InformerSynced, len(g.shared))
	for i, inf := range g.shared {
		sharedSynced[i] = inf.HasSynced
	}
	cache.WaitForCacheSync(syncCtx.Done(), sharedSynced...)
	cancel()
	if ctx.Err() != nil {
		return nil
	}
	var missing []string
	for gvr, r := range g.resources {
		if !r.informer.HasSynced() {
			missing = append(missing, gvr.String())
		}
	}
	if len(missing) > 0 {
		g.log.Warn("starting before all caches synced", "unsynced", strings.Join(missing, "; "))
	} else {
		g.log.Debug("caches synced", "resources", len(g.resources))
	}
	return g.ctrl.Run(ctx)
}

// HasSynced reports whether every cache has synced and its initial content
// has been handed to the collector.
func (g *GC) HasSynced() bool {
	for _, r := range g.resources {
		if !r.informer.HasSynced() || !r.handler.HasSynced() {
			return false
		}
	}
	return true
}

// stripManagedFields drops what the collector never reads from cached objects.
func stripManagedFields(obj any) (any, error) {
	if m, ok := obj.(*metav1.PartialObjectMetadata); ok {
		m.ManagedFields = nil
	}
	return obj, nil
}

// absentCache remembers owners confirmed absent by a live GET. A UID never
// comes back, so entries stay true; the map is bounded by clearing it.
type absentCache struct {
	mu  sync.Mutex
	max int
	m   map[absentKey]struct{}
}

// absentKey is an owner UID looked up in one namespace ("" for
// cluster-scoped owners): a namespaced owner absent from one namespace may
// exist in another (a dependent there names it validly).
type absentKey struct {
	uid       string
	namespace string
}

func (c *absentCache) has(k absentKey) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.m[k]
	return ok
}

func (c *absentCache) add(k absentKey) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.m == nil || len(c.m) >= c.max {
		c.m = map[absentKey]struct{}{}
	}
	c.m[k] = struct{}{}
}
