package scheduler

import (
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// clusterCache is the scheduler's view of nodes and of the pods placed on them
// (bound, or assumed: chosen by the scheduler, binding in flight). It is
// fed by the informers and the scheduling loop, and copies itself into a
// framework.Snapshot incrementally: only nodes changed since the last
// copy are cloned.
type clusterCache struct {
	mu    sync.Mutex
	nodes map[string]*cachedNode
	pods  map[types.UID]*cachedPod
	// dirty holds nodes changed since the last snapshot; listChanged is
	// set when a node became or stopped being a candidate.
	dirty       map[string]struct{}
	listChanged bool
}

type cachedNode struct {
	info      *framework.NodeInfo
	candidate bool // Ready and not being deleted
}

type cachedPod struct {
	info    *framework.PodInfo
	node    string
	assumed bool
}

func newCache() *clusterCache {
	return &clusterCache{nodes: map[string]*cachedNode{}, pods: map[types.UID]*cachedPod{}, dirty: map[string]struct{}{}}
}

// isCandidate reports whether pods may be placed on node: it is Ready and
// not being deleted.
func isCandidate(node *corev1.Node) bool {
	if node == nil || node.DeletionTimestamp != nil {
		return false
	}
	for _, c := range node.Status.Conditions {
		if c.Type == corev1.NodeReady {
			return c.Status == corev1.ConditionTrue
		}
	}
	return false
}

func (c *clusterCache) nodeLocked(name string) *cachedNode {
	n, ok := c.nodes[name]
	if !ok {
		n = &cachedNode{info: framework.NewNodeInfo(nil)}
		c.nodes[name] = n
	}
	return n
}

func (c *clusterCache) touch(name string) { c.dirty[name] = struct{}{} }

// setNode adds or updates a node.
func (c *clusterCache) setNode(node *corev1.Node) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.nodeLocked(node.Name)
	n.info.SetNode(node)
	n.info.Generation++
	if cand := isCandidate(node); cand != n.candidate {
		n.candidate = cand
		c.listChanged = true
	}
	c.touch(node.Name)
}

// removeNode forgets a node; its pods stay accounted in case it returns.
func (c *clusterCache) removeNode(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	n, ok := c.nodes[name]
	if !ok {
		return
	}
	if n.candidate {
		c.listChanged = true
	}
	if len(n.info.Pods) == 0 {
		delete(c.nodes, name)
	} else {
		n.info.SetNode(nil)
		n.candidate = false
	}
	delete(c.dirty, name)
}

// addPod accounts a pod bound to a node (confirming it if assumed).
func (c *clusterCache) addPod(pod *corev1.Pod) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pods[pod.UID]; ok {
		c.removePodLocked(p)
	}
	c.addPodLocked(framework.NewPodInfo(pod), false)
}

func (c *clusterCache) addPodLocked(pi *framework.PodInfo, assumed bool) {
	name := pi.Pod.Spec.NodeName
	n := c.nodeLocked(name)
	n.info.AddPod(pi)
	n.info.Generation++
	c.pods[pi.Pod.UID] = &cachedPod{info: pi, node: name, assumed: assumed}
	c.touch(name)
}

func (c *clusterCache) removePodLocked(p *cachedPod) {
	n, ok := c.nodes[p.node]
	if ok {
		n.info.RemovePod(p.info.Pod)
		n.info.Generation++
		if n.info.Node == nil && len(n.info.Pods) == 0 {
			delete(c.nodes, p.node)
			delete(c.dirty, p.node)
		} else {
			c.touch(p.node)
		}
	}
	delete(c.pods, p.info.Pod.UID)
}

// removePod forgets a pod (deleted, or finished).
func (c *clusterCache) removePod(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pods[uid]; ok {
		c.removePodLocked(p)
	}
}

// assume places pod (with spec.nodeName set) before it is bound.
func (c *clusterCache) assume(pi *framework.PodInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pods[pi.Pod.UID]; ok {
		c.removePodLocked(p)
	}
	c.addPodLocked(pi, true)
}

// forget undoes assume if the pod is still only assumed.
func (c *clusterCache) forget(uid types.UID) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if p, ok := c.pods[uid]; ok && p.assumed {
		c.removePodLocked(p)
	}
}

// has reports whether the pod is assumed or bound in the cache.
func (c *clusterCache) has(uid types.UID) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, ok := c.pods[uid]
	return ok
}

// snapshotState is what updateSnapshot keeps between calls.
type snapshotState struct {
	snap  *framework.Snapshot
	index map[string]int // node name → position in snap.Nodes
}

// updateSnapshot brings s up to date, cloning only changed nodes.
func (c *clusterCache) updateSnapshot(s *snapshotState) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.snap == nil || c.listChanged {
		names := make([]string, 0, len(c.nodes))
		for name, n := range c.nodes {
			if n.candidate {
				names = append(names, name)
			}
		}
		slices.Sort(names)
		nodes := make([]*framework.NodeInfo, len(names))
		s.index = make(map[string]int, len(names))
		for i, name := range names {
			nodes[i] = c.nodes[name].info.Clone()
			s.index[name] = i
		}
		s.snap = framework.NewSnapshot(nodes...)
		clear(c.dirty)
		c.listChanged = false
		return
	}
	affinityChanged := false
	for name := range c.dirty {
		i, ok := s.index[name]
		if !ok {
			continue
		}
		old := s.snap.Nodes[i]
		n := c.nodes[name].info.Clone()
		if len(old.PodsWithAffinity) != len(n.PodsWithAffinity) || len(old.PodsWithRequiredAntiAffinity) != len(n.PodsWithRequiredAntiAffinity) {
			affinityChanged = true
		}
		s.snap.Replace(i, n)
	}
	if affinityChanged {
		s.snap.ReindexAffinity()
	} else if len(c.dirty) > 0 && (len(s.snap.HavePodsWithAffinity) > 0 || len(s.snap.HavePodsWithRequiredAntiAffinity) > 0) {
		// The lists hold the replaced NodeInfos: refresh the pointers.
		s.snap.ReindexAffinity()
	}
	clear(c.dirty)
}
