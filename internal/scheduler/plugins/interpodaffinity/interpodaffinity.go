// Package interpodaffinity is the InterPodAffinity plugin: required pod
// affinity and anti-affinity (of the incoming pod, and the anti-affinity of
// pods already placed) filter nodes by topology domain; preferred terms,
// both ways, score them.
//
// A topology domain is a (topologyKey, node label value) pair: a node
// without the label is in no domain of that key. PreFilter counts, per
// domain, the existing pods matching each kind of term, so Filter is a few
// map look-ups per node.
package interpodaffinity

import (
	"maps"
	"slices"
	"sync"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// Name is the plugin name.
const Name = "InterPodAffinity"

// Kubernetes' reasons.
const (
	ErrReasonAffinityRulesNotMatch             = "node(s) didn't match pod affinity rules"
	ErrReasonAntiAffinityRulesNotMatch         = "node(s) didn't match pod anti-affinity rules"
	ErrReasonExistingAntiAffinityRulesNotMatch = "node(s) didn't satisfy existing pods anti-affinity rules"
)

// HardPodAffinityWeight is the score weight of an existing pod's required
// affinity term that the incoming pod matches.
const HardPodAffinityWeight = 1

// Plugin implements InterPodAffinity. Its PreScore keeps state between
// scheduling cycles (see PreScore): the Score calls of one cycle must be
// over before the next cycle's PreScore, as they are in the scheduler.
type Plugin struct {
	mu    sync.Mutex // guards cache
	cache scoreCache
}

var (
	_ framework.PreFilterPlugin      = (*Plugin)(nil)
	_ framework.FilterPlugin         = (*Plugin)(nil)
	_ framework.PreScorePlugin       = (*Plugin)(nil)
	_ framework.NormalizeScorePlugin = (*Plugin)(nil)
)

const (
	filterKey = "PreFilter" + Name
	scoreKey  = "PreScore" + Name
)

// New returns the plugin.
func New() *Plugin { return &Plugin{} }

// Name implements framework.Plugin.
func (*Plugin) Name() string { return Name }

type domain struct{ key, value string }

type counts map[domain]int64

func (c counts) add(node *corev1.Node, key string, v int64) {
	if val, ok := node.Labels[key]; ok {
		c[domain{key, val}] += v
	}
}

type filterState struct {
	// existingAnti: domains where an existing pod's required anti-affinity
	// matches the incoming pod.
	existingAnti counts
	// affinity: domains with pods matching all the incoming pod's required
	// affinity terms (per term's key); anti: with pods matching one of its
	// required anti-affinity terms.
	affinity, anti counts
	pod            *framework.PodInfo
	// selfMatch: the pod matches its own affinity terms.
	selfMatch bool
}

// PreFilter counts matching pods per topology domain.
func (*Plugin) PreFilter(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	s := &filterState{existingAnti: counts{}, affinity: counts{}, anti: counts{}, pod: pod}
	nsLabels := snap.NamespaceLabelsOf
	for _, n := range snap.HavePodsWithRequiredAntiAffinity {
		for _, existing := range n.PodsWithRequiredAntiAffinity {
			for i := range existing.RequiredAntiAffinityTerms {
				t := &existing.RequiredAntiAffinityTerms[i]
				if t.Matches(pod.Pod, nsLabels) {
					s.existingAnti.add(n.Node, t.TopologyKey, 1)
				}
			}
		}
	}
	if len(pod.RequiredAffinityTerms) > 0 || len(pod.RequiredAntiAffinityTerms) > 0 {
		for _, n := range snap.Nodes {
			for _, existing := range n.Pods {
				if len(pod.RequiredAffinityTerms) > 0 && matchesAll(pod.RequiredAffinityTerms, existing.Pod, nsLabels) {
					for i := range pod.RequiredAffinityTerms {
						s.affinity.add(n.Node, pod.RequiredAffinityTerms[i].TopologyKey, 1)
					}
				}
				for i := range pod.RequiredAntiAffinityTerms {
					t := &pod.RequiredAntiAffinityTerms[i]
					if t.Matches(existing.Pod, nsLabels) {
						s.anti.add(n.Node, t.TopologyKey, 1)
					}
				}
			}
		}
		s.selfMatch = matchesAll(pod.RequiredAffinityTerms, pod.Pod, nsLabels)
	}
	state.Write(filterKey, s)
	return nil
}

func matchesAll(terms []framework.AffinityTerm, pod *corev1.Pod, nsLabels func(string) labels.Set) bool {
	for i := range terms {
		if !terms[i].Matches(pod, nsLabels) {
			return false
		}
	}
	return true
}

// Filter checks, in Kubernetes' order, the pod's affinity, its
// anti-affinity, and the anti-affinity of existing pods.
func (*Plugin) Filter(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	s, ok := state.Read(filterKey).(*filterState)
	if !ok {
		return framework.NewStatus(framework.Error, "InterPodAffinity: no PreFilter state")
	}
	labels := node.Node.Labels
	if len(pod.RequiredAffinityTerms) > 0 {
		found := true
		for i := range pod.RequiredAffinityTerms {
			key := pod.RequiredAffinityTerms[i].TopologyKey
			v, ok := labels[key]
			if !ok {
				return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
			}
			if s.affinity[domain{key, v}] <= 0 {
				found = false
			}
		}
		// The first pod of a group that selects itself may go anywhere
		// with the topology labels.
		if !found && !(len(s.affinity) == 0 && s.selfMatch) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonAffinityRulesNotMatch)
		}
	}
	for i := range pod.RequiredAntiAffinityTerms {
		key := pod.RequiredAntiAffinityTerms[i].TopologyKey
		if v, ok := labels[key]; ok && s.anti[domain{key, v}] > 0 {
			return framework.NewStatus(framework.Unschedulable, ErrReasonAntiAffinityRulesNotMatch)
		}
	}
	if len(s.existingAnti) > 0 {
		for k, v := range labels {
			if s.existingAnti[domain{k, v}] > 0 {
				return framework.NewStatus(framework.Unschedulable, ErrReasonExistingAntiAffinityRulesNotMatch)
			}
		}
	}
	return nil
}

