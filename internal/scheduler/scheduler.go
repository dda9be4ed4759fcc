package scheduler

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"maps"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	corelisters "k8s.io/client-go/listers/core/v1"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/logging"
	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// ErrAlreadyRun is returned by Run when the Scheduler has run before.
var ErrAlreadyRun = errors.New("scheduler: already run")

// Scheduler places pending pods on nodes.
type Scheduler struct {
	cfg     Config
	client  kubernetes.Interface
	log     *slog.Logger
	metrics *metrics

	// podFactory and factory are one shared factory when New was given
	// one, else two of the scheduler's own (ownFactories), which Run
	// starts and shuts down.
	podFactory, factory informers.SharedInformerFactory
	ownFactories        bool
	nsLister            corelisters.NamespaceLister
	synced              []cache.InformerSynced

	cache  *clusterCache
	queue  *queue
	cycle  *cycle
	snap   snapshotState
	events *eventSink

	bindSem chan struct{}
	async   sync.WaitGroup // binds and status writes in flight

	mu  sync.Mutex
	ran bool
}

// New builds a scheduler that watches pods and nodes through client and
// binds pods with pods/binding. It does no I/O. Its informers come from
// factory, shared with other components (the caller starts and shuts it
// down), or when factory is nil from factories of its own, whose pod
// informer leaves finished pods out, as kube-scheduler's does.
func New(cfg Config, client kubernetes.Interface, factory informers.SharedInformerFactory, log *slog.Logger) (*Scheduler, error) {
	cfg = cfg.withDefaults()
	s := &Scheduler{
		cfg:     cfg,
		client:  client,
		log:     logging.Component(log, "scheduler"),
		cache:   newCache(),
		queue:   newQueue(cfg.PodInitialBackoff, cfg.PodMaxBackoff),
		cycle:   newCycle(newProfile(cfg), cfg),
		bindSem: make(chan struct{}, cfg.BindConcurrency),
	}
	s.metrics = newMetrics(s.queue)
	s.events = newEventSink(client, cfg.SchedulerName, s.metrics)
	if factory != nil {
		s.podFactory, s.factory = factory, factory
	} else {
		// Finished pods hold no resources: leave them out of the pod
		// cache. (A shared pod informer has them; the event handlers
		// ignore them.)
		s.ownFactories = true
		s.podFactory = informers.NewSharedInformerFactoryWithOptions(client, 0, informers.WithTweakListOptions(func(o *metav1.ListOptions) {
			o.FieldSelector = "status.phase!=" + string(corev1.PodSucceeded) + ",status.phase!=" + string(corev1.PodFailed)
		}))
		s.factory = informers.NewSharedInformerFactory(client, 0)
	}
	pods := s.podFactory.Core().V1().Pods().Informer()
	nodes := s.factory.Core().V1().Nodes().Informer()
	ns := s.factory.Core().V1().Namespaces()
	s.nsLister = ns.Lister()
	s.synced = []cache.InformerSynced{pods.HasSynced, nodes.HasSynced, ns.Informer().HasSynced}
	if _, err := pods.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onPodAdd,
		UpdateFunc: s.onPodUpdate,
		DeleteFunc: s.onPodDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: pod event handler: %w", err)
	}
	if _, err := nodes.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    s.onNodeAdd,
		UpdateFunc: s.onNodeUpdate,
		DeleteFunc: s.onNodeDelete,
	}); err != nil {
		return nil, fmt.Errorf("scheduler: node event handler: %w", err)
	}
	return s, nil
}

// Run schedules pods until ctx ends. It may be called once.
func (s *Scheduler) Run(ctx context.Context) error {
	s.mu.Lock()
	if s.ran {
		s.mu.Unlock()
		return ErrAlreadyRun
	}
	s.ran = true
	s.mu.Unlock()

	s.podFactory.Start(ctx.Done())
	s.factory.Start(ctx.Done())
	if s.ownFactories {
		defer s.factory.Shutdown()
		defer s.podFactory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.synced...) {
		return nil // ctx ended
	}
	var bg sync.WaitGroup
	defer bg.Wait()
	bg.Go(func() { s.events.run(ctx) })
	bg.Go(func() { s.flushLoop(ctx) })
	s.log.Info("scheduler started", "schedulerName", s.cfg.SchedulerName)
	for {
		p := s.queue.pop(ctx)
		if p == nil {
			break
		}
		s.scheduleOne(ctx, p)
	}
	s.async.Wait()
	return nil
}

// flushLoop moves pods whose back-off is over, and parked pods after
// UnschedulableFlushInterval.
func (s *Scheduler) flushLoop(ctx context.Context) {
	t := time.NewTicker(100 * time.Millisecond)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.queue.flush(s.cfg.UnschedulableFlushInterval)
		}
	}
}

