package daemonset

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantry-dev/gantry/internal/controller"
)

// Reconcile converges the DaemonSet "namespace/name" (see the package comment).
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, ok := strings.Cut(key, "/")
	if !ok {
		return controller.Result{}, nil
	}
	cached, err := c.dsLister.DaemonSets(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.exp.Forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	ds := cached.DeepCopy()
	nodes, err := c.nodeLister.List(labels.Everything())
	if err != nil {
		return controller.Result{}, err
	}
	sort.Slice(nodes, func(i, j int) bool { return nodes[i].Name < nodes[j].Name })
	pods := c.ownedPods(key, ds)
	if ds.DeletionTimestamp != nil {
		return controller.Result{}, nil // the garbage collector removes the pods
	}
	cur, old, err := c.constructHistory(ctx, key, ds)
	if err != nil {
		return controller.Result{}, err
	}
	hash := cur.Labels[appsv1.DefaultDaemonSetUniqueLabelKey]

	var syncErr error
	if c.exp.Satisfied(key) {
		plan := c.plan(ds, nodes, pods, hash)
		syncErr = c.apply(ctx, key, ds, plan, hash)
	}
	res := controller.Result{}
	if err := c.writeStatus(ctx, ds, nodes, pods, hash, &res); err != nil {
		return controller.Result{}, err
	}
	if err := errors.Join(syncErr, c.cleanupHistory(ctx, ds, old, pods)); err != nil {
		return controller.Result{}, err
	}
	return res, nil
}

func (c *Controller) ownedPods(key string, ds *appsv1.DaemonSet) []*corev1.Pod {
	objs, _ := c.podIndex.ByIndex(ownerIndex, key)
	var out []*corev1.Pod
	for _, o := range objs {
		if p, ok := o.(*corev1.Pod); ok && ownerRef(p).UID == ds.UID {
			out = append(out, p)
		}
	}
	return out
}

// byNode groups pods by target node, skipping deleted terminal pods,
// scheduled pods first, then oldest first.
func byNode(pods []*corev1.Pod) map[string][]*corev1.Pod {
	m := map[string][]*corev1.Pod{}
	for _, p := range pods {
		if p.DeletionTimestamp != nil && (p.Status.Phase == corev1.PodSucceeded || p.Status.Phase == corev1.PodFailed) {
			continue
		}
		n := targetNode(p)
		m[n] = append(m[n], p)
	}
	for _, ps := range m {
		sort.Slice(ps, func(i, j int) bool { return podOlder(ps[i], ps[j]) })
	}
	return m
}

func podOlder(a, b *corev1.Pod) bool {
	if (a.Spec.NodeName != "") != (b.Spec.NodeName != "") {
		return a.Spec.NodeName != ""
	}
	if a.CreationTimestamp.Equal(&b.CreationTimestamp) {
		return a.Name < b.Name
	}
	return a.CreationTimestamp.Before(&b.CreationTimestamp)
}

// plan is what one reconcile changes.
type plan struct {
	create []string      // node names
	delete []*corev1.Pod // pods
	failed []*corev1.Pod // failed pods being replaced (for events)
}

// plan decides, per node, the creations and deletions Kubernetes' manage
// and rollingUpdate would make.
func (c *Controller) plan(ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string) plan {
	var p plan
	tmpl := templatePod(ds)
	nodePods := byNode(pods)
	maxSurge, _ := surgeAndUnavailable(ds, 1)
	surge := maxSurge > 0
	known := map[string]bool{}
	for _, node := range nodes {
		known[node.Name] = true
		run, keep := shouldRun(tmpl, node)
		daemonPods := nodePods[node.Name]
		switch {
		case run && len(daemonPods) == 0:
			p.create = append(p.create, node.Name)
		case keep:
			var running []*corev1.Pod
			for _, pod := range daemonPods {
				switch {
				case pod.DeletionTimestamp != nil:
				case pod.Status.Phase == corev1.PodFailed:
					p.delete = append(p.delete, pod)
					p.failed = append(p.failed, pod)
				default:
					running = append(running, pod)
				}
			}
			p.delete = append(p.delete, extraPods(running, hash, surge, ds.Spec.MinReadySeconds, c.cfg.Now)...)
		default:
			for _, pod := range daemonPods {
				if pod.DeletionTimestamp == nil {
					p.delete = append(p.delete, pod)
				}
			}
		}
	}
	// Unscheduled pods aimed at nodes that no longer exist.
	for n, ps := range nodePods {
		if known[n] {
			continue
		}
		for _, pod := range ps {
			if pod.Spec.NodeName == "" && pod.DeletionTimestamp == nil {
				p.delete = append(p.delete, pod)
			}
		}
	}
	if ds.Spec.UpdateStrategy.Type == appsv1.RollingUpdateDaemonSetStrategyType && len(p.create) == 0 && len(p.delete) == 0 {
		p = c.rollingUpdate(ds, nodes, nodePods, hash, tmpl)
	}
	return p
}