// PreScore sums, per topology domain, the weights of the preferred terms
// (and existing pods' required affinity) that tie the incoming pod to the
// pods already there: positive for affinity, negative for anti-affinity.
//
// Each node's contribution depends only on the node (its labels and pods)
// and on the incoming pod's namespace, labels and affinity. Replicas of
// one workload share the last three, so the plugin keeps the domain sums
// of the previous PreScore and, for the next pod with the same
// signature, recomputes only the nodes whose NodeInfo changed (the
// snapshot replaces a NodeInfo whenever its node or pods change). The
// work per pod is then a pointer comparison per node instead of matching
// every term against every pod in the cluster.
func (p *Plugin) PreScore(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	hasPreferred := len(pod.PreferredAffinityTerms)+len(pod.PreferredAntiAffinityTerms) > 0
	nodes := snap.HavePodsWithAffinity
	if hasPreferred {
		nodes = snap.Nodes
	}
	nsLabels := snap.NamespaceLabelsOf
	p.mu.Lock()
	defer p.mu.Unlock()
	sig, cacheable := signatureOf(pod, nsLabels)
	c := &p.cache
	if !cacheable || !c.valid || !c.sig.equal(sig) {
		// Another workload (or the first): start again, keeping the slice.
		*c = scoreCache{sig: sig, valid: cacheable, scores: counts{}, nodes: c.nodes[:0]}
	}
	for i := range max(len(nodes), len(c.nodes)) {
		if i < len(nodes) && i < len(c.nodes) && c.nodes[i].current(nodes[i]) {
			continue
		}
		if i < len(c.nodes) {
			c.apply(c.nodes[i].info, c.nodes[i].weights, -1)
		}
		if i < len(nodes) {
			n := nodes[i]
			e := cachedNode{info: n, generation: n.Generation, pods: len(n.Pods), weights: nodeWeights(pod, n, hasPreferred, nsLabels)}
			c.apply(n, e.weights, 1)
			if i < len(c.nodes) {
				c.nodes[i] = e
			} else {
				c.nodes = append(c.nodes, e)
			}
		}
	}
	c.nodes = c.nodes[:len(nodes)]
	state.Write(scoreKey, &scoreState{scores: c.scores, keys: c.keys})
	return nil
}

// nodeWeights sums, per topology key, what the pods on n contribute to
// the incoming pod's score in n's domains.
func nodeWeights(pod *framework.PodInfo, n *framework.NodeInfo, hasPreferred bool, nsLabels func(string) labels.Set) keyWeights {
	pods := n.PodsWithAffinity
	if hasPreferred {
		pods = n.Pods
	}
	var kw keyWeights
	for _, existing := range pods {
		kw = kw.addMatching(pod.PreferredAffinityTerms, existing.Pod, nsLabels, termWeight)
		kw = kw.addMatching(pod.PreferredAntiAffinityTerms, existing.Pod, nsLabels, negTermWeight)
		kw = kw.addMatching(existing.RequiredAffinityTerms, pod.Pod, nsLabels, hardWeight)
		kw = kw.addMatching(existing.PreferredAffinityTerms, pod.Pod, nsLabels, termWeight)
		kw = kw.addMatching(existing.PreferredAntiAffinityTerms, pod.Pod, nsLabels, negTermWeight)
	}
	return kw
}

