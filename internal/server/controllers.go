package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	appsv1 "k8s.io/api/apps/v1"
	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	"k8s.io/client-go/metadata"
	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	metricsv1beta1 "k8s.io/metrics/pkg/client/clientset/versioned/typed/metrics/v1beta1"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/controller"
	"github.com/gantry-dev/gantry/internal/controller/disruption"
	"github.com/gantry-dev/gantry/internal/controller/endpointslice"
	"github.com/gantry-dev/gantry/internal/controller/gc"
	"github.com/gantry-dev/gantry/internal/controller/hpa"
	"github.com/gantry-dev/gantry/internal/controller/namespace"
	"github.com/gantry-dev/gantry/internal/controller/nodeipam"
	"github.com/gantry-dev/gantry/internal/controller/nodelifecycle"
	"github.com/gantry-dev/gantry/internal/controller/rootcacert"
	"github.com/gantry-dev/gantry/internal/controller/serviceaccount"
	"github.com/gantry-dev/gantry/internal/controller/servicelb"
)

// startControllers builds API clients from cfg and starts the control-plane
// controllers, configured from sc, in goroutines (the root CA publisher
// publishes caPEM, the cluster CA certificate), registering their metrics
// with metrics. It returns once they are started; they stop when ctx ends,
// and wait blocks until they have.
func startControllers(ctx context.Context, sc Config, caPEM []byte, cfg *rest.Config, reg *api.Registry, metrics prometheus.Registerer, log *slog.Logger) (wait func(), err error) {
	clientConfig := func(name string) *rest.Config {
		c := rest.CopyConfig(cfg)
		if c.QPS == 0 {
			// client-go's default (5 QPS) would make namespace deletion,
			// which walks every resource, take seconds.
			c.QPS, c.Burst = 100, 200
		}
		c.UserAgent = "gantry-controller/" + name
		// Protobuf, as kube-controller-manager and kube-scheduler talk to
		// kube-apiserver (--kube-api-content-type): decoding every pod
		// event of every informer from JSON would cost several times more.
		// The dynamic and metadata clients choose their own formats.
		c.ContentType = runtime.ContentTypeProtobuf
		c.AcceptContentTypes = runtime.ContentTypeProtobuf + "," + runtime.ContentTypeJSON
		return c
	}

	// One informer factory for the controllers that use typed caches, the
	// scheduler and the garbage collector, so that each pod (and every
	// other object) is watched and decoded once, not once per component.
	// They start it; it is shut down once they stop. Its default resync
	// period only makes the resync periods that handlers ask for work
	// (client-go ignores them on an informer made without one); the
	// handlers that ask for none get it too, as in
	// kube-controller-manager (12 to 24 h).
	informerConfig := clientConfig("informers")
	informerConfig.QPS, informerConfig.Burst = -1, 0
	informerClient, err := kubernetes.NewForConfig(informerConfig)
	if err != nil {
		return nil, fmt.Errorf("informer client: %w", err)
	}
	factory := newSharedFactory(informerClient)

	// One event broadcaster for the controllers, as one informer factory:
	// each records as its own component through it. Its sink starts just
	// before the controllers do, and it stops once they have.
	eventsClient, err := kubernetes.NewForConfig(clientConfig("events"))
	if err != nil {
		return nil, fmt.Errorf("event client: %w", err)
	}
	events := record.NewBroadcaster(record.WithContext(ctx))
	started := false
	defer func() {
		if !started {
			events.Shutdown()
		}
	}()

	nsConfig := clientConfig(namespace.Name)
	kube, err := kubernetes.NewForConfig(nsConfig)
	if err != nil {
		return nil, fmt.Errorf("namespace controller client: %w", err)
	}
	dyn, err := dynamic.NewForConfig(nsConfig)
	if err != nil {
		return nil, fmt.Errorf("namespace controller client: %w", err)
	}
	namespaces, err := namespace.New(namespace.DefaultConfig(), kube, dyn, reg, factory, log)
	if err != nil {
		return nil, err
	}

	mdClient, err := metadata.NewForConfig(clientConfig(gc.Name))
	if err != nil {
		return nil, fmt.Errorf("garbage collector client: %w", err)
	}
	collector, err := gc.New(gc.DefaultConfig(), mdClient, reg, sharedForGC(factory), log)
	if err != nil {
		return nil, err
	}

	nodeControllers, err := newNodeControllers(sc, caPEM, clientConfig, factory, events, log)
	if err != nil {
		return nil, err
	}

	workloads, err := newWorkloadControllers(clientConfig, factory, events, log)
	if err != nil {
		return nil, err
	}

	policy, err := newPolicyControllers(clientConfig, factory, events, log)
	if err != nil {
		return nil, err
	}

	for _, c := range append(append(append(collector.Controller().Collectors(), namespaces.Controller().Collectors()...), nodeControllers.collectors()...), append(workloads.collectors, policy.collectors()...)...) {
		if err := register(metrics, c); err != nil {
			return nil, fmt.Errorf("controller metrics: %w", err)
		}
	}
	runs := map[string]func(context.Context) error{
		gc.Name:        collector.Run,
		namespace.Name: namespaces.Run,
	}
	maps.Copy(runs, nodeControllers.runs)
	maps.Copy(runs, workloads.runs)
	maps.Copy(runs, policy.runs)
	runs["informers"] = func(ctx context.Context) error {
		<-ctx.Done()
		factory.Shutdown()
		return nil
	}
	schedulerRun, err := newScheduler(clientConfig, factory, metrics, log)
	if err != nil {
		return nil, err
	}
	runs["scheduler"] = schedulerRun
	events.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: eventsClient.CoreV1().Events("")})
	started = true
	var wg sync.WaitGroup
	for name, run := range runs {
		wg.Go(func() {
			if err := run(ctx); err != nil {
				log.Error("controller stopped", "controller", name, "err", err)
			}
		})
	}
	return func() {
		wg.Wait()
		events.Shutdown()
	}, nil
}

