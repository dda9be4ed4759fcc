package agent

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	typedcorev1 "k8s.io/client-go/kubernetes/typed/core/v1"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/tools/record"
	"k8s.io/client-go/util/workqueue"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/container"
)

// Config configures a node agent.
type Config struct {
	// NodeName is the Node this agent registers and serves. Required.
	NodeName string
	// Labels are added to the Node's labels at registration (on top of
	// kubernetes.io/hostname, os and arch).
	Labels map[string]string
	// LeaseDuration is the node Lease's leaseDurationSeconds; the lease is
	// renewed every quarter of it.
	LeaseDuration time.Duration
	// StatusInterval is how often the Node's status is rewritten when
	// nothing changed (heartbeats in conditions).
	StatusInterval time.Duration
	// RelistInterval is how often the runtime is listed to notice
	// containers that exited (Kubernetes' PLEG relist).
	RelistInterval time.Duration
	// HousekeepingInterval is how often runtime objects of pods no longer
	// bound to the node are removed.
	HousekeepingInterval time.Duration
	// Network is the name of the bridge network pods are attached to; all
	// nodes of a cluster on one host share it. Empty derives it from the
	// cluster CIDR ("gantry-10.42.0.0-16"), so that two clusters on one
	// Docker host never share a network.
	Network string
	// StateDir holds pod volumes (emptyDir, configMap, secret …) and
	// termination-message files. It must be a path on the container
	// runtime's host.
	StateDir string
	// Addresses override the Node's addresses; empty detects the host's.
	Addresses []corev1.NodeAddress
	// KubeletVersion is reported in the Node's nodeInfo.
	KubeletVersion string
	// BackoffBase and BackoffMax bound the crash-loop back-off (10 s
	// doubling to 5 min in Kubernetes); BackoffReset is how long a
	// container must run for its back-off to start over.
	BackoffBase, BackoffMax, BackoffReset time.Duration
	// Workers is the number of pods synced at once.
	Workers int
	// StatsInterval is how often container and node usage is sampled for
	// the metrics API; CPU rates are averaged over it.
	StatsInterval time.Duration
	// StreamingPort is the TCP port of the agent's HTTPS endpoint for
	// logs, exec, attach and port-forward (the kubelet's 10250); 0 picks a
	// free port. It is published in the Node's daemonEndpoints.
	StreamingPort int
	// ClientCA (PEM) verifies the client certificates of callers of the
	// streaming endpoint (the API server). Empty accepts any caller: tests
	// only.
	ClientCA []byte
	// DialPod connects to a port of a pod for probes and lifecycle hooks.
	// Nil dials the pod's IP (or the node's loopback for host-network
	// pods); tests with a fake runtime replace it.
	DialPod func(ctx context.Context, pod PodAddress, port int) (net.Conn, error)
	// OnNetwork, if set, is called once per Run when the pod network is
	// set up, with the network (its gateway is the node's address on it)
	// and the cluster settings: the node starts its service proxy and
	// cluster DNS from them. It must not block.
	OnNetwork func(nw container.Network, settings api.ClusterSettings)
	// DrainEndpoints, if set, is called before a deleted pod's containers
	// get SIGTERM and returns once the pod's IPs no longer receive new
	// connections through services (the node's proxy has applied their
	// removal). The agent gives it at most half of the pod's grace period
	// and stops the containers within what remains; an error only ends
	// the wait.
	DrainEndpoints func(ctx context.Context, pod *corev1.Pod) error
	// Informers, if set, is an informer factory shared with the other
	// components of this node (its watches are unfiltered): the agent
	// takes its ConfigMap, Secret and Service informers from it and starts
	// them, and its owner shuts it down. Nil means a factory of its own.
	Informers informers.SharedInformerFactory
}

// PodAddress is where DialPod connects.
type PodAddress struct {
	IP          string
	SandboxID   string
	HostNetwork bool
}

// DefaultConfig returns the agent's defaults; NodeName must be set.
func DefaultConfig() Config {
	return Config{
		LeaseDuration:        20 * time.Second,
		StatusInterval:       time.Minute,
		RelistInterval:       time.Second,
		HousekeepingInterval: 2 * time.Second,
		StateDir:             "/var/lib/gantry/agent",
		BackoffBase:          10 * time.Second,
		BackoffMax:           5 * time.Minute,
		BackoffReset:         10 * time.Minute,
		Workers:              16,
		StreamingPort:        10250,
		StatsInterval:        10 * time.Second,
	}
}