// responsible reports whether pod is pending and ours to schedule.
func (s *Scheduler) responsible(pod *corev1.Pod) bool {
	if pod.Spec.NodeName != "" || len(pod.Spec.SchedulingGates) > 0 {
		return false
	}
	name := pod.Spec.SchedulerName
	return name == s.cfg.SchedulerName || name == "" && s.cfg.SchedulerName == DefaultSchedulerName
}

func terminal(pod *corev1.Pod) bool {
	return pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed
}

func (s *Scheduler) onPodAdd(obj any) {
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	switch {
	case terminal(pod):
	case pod.Spec.NodeName != "":
		s.cache.addPod(pod)
	case s.responsible(pod):
		s.queue.add(pod)
	}
}

func (s *Scheduler) onPodUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Pod)
	pod, ok2 := newObj.(*corev1.Pod)
	if !ok1 || !ok2 {
		return
	}
	switch {
	case terminal(pod):
		s.cache.removePod(pod.UID)
		s.queue.remove(pod.UID)
		s.queue.moveAll()
	case pod.Spec.NodeName != "":
		if old.Spec.NodeName == "" {
			s.queue.remove(pod.UID)
		}
		s.cache.addPod(pod)
		// New labels may satisfy (anti-)affinity or spreading.
		if !maps.Equal(old.Labels, pod.Labels) {
			s.queue.moveAll()
		}
	case s.responsible(pod):
		if s.cache.has(pod.UID) {
			return // assumed: binding in flight
		}
		if !s.queue.update(pod) {
			s.queue.add(pod)
		}
	default:
		s.queue.remove(pod.UID)
	}
}

func (s *Scheduler) onPodDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	pod, ok := obj.(*corev1.Pod)
	if !ok {
		return
	}
	s.queue.remove(pod.UID)
	if s.cache.has(pod.UID) {
		s.cache.removePod(pod.UID)
		s.queue.moveAll()
	}
}

func (s *Scheduler) onNodeAdd(obj any) {
	if node, ok := obj.(*corev1.Node); ok {
		s.cache.setNode(node)
		s.queue.moveAll()
	}
}

func (s *Scheduler) onNodeUpdate(oldObj, newObj any) {
	old, ok1 := oldObj.(*corev1.Node)
	node, ok2 := newObj.(*corev1.Node)
	if !ok1 || !ok2 {
		return
	}
	s.cache.setNode(node)
	// Heartbeats change nothing a pod cares about; these may help.
	if isCandidate(old) != isCandidate(node) || old.Spec.Unschedulable != node.Spec.Unschedulable ||
		!maps.Equal(old.Labels, node.Labels) || !equality.Semantic.DeepEqual(old.Spec.Taints, node.Spec.Taints) ||
		!equality.Semantic.DeepEqual(old.Status.Allocatable, node.Status.Allocatable) {
		s.queue.moveAll()
	}
}

func (s *Scheduler) onNodeDelete(obj any) {
	if t, ok := obj.(cache.DeletedFinalStateUnknown); ok {
		obj = t.Obj
	}
	if node, ok := obj.(*corev1.Node); ok {
		s.cache.removeNode(node.Name)
	}
}

func (s *Scheduler) namespaceLabels(ns string) labels.Set {
	n, err := s.nsLister.Get(ns)
	if err != nil {
		return nil
	}
	return n.Labels
}

// scheduleOne runs one pod's scheduling cycle and starts its binding.
func (s *Scheduler) scheduleOne(ctx context.Context, p *queuedPod) {
	pod := p.pod
	if pod.DeletionTimestamp != nil || s.cache.has(pod.UID) {
		s.queue.done(pod.UID)
		return
	}
	start := time.Now()
	s.cache.updateSnapshot(&s.snap)
	snap := s.snap.snap
	snap.NamespaceLabels = s.namespaceLabels
	pi := framework.NewPodInfo(pod)
	state := framework.NewCycleState()
	node, err := s.cycle.schedule(state, pi, snap)
	if err != nil {
		s.handleFailure(ctx, p, state, pi, snap, err)
		s.metrics.observe(resultFor(err), time.Since(start))
		return
	}
	assumed := pod.DeepCopy()
	assumed.Spec.NodeName = node
	api := *pi
	api.Pod = assumed
	s.cache.assume(&api)
	s.metrics.observe(resultScheduled, time.Since(start))
	s.bind(ctx, p, assumed)
}