// sharedResyncPeriod is the shared informer factory's default resync.
const sharedResyncPeriod = 12 * time.Hour

// newSharedFactory makes the informer factory the controllers, the
// scheduler and the garbage collector share: with a default resync period
// (without one, client-go ignores the periods that handlers ask for) and
// without managed fields in its caches.
func newSharedFactory(client kubernetes.Interface) informers.SharedInformerFactory {
	return informers.NewSharedInformerFactoryWithOptions(client, sharedResyncPeriod, informers.WithTransform(api.DropManagedFields))
}

// gcShared are the resources whose typed informers the controllers or the
// scheduler take from the shared factory: the garbage collector uses these
// instead of watching their metadata again. (A resource listed here that
// no controller used would cost a typed cache instead of a metadata one,
// nothing worse.)
var gcShared = []schema.GroupVersionResource{
	corev1.SchemeGroupVersion.WithResource("pods"),
	corev1.SchemeGroupVersion.WithResource("nodes"),
	corev1.SchemeGroupVersion.WithResource("services"),
	appsv1.SchemeGroupVersion.WithResource("replicasets"),
	appsv1.SchemeGroupVersion.WithResource("deployments"),
	appsv1.SchemeGroupVersion.WithResource("daemonsets"),
	appsv1.SchemeGroupVersion.WithResource("statefulsets"),
	appsv1.SchemeGroupVersion.WithResource("controllerrevisions"),
	batchv1.SchemeGroupVersion.WithResource("jobs"),
	batchv1.SchemeGroupVersion.WithResource("cronjobs"),
	discoveryv1.SchemeGroupVersion.WithResource("endpointslices"),
	policyv1.SchemeGroupVersion.WithResource("poddisruptionbudgets"),
}

// sharedForGC gives the garbage collector factory's informers of gcShared.
func sharedForGC(factory informers.SharedInformerFactory) gc.SharedInformers {
	return func(gvr schema.GroupVersionResource) cache.SharedIndexInformer {
		if !slices.Contains(gcShared, gvr) {
			return nil
		}
		inf, err := factory.ForResource(gvr)
		if err != nil {
			return nil
		}
		return inf.Informer()
	}
}

// register registers c, replacing a collector registered under the same
// descriptors before: controllers are built again each time this server
// wins the leader election.
func register(r prometheus.Registerer, c prometheus.Collector) error {
	err := r.Register(c)
	var are prometheus.AlreadyRegisteredError
	if errors.As(err, &are) {
		r.Unregister(are.ExistingCollector)
		err = r.Register(c)
	}
	return err
}

// builtController is a started-later controller: its Run and its work-queue
// collectors.
type builtController interface {
	Run(ctx context.Context) error
	Controller() *controller.Controller
}

// nodeControllerSet holds the node, service and service-account
// controllers (issue 4, item 7) by name.
type nodeControllerSet struct {
	runs  map[string]func(context.Context) error
	built []builtController
}

func (s nodeControllerSet) collectors() []prometheus.Collector {
	var out []prometheus.Collector
	for _, b := range s.built {
		out = append(out, b.Controller().Collectors()...)
	}
	return out
}