// Agent is a node agent: it registers its Node, keeps its Lease and
// converges the container runtime to the pods bound to the node.
type Agent struct {
	cfg    Config
	client kubernetes.Interface
	rt     container.Runtime
	log    *slog.Logger

	runtimeName   string // "docker", "fake": prefix of container IDs in status
	streamingPort int
	settings      api.ClusterSettings
	podCIDR       *net.IPNet
	gateway       net.IP

	pods       listerscorev1.PodLister
	configMaps listerscorev1.ConfigMapLister
	secrets    listerscorev1.SecretLister
	services   listerscorev1.ServiceLister
	queue      workqueue.TypedRateLimitingInterface[string]
	recorder   record.EventRecorder

	ipam    *ipam
	backoff *backoff
	probes  *probeManager
	relist  *relister
	stats   *statsCollector
	tokens  *tokenManager

	// known remembers the last spec seen of each pod by UID, so that a pod
	// deleted from the API at once is still stopped with its grace period.
	mu    sync.Mutex
	known map[types.UID]*corev1.Pod
	// errs are the last configuration errors per container
	// (CreateContainerConfigError, image errors), reported in status.
	waiting map[containerKey]waitingReason
	// pullFailures are when each container's image last failed to pull.
	pullFailures map[containerKey]time.Time
	// hostIPs are the node's addresses for status.hostIP(s).
	hostIPs []string
}

type containerKey struct {
	uid  types.UID
	name string
}

type waitingReason struct {
	reason, message string
}

// New returns an agent. It does no I/O.
func New(cfg Config, client kubernetes.Interface, rt container.Runtime, log *slog.Logger) *Agent {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := DefaultConfig()
	if cfg.LeaseDuration <= 0 {
		cfg.LeaseDuration = d.LeaseDuration
	}
	if cfg.StatusInterval <= 0 {
		cfg.StatusInterval = d.StatusInterval
	}
	if cfg.RelistInterval <= 0 {
		cfg.RelistInterval = d.RelistInterval
	}
	if cfg.HousekeepingInterval <= 0 {
		cfg.HousekeepingInterval = d.HousekeepingInterval
	}
	if cfg.BackoffBase <= 0 {
		cfg.BackoffBase, cfg.BackoffMax = d.BackoffBase, d.BackoffMax
	}
	if cfg.BackoffMax < cfg.BackoffBase {
		cfg.BackoffMax = cfg.BackoffBase
	}
	if cfg.BackoffReset <= 0 {
		cfg.BackoffReset = d.BackoffReset
	}
	if cfg.StatsInterval <= 0 {
		cfg.StatsInterval = d.StatsInterval
	}
	if cfg.Workers <= 0 {
		cfg.Workers = d.Workers
	}
	a := &Agent{
		cfg:          cfg,
		client:       client,
		rt:           rt,
		log:          log.With("component", "agent", "node", cfg.NodeName),
		known:        map[types.UID]*corev1.Pod{},
		waiting:      map[containerKey]waitingReason{},
		pullFailures: map[containerKey]time.Time{},
		backoff:      newBackoff(cfg.BackoffBase, cfg.BackoffMax, cfg.BackoffReset),
	}
	a.stats = newStatsCollector(a)
	a.tokens = newTokenManager(client, a.log)
	if a.cfg.DialPod == nil {
		a.cfg.DialPod = dialPodIP
	}
	return a
}

// ErrNoPodCIDR means the control plane has not assigned the node a pod
// CIDR (is the node IPAM controller running?).
var ErrNoPodCIDR = errors.New("agent: node has no spec.podCIDR")

