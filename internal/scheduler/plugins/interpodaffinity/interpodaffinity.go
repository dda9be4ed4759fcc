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
	"slices"

	corev1 "k8s.io/api/core/v1"
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

// Plugin implements InterPodAffinity.
type Plugin struct{}

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
func (*Plugin) PreScore(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	scores := counts{}
	hasPreferred := len(pod.PreferredAffinityTerms)+len(pod.PreferredAntiAffinityTerms) > 0
	nodes := snap.HavePodsWithAffinity
	if hasPreferred {
		nodes = snap.Nodes
	}
	nsLabels := snap.NamespaceLabelsOf
	// Per node, count matches of the incoming pod's preferred terms first,
	// then add them to the domains once.
	aff := make([]int64, len(pod.PreferredAffinityTerms))
	anti := make([]int64, len(pod.PreferredAntiAffinityTerms))
	for _, n := range nodes {
		pods := n.PodsWithAffinity
		if hasPreferred {
			pods = n.Pods
		}
		clear(aff)
		clear(anti)
		for _, existing := range pods {
			for i := range pod.PreferredAffinityTerms {
				if pod.PreferredAffinityTerms[i].Matches(existing.Pod, nsLabels) {
					aff[i]++
				}
			}
			for i := range pod.PreferredAntiAffinityTerms {
				if pod.PreferredAntiAffinityTerms[i].Matches(existing.Pod, nsLabels) {
					anti[i]++
				}
			}
			if len(existing.RequiredAffinityTerms)+len(existing.PreferredAffinityTerms)+len(existing.PreferredAntiAffinityTerms) == 0 {
				continue
			}
			for i := range existing.RequiredAffinityTerms {
				t := &existing.RequiredAffinityTerms[i]
				if t.Matches(pod.Pod, nsLabels) {
					scores.add(n.Node, t.TopologyKey, HardPodAffinityWeight)
				}
			}
			for i := range existing.PreferredAffinityTerms {
				t := &existing.PreferredAffinityTerms[i]
				if t.Matches(pod.Pod, nsLabels) {
					scores.add(n.Node, t.TopologyKey, int64(t.Weight))
				}
			}
			for i := range existing.PreferredAntiAffinityTerms {
				t := &existing.PreferredAntiAffinityTerms[i]
				if t.Matches(pod.Pod, nsLabels) {
					scores.add(n.Node, t.TopologyKey, -int64(t.Weight))
				}
			}
		}
		for i, c := range aff {
			if c > 0 {
				t := &pod.PreferredAffinityTerms[i]
				scores.add(n.Node, t.TopologyKey, c*int64(t.Weight))
			}
		}
		for i, c := range anti {
			if c > 0 {
				t := &pod.PreferredAntiAffinityTerms[i]
				scores.add(n.Node, t.TopologyKey, -c*int64(t.Weight))
			}
		}
	}
	st := &scoreState{scores: scores}
	for d := range scores {
		if !slices.Contains(st.keys, d.key) {
			st.keys = append(st.keys, d.key)
		}
	}
	state.Write(scoreKey, st)
	return nil
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