// bind posts the binding asynchronously; on failure the pod is forgotten
// and tried again after its back-off.
func (s *Scheduler) bind(ctx context.Context, p *queuedPod, assumed *corev1.Pod) {
	select {
	case s.bindSem <- struct{}{}:
	case <-ctx.Done():
		s.cache.forget(assumed.UID)
		return
	}
	s.async.Go(func() {
		defer func() { <-s.bindSem }()
		node := assumed.Spec.NodeName
		err := s.client.CoreV1().Pods(assumed.Namespace).Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: assumed.Name, Namespace: assumed.Namespace, UID: assumed.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
		if err != nil {
			s.cache.forget(assumed.UID)
			s.metrics.bindErrors.Inc()
			if apierrors.IsNotFound(err) || ctx.Err() != nil {
				s.queue.remove(assumed.UID)
				return
			}
			s.log.Debug("binding failed", "pod", klogRef(assumed), "node", node, "err", err)
			s.events.emit(assumed, corev1.EventTypeWarning, "FailedScheduling", "Binding rejected: "+err.Error())
			s.queue.failed(p, false)
			return
		}
		s.queue.done(assumed.UID)
		s.events.emit(assumed, corev1.EventTypeNormal, "Scheduled", fmt.Sprintf("Successfully assigned %s/%s to %s", assumed.Namespace, assumed.Name, node))
	})
}

func klogRef(pod *corev1.Pod) string { return pod.Namespace + "/" + pod.Name }

// handleFailure explains why pod was not scheduled (condition and event),
// preempts if that can help, and parks or backs the pod off.
func (s *Scheduler) handleFailure(ctx context.Context, p *queuedPod, state *framework.CycleState, pi *framework.PodInfo, snap *framework.Snapshot, err error) {
	pod := p.pod
	reason := corev1.PodReasonUnschedulable
	var fe *fitError
	switch {
	case errors.As(err, &fe):
		msg, candidates := s.cycle.evaluatePreemption(state, pi, snap, fe)
		fe.postFilterMsg = msg
		if len(candidates) > 0 {
			s.preempt(ctx, pod, pickCandidate(candidates))
		}
	case errors.Is(err, ErrNoNodes):
	default:
		reason = corev1.PodReasonSchedulerError
		s.log.Warn("scheduling failed", "pod", klogRef(pod), "err", err)
	}
	msg := err.Error()
	s.queue.failed(p, reason == corev1.PodReasonUnschedulable)
	s.events.emit(pod, corev1.EventTypeWarning, "FailedScheduling", msg)
	s.setCondition(ctx, pod, reason, msg)
}

// setCondition records PodScheduled=False with reason and message, unless
// the pod already says so.
func (s *Scheduler) setCondition(ctx context.Context, pod *corev1.Pod, reason, msg string) {
	for _, c := range pod.Status.Conditions {
		if c.Type == corev1.PodScheduled && c.Status == corev1.ConditionFalse && c.Reason == reason && c.Message == msg {
			return
		}
	}
	s.async.Go(func() {
		patch := fmt.Appendf(nil, `{"status":{"conditions":[{"type":%q,"status":"False","reason":%q,"message":%q,"lastTransitionTime":%q,"lastProbeTime":null}]}}`,
			corev1.PodScheduled, reason, msg, time.Now().UTC().Format(time.RFC3339))
		_, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, "application/strategic-merge-patch+json", patch, metav1.PatchOptions{}, "status")
		if err != nil && !apierrors.IsNotFound(err) && ctx.Err() == nil {
			s.log.Debug("recording unschedulable condition", "pod", klogRef(pod), "err", err)
		}
	})
}

// preempt deletes the victims chosen on a node and nominates the node
// for pod, which is tried again once the victims are gone.
func (s *Scheduler) preempt(ctx context.Context, pod *corev1.Pod, c preemptionCandidate) {
	s.log.Info("preempting", "pod", klogRef(pod), "node", c.node, "victims", len(c.victims))
	s.metrics.preemptions.Add(float64(len(c.victims)))
	for _, v := range c.victims {
		s.events.emit(v, corev1.EventTypeNormal, "Preempted", fmt.Sprintf("Preempted by pod %s on node %s", pod.UID, c.node))
		err := s.client.CoreV1().Pods(v.Namespace).Delete(ctx, v.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &v.UID}})
		if err != nil && !apierrors.IsNotFound(err) {
			s.log.Warn("preemption: deleting victim", "pod", klogRef(v), "err", err)
		}
	}
	patch := fmt.Appendf(nil, `{"status":{"nominatedNodeName":%q}}`, c.node)
	if _, err := s.client.CoreV1().Pods(pod.Namespace).Patch(ctx, pod.Name, "application/strategic-merge-patch+json", patch, metav1.PatchOptions{}, "status"); err != nil && !apierrors.IsNotFound(err) {
		s.log.Debug("preemption: nominating node", "pod", klogRef(pod), "err", err)
	}
}