// Run registers the node and serves it until ctx ends. Containers keep
// running when it returns: a restarted agent adopts them.
func (a *Agent) Run(ctx context.Context) error {
	if a.cfg.NodeName == "" {
		return errors.New("agent: NodeName is required")
	}
	if err := a.readSettings(ctx); err != nil {
		return err
	}
	a.runtimeName = "docker"
	if v, ok := a.rt.(container.Versioner); ok {
		if s, err := v.Version(ctx); err == nil {
			if name, _, ok := cutScheme(s); ok {
				a.runtimeName = name
			}
		}
	}
	port, err := a.serveStreaming(ctx)
	if err != nil {
		return err
	}
	a.streamingPort = port
	node, err := a.registerNode(ctx)
	if err != nil {
		return err
	}
	go a.runLease(ctx)
	node, err = a.waitForPodCIDR(ctx, node)
	if err != nil {
		return err
	}
	if err := a.setupNetwork(ctx, node); err != nil {
		return err
	}

	broadcaster := record.NewBroadcaster(record.WithContext(ctx))
	broadcaster.StartRecordingToSink(&typedcorev1.EventSinkImpl{Interface: a.client.CoreV1().Events("")})
	defer broadcaster.Shutdown()
	a.recorder = broadcaster.NewRecorder(scheme.Scheme, corev1.EventSource{Component: "kubelet", Host: a.cfg.NodeName})

	a.queue = workqueue.NewTypedRateLimitingQueueWithConfig(
		workqueue.NewTypedItemExponentialFailureRateLimiter[string](200*time.Millisecond, 30*time.Second),
		workqueue.TypedRateLimitingQueueConfig[string]{Name: "agent"})
	defer a.queue.ShutDown()

	podInformers := informers.NewSharedInformerFactoryWithOptions(a.client, 0,
		informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = fields.OneTermEqualSelector("spec.nodeName", a.cfg.NodeName).String()
		}))
	podInformer := podInformers.Core().V1().Pods()
	a.pods = podInformer.Lister()
	if _, err := podInformer.Informer().AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    func(obj any) { a.enqueuePod(obj) },
		UpdateFunc: func(_, obj any) { a.enqueuePod(obj) },
		DeleteFunc: func(obj any) { a.enqueuePod(obj) },
	}); err != nil {
		return err
	}
	shared := a.cfg.Informers
	if shared == nil {
		shared = informers.NewSharedInformerFactory(a.client, 0)
		defer shared.Shutdown()
	}
	a.configMaps = shared.Core().V1().ConfigMaps().Lister()
	a.secrets = shared.Core().V1().Secrets().Lister()
	a.services = shared.Core().V1().Services().Lister()
	for _, inf := range []cache.SharedIndexInformer{shared.Core().V1().ConfigMaps().Informer(), shared.Core().V1().Secrets().Informer()} {
		if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
			AddFunc:    a.enqueueReferencing,
			UpdateFunc: func(_, obj any) { a.enqueueReferencing(obj) },
		}); err != nil {
			return err
		}
	}
	podInformers.Start(ctx.Done())
	shared.Start(ctx.Done())
	defer podInformers.Shutdown()
	for typ, ok := range podInformers.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("agent: %v cache did not sync", typ)
		}
	}
	for typ, ok := range shared.WaitForCacheSync(ctx.Done()) {
		if !ok {
			return fmt.Errorf("agent: %v cache did not sync", typ)
		}
	}

	if err := a.ipam.recover(ctx, a.rt); err != nil {
		return err
	}
	a.probes = newProbeManager(a)
	a.relist = newRelister(a)

	var wg sync.WaitGroup
	for range a.cfg.Workers {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	wg.Go(func() { a.relist.run(ctx) })
	wg.Go(func() { a.stats.run(ctx) })
	wg.Go(func() { a.runHousekeeping(ctx) })
	wg.Go(func() { a.runNodeStatus(ctx) })
	a.log.Info("node agent is ready", "podCIDR", a.podCIDR.String())
	<-ctx.Done()
	a.queue.ShutDown()
	a.probes.stopAll()
	wg.Wait()
	return nil
}

func (a *Agent) readSettings(ctx context.Context) error {
	var last error
	for {
		cm, err := a.client.CoreV1().ConfigMaps(metav1.NamespaceSystem).Get(ctx, api.ClusterSettingsName, metav1.GetOptions{})
		if err == nil {
			s, err := api.ParseClusterSettings(cm.Data)
			if err != nil {
				return fmt.Errorf("agent: %w", err)
			}
			a.settings = s
			return nil
		}
		if !apierrors.IsNotFound(err) && last == nil {
			a.log.Warn("cannot read cluster settings, retrying", "err", err)
		}
		last = err
		select {
		case <-ctx.Done():
			return fmt.Errorf("agent: cluster settings %s/%s: %w", metav1.NamespaceSystem, api.ClusterSettingsName, last)
		case <-time.After(500 * time.Millisecond):
		}
	}
}

func (a *Agent) enqueuePod(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	a.mu.Lock()
	a.known[pod.UID] = pod
	a.mu.Unlock()
	a.queue.Add(pod.Namespace + "/" + pod.Name)
}

func (a *Agent) processNext(ctx context.Context) bool {
	key, quit := a.queue.Get()
	if quit {
		return false
	}
	defer a.queue.Done(key)
	requeue, err := a.syncPod(ctx, key)
	switch {
	case err != nil && ctx.Err() == nil:
		a.log.Debug("pod sync failed, retrying", "pod", key, "err", err)
		a.queue.AddRateLimited(key)
	case requeue > 0:
		a.queue.Forget(key)
		a.queue.AddAfter(key, requeue)
	default:
		a.queue.Forget(key)
	}
	return true
}

// runHousekeeping removes runtime objects of pods that are no longer
// bound to the node.
func (a *Agent) runHousekeeping(ctx context.Context) {
	t := time.NewTicker(a.cfg.HousekeepingInterval)
	defer t.Stop()
	for {
		if err := a.housekeep(ctx); err != nil && ctx.Err() == nil {
			a.log.Debug("housekeeping failed", "err", err)
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func cutScheme(s string) (scheme, rest string, ok bool) {
	for i := 0; i+2 < len(s); i++ {
		if s[i] == ':' && s[i+1] == '/' && s[i+2] == '/' {
			return s[:i], s[i+3:], true
		}
	}
	return "", s, false
}

func dialPodIP(ctx context.Context, pod PodAddress, port int) (net.Conn, error) {
	host := pod.IP
	if pod.HostNetwork || host == "" {
		host = "127.0.0.1"
	}
	var d net.Dialer
	return d.DialContext(ctx, "tcp", net.JoinHostPort(host, strconv.Itoa(port)))
}