// extraPods returns the running pods of one node beyond the one (or, during
// a surge, two) that may stay.
func extraPods(running []*corev1.Pod, hash string, surge bool, minReady int32, now func() time.Time) []*corev1.Pod {
	if !surge {
		if len(running) <= 1 {
			return nil
		}
		return running[1:]
	}
	if len(running) < 2 {
		return nil
	}
	var out []*corev1.Pod
	var oldestNew, oldestOld *corev1.Pod
	for _, pod := range running {
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			if oldestNew == nil {
				oldestNew = pod
				continue
			}
		} else if oldestOld == nil {
			oldestOld = pod
			continue
		}
		out = append(out, pod)
	}
	if oldestNew != nil && oldestOld != nil && (!podReady(oldestOld) || podAvailable(oldestNew, minReady, now())) {
		out = append(out, oldestOld)
	}
	return out
}

// updatedAndOld returns the one updated and one old non-deleted pod of a
// node; ok is false when there are several of either.
func updatedAndOld(pods []*corev1.Pod, hash string) (updated, old *corev1.Pod, ok bool) {
	for _, p := range pods {
		if p.DeletionTimestamp != nil {
			continue
		}
		if p.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			if updated != nil {
				return nil, nil, false
			}
			updated = p
		} else {
			if old != nil {
				return nil, nil, false
			}
			old = p
		}
	}
	return updated, old, true
}

// rollingUpdate is Kubernetes' rolling update: without surge, delete old
// pods while at most maxUnavailable daemons are unavailable (unavailable
// old pods go at once); with surge, start new pods beside at most maxSurge
// available old ones and delete each old pod once its replacement is
// available.
func (c *Controller) rollingUpdate(ds *appsv1.DaemonSet, nodes []*corev1.Node, nodePods map[string][]*corev1.Pod, hash string, tmpl *corev1.Pod) plan {
	var p plan
	now := c.cfg.Now()
	min := ds.Spec.MinReadySeconds
	var desired []string
	for _, node := range nodes {
		if run, _ := shouldRun(tmpl, node); run {
			desired = append(desired, node.Name)
		}
	}
	maxSurge, maxUnavailable := surgeAndUnavailable(ds, len(desired))
	if maxSurge == 0 {
		unavailable := 0
		var allowed, candidates []*corev1.Pod
		for _, n := range desired {
			updated, old, ok := updatedAndOld(nodePods[n], hash)
			switch {
			case !ok, old == nil && updated == nil, old != nil && updated != nil:
				unavailable++
			case updated != nil:
				if !podAvailable(updated, min, now) {
					unavailable++
				}
			case !podAvailable(old, min, now):
				allowed = append(allowed, old)
			case unavailable >= maxUnavailable:
			default:
				candidates = append(candidates, old)
			}
		}
		remaining := max(0, maxUnavailable-unavailable)
		remaining = minInt(remaining, len(candidates))
		p.delete = append(allowed, candidates[:remaining]...)
		return p
	}
	surged := 0
	var allowedNodes, candidateNodes []string
	for _, n := range desired {
		updated, old, ok := updatedAndOld(nodePods[n], hash)
		switch {
		case !ok, old == nil:
		case updated == nil:
			switch {
			case !podAvailable(old, min, now):
				allowedNodes = append(allowedNodes, n)
			case surged >= maxSurge:
			default:
				candidateNodes = append(candidateNodes, n)
			}
		default:
			if !podAvailable(updated, min, now) {
				surged++
				continue
			}
			p.delete = append(p.delete, old)
		}
	}
	remaining := minInt(max(0, maxSurge-surged), len(candidateNodes))
	p.create = append(allowedNodes, candidateNodes[:remaining]...)
	return p
}