// Weights of a matching term: its own, its own negated (anti-affinity),
// or HardPodAffinityWeight (another pod's required affinity).
var (
	termWeight    = func(t *framework.AffinityTerm) int64 { return int64(t.Weight) }
	negTermWeight = func(t *framework.AffinityTerm) int64 { return -int64(t.Weight) }
	hardWeight    = func(*framework.AffinityTerm) int64 { return HardPodAffinityWeight }
)

// addMatching adds weight(t) under t's topology key for each of terms that
// matches target.
func (kw keyWeights) addMatching(terms []framework.AffinityTerm, target *corev1.Pod, nsLabels func(string) labels.Set, weight func(*framework.AffinityTerm) int64) keyWeights {
	for i := range terms {
		if t := &terms[i]; t.Matches(target, nsLabels) {
			kw = kw.add(t.TopologyKey, weight(t))
		}
	}
	return kw
}

// keyWeights sums weights per topology key for one node; a pod has few
// terms, so a slice searched linearly beats a map.
type keyWeights []keyWeight

type keyWeight struct {
	key    string
	weight int64
}

func (kw keyWeights) add(key string, w int64) keyWeights {
	for i := range kw {
		if kw[i].key == key {
			kw[i].weight += w
			return kw
		}
	}
	return append(kw, keyWeight{key, w})
}

// scoreCache is the state PreScore keeps between pods: the domain sums
// for pods of one signature, and what each node (by its position in the
// node list) contributed to them.
type scoreCache struct {
	sig    signature
	valid  bool
	nodes  []cachedNode
	scores counts
	keys   []string // topology keys that ever had a non-zero weight
}

// cachedNode is one node's contribution and the NodeInfo it was computed
// from. A NodeInfo in a snapshot is replaced, not changed, when its node
// or pods change; the generation and pod count also catch NodeInfos
// changed in place (tests, benchmarks).
type cachedNode struct {
	info       *framework.NodeInfo
	generation int64
	pods       int
	weights    keyWeights
}

func (e *cachedNode) current(n *framework.NodeInfo) bool {
	return e.info == n && e.generation == n.Generation && e.pods == len(n.Pods)
}

// apply adds sign × weights to the domains of n.
func (c *scoreCache) apply(n *framework.NodeInfo, weights keyWeights, sign int64) {
	for _, kw := range weights {
		if kw.weight == 0 {
			continue
		}
		c.scores.add(n.Node, kw.key, sign*kw.weight)
		if !slices.Contains(c.keys, kw.key) {
			c.keys = append(c.keys, kw.key)
		}
	}
}

// signature is what, besides the nodes, decides the pod's domain sums.
type signature struct {
	namespace              string
	labels, nsLabels       map[string]string
	affinity, antiAffinity any // *corev1.PodAffinity, *corev1.PodAntiAffinity
}

// signatureOf returns pod's signature; cacheable is false when a term of
// the pod selects namespaces by label (namespaces' labels may change
// between cycles without any node changing).
func signatureOf(pod *framework.PodInfo, nsLabels func(string) labels.Set) (sig signature, cacheable bool) {
	for _, terms := range [][]framework.AffinityTerm{pod.RequiredAffinityTerms, pod.RequiredAntiAffinityTerms, pod.PreferredAffinityTerms, pod.PreferredAntiAffinityTerms} {
		for i := range terms {
			if terms[i].HasNamespaceSelector() {
				return signature{}, false
			}
		}
	}
	sig = signature{namespace: pod.Pod.Namespace, labels: pod.Pod.Labels, nsLabels: nsLabels(pod.Pod.Namespace)}
	if a := pod.Pod.Spec.Affinity; a != nil {
		sig.affinity, sig.antiAffinity = a.PodAffinity, a.PodAntiAffinity
	}
	return sig, true
}

func (s signature) equal(o signature) bool {
	return s.namespace == o.namespace && maps.Equal(s.labels, o.labels) && maps.Equal(s.nsLabels, o.nsLabels) &&
		equality.Semantic.DeepEqual(s.affinity, o.affinity) && equality.Semantic.DeepEqual(s.antiAffinity, o.antiAffinity)
}

type scoreState struct {
	scores counts
	keys   []string // topology keys in scores
}

// Score sums the domain scores of the node's domains.
func (*Plugin) Score(state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	st, _ := state.Read(scoreKey).(*scoreState)
	if st == nil {
		return 0, nil
	}
	var s int64
	for _, k := range st.keys {
		if v, ok := node.Node.Labels[k]; ok {
			s += st.scores[domain{k, v}]
		}
	}
	return s, nil
}

// NormalizeScore maps [min, max] onto [0, 100].
func (*Plugin) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	if len(scores) == 0 {
		return nil
	}
	lo, hi := scores[0].Score, scores[0].Score
	for _, s := range scores {
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		if hi > lo {
			scores[i].Score = framework.MaxNodeScore * (scores[i].Score - lo) / (hi - lo)
		} else {
			scores[i].Score = 0
		}
	}
	return nil
}
