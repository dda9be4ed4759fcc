package testcluster

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"
	"k8s.io/client-go/util/workqueue"
)

// StubAgentOptions tune StartStubAgent.
type StubAgentOptions struct {
	// Namespace limits the agent to the pods of one namespace (required, so
	// that tests sharing a cluster do not interfere).
	Namespace string
	// Node is the name of the Node object pods are bound to; created if
	// missing. Default "stub-node".
	Node string
	// Ready decides whether a pod becomes Running and Ready; nil: all do.
	// Pods refused stay Pending (bound) until a later event accepts them.
	Ready func(*corev1.Pod) bool
}

// StubAgent plays a node agent for controller scenario tests while no real
// agent runs: it binds every pod of its namespace to a fake Node through
// the pods/binding subresource (unless a scheduler bound it first), reports
// it Running and Ready through the status subresource, whatever its node,
// and completes graceful deletions (deleting with grace period 0), as an
// agent does once containers stopped.
type StubAgent struct {
	opts   StubAgentOptions
	kube   kubernetes.Interface
	queue  workqueue.TypedRateLimitingInterface[string]
	lister func(ns, name string) (*corev1.Pod, bool)

	mu     sync.Mutex
	errors []error
}

// StartStubAgent starts a StubAgent on c; it stops when the test ends.
func (c *Cluster) StartStubAgent(t testing.TB, opts StubAgentOptions) *StubAgent {
	t.Helper()
	if opts.Namespace == "" {
		t.Fatal("StubAgentOptions.Namespace is required")
	}
	if opts.Node == "" {
		opts.Node = "stub-node"
	}
	ctx, cancel := context.WithCancel(context.Background())
	_, err := c.Client.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: opts.Node}}, metav1.CreateOptions{})
	if err != nil && !apierrors.IsAlreadyExists(err) {
		cancel()
		t.Fatalf("stub agent: create node: %v", err)
	}
	c.Heartbeat(t, opts.Node) // or the node lifecycle controller evicts its pods
	a := &StubAgent{
		opts: opts,
		kube: c.Client,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](
			5*time.Millisecond, 500*time.Millisecond)),
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(opts.Namespace))
	inf := factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			a.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{
		AddFunc:    enqueue,
		UpdateFunc: func(_, obj any) { enqueue(obj) },
	}); err != nil {
		cancel()
		t.Fatal(err)
	}
	a.lister = func(ns, name string) (*corev1.Pod, bool) {
		obj, ok, err := inf.GetIndexer().GetByKey(ns + "/" + name)
		if err != nil || !ok {
			return nil, false
		}
		return obj.(*corev1.Pod), true
	}
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for a.processNext(ctx) {
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		a.queue.ShutDown()
		wg.Wait()
		factory.Shutdown()
		for _, err := range a.Errors() {
			t.Logf("stub agent: %v", err)
		}
	})
	return a
}

// Errors returns the unexpected API errors the agent met (it retried them).
func (a *StubAgent) Errors() []error {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]error(nil), a.errors...)
}

// Requeue makes the agent look at every pod of its namespace again (after
// the verdict of Options.Ready changed).
func (a *StubAgent) Requeue(ctx context.Context) error {
	pods, err := a.kube.CoreV1().Pods(a.opts.Namespace).List(ctx, metav1.ListOptions{})
	if err != nil {
		return err
	}
	for _, p := range pods.Items {
		a.queue.Add(p.Namespace + "/" + p.Name)
	}
	return nil
}

func (a *StubAgent) processNext(ctx context.Context) bool {
	key, shutdown := a.queue.Get()
	if shutdown {
		return false
	}
	defer a.queue.Done(key)
	if err := a.sync(ctx, key); err != nil && ctx.Err() == nil {
		if !apierrors.IsConflict(err) {
			a.mu.Lock()
			a.errors = append(a.errors, err)
			a.mu.Unlock()
		}
		a.queue.AddRateLimited(key)
		return true
	}
	a.queue.Forget(key)
	return true
}

// sync moves one pod a step forward: delete if terminating, else bind,
// else report it running and ready.
func (a *StubAgent) sync(ctx context.Context, key string) error {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return nil
	}
	pod, ok := a.lister(ns, name)
	if !ok {
		return nil
	}
	pods := a.kube.CoreV1().Pods(ns)
	switch {
	case pod.DeletionTimestamp != nil:
		zero := int64(0)
		err := pods.Delete(ctx, name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName == "":
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: a.opts.Node},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil // gone, or bound meanwhile: a later event says which
		}
		return err
	case a.opts.Ready != nil && !a.opts.Ready(pod):
		return nil
	case pod.Status.Phase == corev1.PodRunning && podReady(pod):
		return nil
	}
	next := pod.DeepCopy()
	now := metav1.Now().Rfc3339Copy()
	next.Status.Phase = corev1.PodRunning
	next.Status.PodIP = "10.42.0.1"
	if next.Status.StartTime == nil {
		next.Status.StartTime = &now
	}
	for _, t := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReady} {
		setCondition(next, corev1.PodCondition{Type: t, Status: corev1.ConditionTrue, LastTransitionTime: now})
	}
	next.Status.ContainerStatuses = nil
	for _, c := range pod.Spec.Containers {
		next.Status.ContainerStatuses = append(next.Status.ContainerStatuses, corev1.ContainerStatus{
			Name: c.Name, Image: c.Image, Ready: true, Started: ptrTrue(),
			State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: now}},
		})
	}
	if _, err := pods.UpdateStatus(ctx, next, metav1.UpdateOptions{}); err != nil && !apierrors.IsNotFound(err) {
		return fmt.Errorf("pod %s status: %w", key, err)
	}
	return nil
}

func ptrTrue() *bool { b := true; return &b }

func podReady(p *corev1.Pod) bool {
	for _, c := range p.Status.Conditions {
		if c.Type == corev1.PodReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func setCondition(p *corev1.Pod, c corev1.PodCondition) {
	for i := range p.Status.Conditions {
		if p.Status.Conditions[i].Type == c.Type {
			if p.Status.Conditions[i].Status == c.Status {
				return
			}
			p.Status.Conditions[i] = c
			return
		}
	}
	p.Status.Conditions = append(p.Status.Conditions, c)
}
