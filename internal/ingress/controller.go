package ingress

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	networkingv1 "k8s.io/api/networking/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"

	"github.com/gantry-dev/gantry/internal/logging"
)

// Sentinel errors.
var (
	// ErrConfig means New was given an unusable Config.
	ErrConfig = errors.New("ingress: invalid config")
	// ErrRunning means Run was called a second time.
	ErrRunning = errors.New("ingress: already run")
)

// Controller is the Ingress controller. See the package documentation.
type Controller struct {
	cfg     Config
	client  kubernetes.Interface
	log     *slog.Logger
	store   *store
	router  *router
	certs   *certStore
	metrics *metrics
	queue   workqueue.TypedRateLimitingInterface[string]
	dirty   chan struct{}
	// certProblems are the TLS secret problems last logged (rebuild's
	// goroutine only), so that each is logged once.
	certProblems map[string]bool

	started atomic.Bool
	// writesStatus: status is written (always unless
	// Config.StatusByLeader; SetStatusWriter toggles it).
	writesStatus atomic.Bool
	ready        chan struct{}
	mu           sync.Mutex
	addrs        map[string]string // "http"/"https" → bound address
}

// ServesEndpoint reports whether the controller may still send new
// requests to ip: an EndpointSlice in its cache names it as a ready
// endpoint. A node waits for it to turn false before a deleted pod at ip
// gets SIGTERM.
func (c *Controller) ServesEndpoint(ip netip.Addr) bool { return c.store.servesEndpoint(ip) }

// New returns a controller reading through client, its metrics
// registered on reg (nil: not registered). It does no I/O; Run starts
// the informers and the listeners.
func New(cfg Config, client kubernetes.Interface, reg prometheus.Registerer, log *slog.Logger) (*Controller, error) {
	if cfg.ClassName == "" || cfg.ControllerName == "" {
		return nil, fmt.Errorf("%w: empty class or controller name", ErrConfig)
	}
	for _, a := range []string{cfg.HTTPAddr, cfg.HTTPSAddr} {
		if a == "" {
			continue
		}
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: listen address %q: %v", ErrConfig, a, err)
		}
	}
	def := DefaultConfig()
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = def.DialTimeout
	}
	if cfg.ResponseHeaderTimeout <= 0 {
		cfg.ResponseHeaderTimeout = def.ResponseHeaderTimeout
	}
	st, err := newStore(client)
	if err != nil {
		return nil, fmt.Errorf("ingress: informers: %w", err)
	}
	m := newMetrics()
	if err := m.register(reg); err != nil {
		return nil, err
	}
	log = logging.Component(log, "ingress")
	c := &Controller{
		cfg:     cfg,
		client:  client,
		log:     log,
		store:   st,
		router:  newRouter(cfg, st, m, log),
		certs:   &certStore{},
		metrics: m,
		queue: workqueue.NewTypedRateLimitingQueueWithConfig(
			workqueue.DefaultTypedControllerRateLimiter[string](),
			workqueue.TypedRateLimitingQueueConfig[string]{Name: "ingress-status"}),
		dirty: make(chan struct{}, 1),
		ready: make(chan struct{}),
		addrs: map[string]string{},
	}
	c.writesStatus.Store(!cfg.StatusByLeader)
	return c, nil
}

// SetStatusWriter starts (on) or stops writing Ingress status, for a
// controller configured with StatusByLeader. Starting looks at every
// Ingress again.
func (c *Controller) SetStatusWriter(on bool) {
	if c.writesStatus.Swap(on) != on && on {
		c.enqueueAll()
	}
}

// Ready is closed once the caches have synced, the routes are built and
// the listeners that could be bound serve.
func (c *Controller) Ready() <-chan struct{} { return c.ready }

// HTTPAddr and HTTPSAddr return the bound listener addresses (with the
// port chosen for port 0); "" before Ready, when disabled, or when the
// address could not be bound.
func (c *Controller) HTTPAddr() string  { return c.addr("http") }
func (c *Controller) HTTPSAddr() string { return c.addr("https") }

func (c *Controller) addr(name string) string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.addrs[name]
}

// Handler returns the routing handler the listeners serve (for tests and
// for embedding behind another listener).
func (c *Controller) Handler() http.Handler { return c.router }