// newNodeControllers builds node IPAM, node lifecycle, EndpointSlice,
// ServiceAccount, root CA certificate (publishing caPEM) and service load
// balancer controllers, each with its own typed client, on the shared
// informer factory.
func newNodeControllers(sc Config, caPEM []byte, clientConfig func(name string) *rest.Config, factory informers.SharedInformerFactory, events record.EventBroadcaster, log *slog.Logger) (nodeControllerSet, error) {
	set := nodeControllerSet{runs: map[string]func(context.Context) error{}}
	add := func(name string, build func(kube kubernetes.Interface) (builtController, error)) error {
		kube, err := kubernetes.NewForConfig(clientConfig(name))
		if err != nil {
			return fmt.Errorf("%s controller client: %w", name, err)
		}
		b, err := build(kube)
		if err != nil {
			return err
		}
		set.runs[name] = b.Run
		set.built = append(set.built, b)
		return nil
	}
	err := add(nodeipam.Name, func(kube kubernetes.Interface) (builtController, error) {
		cfg := nodeipam.DefaultConfig()
		cfg.Events = events
		cfg.ClusterCIDR, cfg.MaskSize = sc.ClusterCIDR, sc.NodeCIDRMaskSize
		return nodeipam.New(cfg, kube, factory, log)
	})
	if err == nil {
		err = add(serviceaccount.Name, func(kube kubernetes.Interface) (builtController, error) {
			return serviceaccount.New(serviceaccount.DefaultConfig(), kube, factory, log)
		})
	}
	if err == nil {
		err = add(rootcacert.Name, func(kube kubernetes.Interface) (builtController, error) {
			cfg := rootcacert.DefaultConfig()
			cfg.CACert = caPEM
			return rootcacert.New(cfg, kube, factory, log)
		})
	}
	if err == nil {
		err = add(endpointslice.Name, func(kube kubernetes.Interface) (builtController, error) {
			return endpointslice.New(endpointslice.DefaultConfig(), kube, factory, log)
		})
	}
	if err == nil {
		err = add(nodelifecycle.Name, func(kube kubernetes.Interface) (builtController, error) {
			cfg := nodelifecycle.DefaultConfig()
			cfg.Events = events
			cfg.NodeMonitorGracePeriod, cfg.DefaultTolerationSeconds = sc.NodeMonitorGracePeriod, sc.DefaultTolerationSeconds
			return nodelifecycle.New(cfg, kube, factory, log)
		})
	}
	if err == nil {
		err = add(servicelb.Name, func(kube kubernetes.Interface) (builtController, error) {
			// Ports this server itself listens on in front of the node
			// addresses; a LoadBalancer service on one would shadow it.
			cfg := servicelb.DefaultConfig()
			cfg.Events = events
			reserve := func(port int, owner string) {
				if port > 0 {
					cfg.ReservedPorts = append(cfg.ReservedPorts, servicelb.ReservedPort{Port: int32(port), Owner: owner})
				}
			}
			reserve(sc.IngressHTTPPort, "the ingress controller")
			reserve(sc.IngressHTTPSPort, "the ingress controller")
			reserve(sc.Port, "the API server")
			reserve(10250, "the node agent")
			return servicelb.New(cfg, kube, factory, log)
		})
	}
	return set, err
}

// newPolicyControllers builds the disruption-budget and horizontal pod
// autoscaler controllers (issue 4) on the controllers' shared informer
// factory; their clients are not rate limited, as the workload
// controllers' are not: the API server is in the same process. The autoscaler reads usage through the
// resource metrics API (metrics.k8s.io), which the API server serves.
func newPolicyControllers(clientConfig func(name string) *rest.Config, factory informers.SharedInformerFactory, events record.EventBroadcaster, log *slog.Logger) (nodeControllerSet, error) {
	set := nodeControllerSet{runs: map[string]func(context.Context) error{}}
	client := func(name string) (kubernetes.Interface, error) {
		c := clientConfig(name)
		c.QPS, c.Burst = -1, 0
		kube, err := kubernetes.NewForConfig(c)
		if err != nil {
			return nil, fmt.Errorf("%s controller client: %w", name, err)
		}
		return kube, nil
	}
	pdbClient, err := client(disruption.Name)
	if err != nil {
		return set, err
	}
	disruptionCfg := disruption.DefaultConfig()
	disruptionCfg.Events = events
	budgets, err := disruption.New(disruptionCfg, pdbClient, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[disruption.Name] = budgets.Run
	set.built = append(set.built, budgets)

	hpaClient, err := client(hpa.Name)
	if err != nil {
		return set, err
	}
	metricsConfig := clientConfig(hpa.Name)
	metricsConfig.QPS, metricsConfig.Burst = -1, 0
	// metrics.k8s.io is served as JSON only.
	metricsConfig.ContentType, metricsConfig.AcceptContentTypes = runtime.ContentTypeJSON, runtime.ContentTypeJSON
	metricsClient, err := metricsv1beta1.NewForConfig(metricsConfig)
	if err != nil {
		return set, fmt.Errorf("%s metrics client: %w", hpa.Name, err)
	}
	hpaCfg := hpa.DefaultConfig()
	hpaCfg.Events = events
	autoscalers, err := hpa.New(hpaCfg, hpaClient, hpa.APIMetrics{Client: metricsClient}, factory, log)
	if err != nil {
		return set, err
	}
	set.runs[hpa.Name] = autoscalers.Run
	set.built = append(set.built, autoscalers)

	return set, nil
}
