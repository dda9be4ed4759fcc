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

// PodStubOptions tune StartPodStub.
type PodStubOptions struct {
	// Namespace limits the stub to the pods of one namespace (required).
	Namespace string
	// DefaultNode is where pods without a node-name affinity are bound;
	// empty leaves them unbound.
	DefaultNode string
	// Ready decides whether a bound pod is reported Running and Ready; nil:
	// all are. Pods refused stay as they are until a Requeue.
	Ready func(*corev1.Pod) bool
}

// PodStub plays the scheduler and the agents for controller tests on a
// cluster started without controllers: it binds each pod of its namespace
// to the node its required node affinity names by metadata.name (as
// DaemonSet pods carry) or else to DefaultNode, reports bound pods Running
// and Ready, and finishes graceful deletions (grace period 0). Nodes are
// the test's to create.
type PodStub struct {
	opts   PodStubOptions
	kube   kubernetes.Interface
	queue  workqueue.TypedRateLimitingInterface[string]
	lister cache.Indexer
}

// StartPodStub starts a PodStub on c; it stops when the test ends.
func (c *Cluster) StartPodStub(t testing.TB, opts PodStubOptions) *PodStub {
	t.Helper()
	if opts.Namespace == "" {
		t.Fatal("PodStubOptions.Namespace is required")
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &PodStub{
		opts: opts,
		kube: c.Client,
		queue: workqueue.NewTypedRateLimitingQueue(workqueue.NewTypedItemExponentialFailureRateLimiter[string](
			5*time.Millisecond, 500*time.Millisecond)),
	}
	factory := informers.NewSharedInformerFactoryWithOptions(c.Client, 0, informers.WithNamespace(opts.Namespace))
	inf := factory.Core().V1().Pods().Informer()
	enqueue := func(obj any) {
		if key, err := cache.MetaNamespaceKeyFunc(obj); err == nil {
			s.queue.Add(key)
		}
	}
	if _, err := inf.AddEventHandler(cache.ResourceEventHandlerFuncs{AddFunc: enqueue, UpdateFunc: func(_, obj any) { enqueue(obj) }}); err != nil {
		cancel()
		t.Fatal(err)
	}
	s.lister = inf.GetIndexer()
	factory.Start(ctx.Done())
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for s.processNext(ctx) {
			}
		})
	}
	t.Cleanup(func() {
		cancel()
		s.queue.ShutDown()
		wg.Wait()
		factory.Shutdown()
	})
	return s
}

// Requeue makes the stub look at every pod again (after Ready changed).
func (s *PodStub) Requeue() {
	for _, key := range s.lister.ListKeys() {
		s.queue.Add(key)
	}
}

func (s *PodStub) processNext(ctx context.Context) bool {
	key, shutdown := s.queue.Get()
	if shutdown {
		return false
	}
	defer s.queue.Done(key)
	if err := s.sync(ctx, key); err != nil && ctx.Err() == nil {
		s.queue.AddRateLimited(key)
		return true
	}
	s.queue.Forget(key)
	return true
}

// affinityNode returns the node a pod's required node affinity names by
// metadata.name, or "".
func affinityNode(p *corev1.Pod) string {
	a := p.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		return ""
	}
	for _, term := range a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution.NodeSelectorTerms {
		for _, f := range term.MatchFields {
			if f.Key == "metadata.name" && f.Operator == corev1.NodeSelectorOpIn && len(f.Values) == 1 {
				return f.Values[0]
			}
		}
	}
	return ""
}

func (s *PodStub) sync(ctx context.Context, key string) error {
	obj, ok, err := s.lister.GetByKey(key)
	if err != nil || !ok {
		return nil
	}
	pod := obj.(*corev1.Pod)
	pods := s.kube.CoreV1().Pods(pod.Namespace)
	switch {
	case pod.DeletionTimestamp != nil:
		zero := int64(0)
		err := pods.Delete(ctx, pod.Name, metav1.DeleteOptions{GracePeriodSeconds: &zero, Preconditions: &metav1.Preconditions{UID: &pod.UID}})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Spec.NodeName == "":
		node := affinityNode(pod)
		if node == "" {
			node = s.opts.DefaultNode
		}
		if node == "" {
			return nil
		}
		err := pods.Bind(ctx, &corev1.Binding{
			ObjectMeta: metav1.ObjectMeta{Name: pod.Name, UID: pod.UID},
			Target:     corev1.ObjectReference{Kind: "Node", Name: node},
		}, metav1.CreateOptions{})
		if apierrors.IsNotFound(err) || apierrors.IsConflict(err) {
			return nil
		}
		return err
	case pod.Status.Phase == corev1.PodSucceeded || pod.Status.Phase == corev1.PodFailed:
		return nil
	case s.opts.Ready != nil && !s.opts.Ready(pod):
		return nil
	case pod.Status.Phase == corev1.PodRunning && podReady(pod):
		return nil
	}
	next := pod.DeepCopy()
	now := metav1.Now().Rfc3339Copy()
	next.Status.Phase = corev1.PodRunning
	next.Status.PodIP = "10.42.0.2"
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