// Run ensures the IngressClass, binds the listeners, starts the
// informers, serves once the caches have synced and keeps routes,
// certificates and statuses current until ctx ends. A listener that
// cannot be bound is logged and left out; Run returns nil after a clean
// stop. A Controller runs once.
func (c *Controller) Run(ctx context.Context) error {
	if !c.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	fallback, err := selfSigned(time.Now())
	if err != nil {
		return err
	}
	c.certs.fallback = fallback

	// Bind before the caches sync, so that a taken port shows at once;
	// connections wait in the backlog until the routes are built.
	type bound struct {
		name string
		ln   net.Listener
	}
	var listeners []bound
	for _, l := range []struct{ name, addr string }{{"http", c.cfg.HTTPAddr}, {"https", c.cfg.HTTPSAddr}} {
		if l.addr == "" {
			continue
		}
		ln, err := net.Listen("tcp", l.addr)
		if err != nil {
			c.log.Error("ingress listener disabled: cannot bind its address; the controller runs without it (configure another port, or 0 to disable it)",
				"listener", l.name, "addr", l.addr, "err", err)
			continue
		}
		listeners = append(listeners, bound{l.name, ln})
	}
	defer func() {
		for _, b := range listeners {
			b.ln.Close()
		}
	}()
	if len(listeners) == 0 && len(c.cfg.StatusAddresses) > 0 {
		// Nothing serves: Ingresses must not claim an address.
		c.log.Warn("no ingress listener: statuses are not written")
		c.cfg.StatusAddresses = nil
	}

	// Every exit stops what Run started: cancel first, as the goroutines
	// and the informers stop on ctx.
	var wg sync.WaitGroup
	defer func() { cancel(); c.queue.ShutDown(); wg.Wait() }()
	wg.Go(func() { c.ensureClass(ctx) })

	handlers := cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.markDirty() },
		UpdateFunc: func(any, any) { c.markDirty() },
		DeleteFunc: func(any) { c.markDirty() },
	}
	inf := c.store.informers
	for _, i := range []cache.SharedIndexInformer{inf.secrets} {
		if _, err := i.AddEventHandler(handlers); err != nil {
			return fmt.Errorf("ingress: informers: %w", err)
		}
	}
	enqueue := func(obj any) {
		if key, err := cache.DeletionHandlingMetaNamespaceKeyFunc(obj); err == nil {
			c.queue.Add(key)
		}
		c.markDirty()
	}
	if _, err := inf.ingresses.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
		DeleteFunc: enqueue,
	}); err != nil {
		return fmt.Errorf("ingress: informers: %w", err)
	}
	if _, err := inf.classes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(any) { c.markDirty(); c.enqueueAll() },
		UpdateFunc: func(any, any) { c.markDirty(); c.enqueueAll() },
		DeleteFunc: func(any) { c.markDirty(); c.enqueueAll() },
	}); err != nil {
		return fmt.Errorf("ingress: informers: %w", err)
	}

	c.store.factory.Start(ctx.Done())
	defer func() { cancel(); c.store.factory.Shutdown() }()
	if !cache.WaitForCacheSync(ctx.Done(), c.store.synced...) {
		return nil // ctx ended first
	}
	c.rebuild()
	wg.Go(func() { c.rebuildLoop(ctx) })
	wg.Go(func() { c.runStatus(ctx) })

	errc := make(chan error, len(listeners))
	servers := make([]*http.Server, 0, len(listeners))
	addrs := map[string]string{}
	for _, b := range listeners {
		srv := &http.Server{
			Handler:           c.router,
			ReadHeaderTimeout: 30 * time.Second,
			IdleTimeout:       120 * time.Second,
			ErrorLog:          slog.NewLogLogger(c.log.Handler(), slog.LevelDebug),
		}
		ln := b.ln
		if b.name == "https" {
			srv.TLSConfig = &tls.Config{GetCertificate: c.certs.getCertificate, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
			go func() { errc <- srv.ServeTLS(ln, "", "") }()
		} else {
			go func() { errc <- srv.Serve(ln) }()
		}
		servers = append(servers, srv)
		addrs[b.name] = ln.Addr().String()
	}
	listeners = nil // the servers own them now
	defer func() {
		sctx, scancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer scancel()
		for _, srv := range servers {
			_ = srv.Shutdown(sctx)
		}
	}()
	c.mu.Lock()
	c.addrs = addrs
	c.mu.Unlock()
	close(c.ready)
	c.log.Info("ingress controller serving", "http", addrs["http"], "https", addrs["https"], "class", c.cfg.ClassName, "statusAddresses", c.cfg.StatusAddresses)

	for {
		select {
		case <-ctx.Done():
			return nil
		case err := <-errc:
			if !errors.Is(err, http.ErrServerClosed) {
				// One listener failing leaves the other serving.
				c.log.Error("ingress listener stopped", "err", err)
			}
		}
	}
}

// ensureClass creates the IngressClass, retrying with back-off while the
// API fails.
func (c *Controller) ensureClass(ctx context.Context) {
	delay := 200 * time.Millisecond
	for {
		err := ensureClass(ctx, c.client, c.cfg.ClassName, c.cfg.ControllerName)
		if err == nil || ctx.Err() != nil {
			return
		}
		c.log.Warn("cannot ensure the IngressClass; retrying", "class", c.cfg.ClassName, "err", err, "retryIn", delay)
		select {
		case <-ctx.Done():
			return
		case <-time.After(delay):
		}
		delay = min(2*delay, 30*time.Second)
	}
}

func (c *Controller) markDirty() {
	select {
	case c.dirty <- struct{}{}:
	default:
	}
}

func (c *Controller) rebuildLoop(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-c.dirty:
			c.rebuild()
		}
	}
}

// rebuild recomputes the route and certificate tables from the caches.
func (c *Controller) rebuild() {
	list, err := c.store.ingresses.List(labels.Everything())
	if err != nil {
		c.log.Error("listing cached ingresses", "err", err)
		return
	}
	classes := c.classes()
	served := slices.DeleteFunc(slices.Clone(list), func(ing *networkingv1.Ingress) bool { return !classes.serves(ing) })
	t := buildTable(served)
	c.router.table.Store(t)
	c.router.lb.retain(t.backendKeys())
	problems := map[string]bool{}
	for _, err := range c.certs.build(served, c.store) {
		problems[err.Error()] = true
		if !c.certProblems[err.Error()] {
			c.log.Warn("ingress TLS certificate unusable; its hosts get the fallback certificate", "err", err)
		}
	}
	c.certProblems = problems
}