func minInt(a, b int) int {
	if a < b {
		return a
	}
	return b
}

// apply creates and deletes the planned pods.
func (c *Controller) apply(ctx context.Context, key string, ds *appsv1.DaemonSet, p plan, hash string) error {
	if len(p.create) == 0 && len(p.delete) == 0 {
		return nil
	}
	var delKeys []string
	for _, pod := range p.delete {
		delKeys = append(delKeys, keyOf(pod.Namespace, pod.Name))
	}
	c.exp.Expect(key, len(p.create), delKeys)
	for _, pod := range p.failed {
		c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDaemonPod", "Found failed daemon pod %s/%s on node %s, will try to kill it", pod.Namespace, pod.Name, pod.Spec.NodeName)
	}
	var (
		mu   sync.Mutex
		errs []error
		wg   sync.WaitGroup
	)
	for _, node := range p.create {
		wg.Go(func() {
			created, err := c.kube.CoreV1().Pods(ds.Namespace).Create(ctx, newPod(ds, node, hash), metav1.CreateOptions{})
			if err != nil {
				c.exp.CreationObserved(key)
				if !apierrors.HasStatusCause(err, corev1.NamespaceTerminatingCause) {
					c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedCreate", "Error creating: %v", err)
				}
				mu.Lock()
				errs = append(errs, fmt.Errorf("create pod for node %s: %w", node, err))
				mu.Unlock()
				return
			}
			c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulCreate", "Created pod: %v", created.Name)
		})
	}
	for _, pod := range p.delete {
		wg.Go(func() {
			err := c.kube.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{Preconditions: &metav1.Preconditions{UID: &pod.UID}})
			if err != nil && !apierrors.IsNotFound(err) {
				c.exp.DeletionObserved(key, keyOf(pod.Namespace, pod.Name))
				c.recorder.Eventf(ds, corev1.EventTypeWarning, "FailedDelete", "Error deleting: %v", err)
				mu.Lock()
				errs = append(errs, fmt.Errorf("delete pod %s: %w", pod.Name, err))
				mu.Unlock()
				return
			}
			if err != nil {
				c.exp.DeletionObserved(key, keyOf(pod.Namespace, pod.Name))
				return
			}
			c.recorder.Eventf(ds, corev1.EventTypeNormal, "SuccessfulDelete", "Deleted pod: %v", pod.Name)
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}

// writeStatus computes the status counters as Kubernetes'
// updateDaemonSetStatus does and writes them if they changed; it asks for
// a requeue when a ready pod becomes available later.
func (c *Controller) writeStatus(ctx context.Context, ds *appsv1.DaemonSet, nodes []*corev1.Node, pods []*corev1.Pod, hash string, res *controller.Result) error {
	now := c.cfg.Now()
	tmpl := templatePod(ds)
	nodePods := byNode(pods)
	var st appsv1.DaemonSetStatus
	for _, node := range nodes {
		run, _ := shouldRun(tmpl, node)
		scheduled := len(nodePods[node.Name]) > 0
		if !run {
			if scheduled {
				st.NumberMisscheduled++
			}
			continue
		}
		st.DesiredNumberScheduled++
		if !scheduled {
			continue
		}
		st.CurrentNumberScheduled++
		pod := nodePods[node.Name][0]
		if podReady(pod) {
			st.NumberReady++
			if podAvailable(pod, ds.Spec.MinReadySeconds, now) {
				st.NumberAvailable++
			} else if ds.Spec.MinReadySeconds > 0 {
				res.RequeueAfter = time.Duration(ds.Spec.MinReadySeconds) * time.Second
			}
		}
		if pod.Labels[appsv1.DefaultDaemonSetUniqueLabelKey] == hash {
			st.UpdatedNumberScheduled++
		}
	}
	st.NumberUnavailable = st.DesiredNumberScheduled - st.NumberAvailable
	st.ObservedGeneration = ds.Generation
	st.CollisionCount = ds.Status.CollisionCount
	st.Conditions = ds.Status.Conditions
	if equality.Semantic.DeepEqual(st, ds.Status) {
		return nil
	}
	upd := ds.DeepCopy()
	upd.Status = st
	if _, err := c.kube.AppsV1().DaemonSets(ds.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{}); err != nil {
		return fmt.Errorf("update daemonset status: %w", err)
	}
	return nil
}
