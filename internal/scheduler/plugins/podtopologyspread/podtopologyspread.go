// Package podtopologyspread is the PodTopologySpread plugin: a pod's
// topologySpreadConstraints with whenUnsatisfiable DoNotSchedule filter
// out nodes where placing it would make the skew (matching pods in the
// node's domain minus the fewest in any eligible domain) exceed maxSkew;
// ScheduleAnyway constraints score nodes with fewer matching pods higher.
//
// Eligible domains come from nodes that carry every constraint's
// topology key and, with nodeAffinityPolicy Honor (the default), match the
// pod's node selector and affinity; with nodeTaintsPolicy Honor, also
// whose taints the pod tolerates. Kubernetes' cluster-level default
// constraints (for pods without any) are not applied.
package podtopologyspread

import (
	"math"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/tainttoleration"
)

// Name is the plugin name.
const Name = "PodTopologySpread"

// Kubernetes' reasons.
const (
	ErrReasonConstraintsNotMatch = "node(s) didn't match pod topology spread constraints"
	ErrReasonNodeLabelNotMatch   = ErrReasonConstraintsNotMatch + " (missing required label)"
)

// Plugin implements PodTopologySpread.
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

type constraint struct {
	maxSkew    int64
	minDomains int64
	key        string
	selector   labels.Selector
	affinity   bool // honour node affinity when choosing eligible nodes
	taints     bool // honour taints
	// counts of matching pods per domain value (eligible domains only)
	counts   map[string]int64
	minMatch int64
	weight   float64
}

// constraints parses the pod's constraints with the given effect.
func constraints(pod *corev1.Pod, when corev1.UnsatisfiableConstraintAction) ([]*constraint, error) {
	var out []*constraint
	for _, c := range pod.Spec.TopologySpreadConstraints {
		if c.WhenUnsatisfiable != when {
			continue
		}
		sel, err := metav1.LabelSelectorAsSelector(c.LabelSelector)
		if err != nil {
			return nil, err
		}
		for _, k := range c.MatchLabelKeys {
			if v, ok := pod.Labels[k]; ok {
				if r, err := labels.NewRequirement(k, "in", []string{v}); err == nil {
					sel = sel.Add(*r)
				}
			}
		}
		ct := &constraint{
			maxSkew: int64(c.MaxSkew), minDomains: 1, key: c.TopologyKey, selector: sel,
			affinity: c.NodeAffinityPolicy == nil || *c.NodeAffinityPolicy == corev1.NodeInclusionPolicyHonor,
			taints:   c.NodeTaintsPolicy != nil && *c.NodeTaintsPolicy == corev1.NodeInclusionPolicyHonor,
			counts:   map[string]int64{},
		}
		if c.MinDomains != nil {
			ct.minDomains = int64(*c.MinDomains)
		}
		out = append(out, ct)
	}
	return out, nil
}

// hasKeys reports whether node carries every constraint's topology key.
func hasKeys(node *corev1.Node, cs []*constraint) bool {
	for _, c := range cs {
		if _, ok := node.Labels[c.key]; !ok {
			return false
		}
	}
	return true
}

func eligible(pod *corev1.Pod, required nodeaffinity.RequiredNodeAffinity, node *corev1.Node, c *constraint) bool {
	if c.affinity {
		if ok, _ := required.Match(node); !ok {
			return false
		}
	}
	if c.taints {
		for i := range node.Spec.Taints {
			t := &node.Spec.Taints[i]
			if (t.Effect == corev1.TaintEffectNoSchedule || t.Effect == corev1.TaintEffectNoExecute) && !tainttoleration.Tolerates(pod.Spec.Tolerations, t) {
				return false
			}
		}
	}
	return true
}

// count fills each constraint's per-domain counts of matching pods.
func count(pod *corev1.Pod, cs []*constraint, nodes []*framework.NodeInfo) {
	required := nodeaffinity.GetRequiredNodeAffinity(pod)
	for _, n := range nodes {
		if !hasKeys(n.Node, cs) {
			continue
		}
		for _, c := range cs {
			if !eligible(pod, required, n.Node, c) {
				continue
			}
			v := n.Node.Labels[c.key]
			var m int64
			for _, p := range n.Pods {
				if p.Pod.Namespace == pod.Namespace && p.Pod.DeletionTimestamp == nil && c.selector.Matches(labels.Set(p.Pod.Labels)) {
					m++
				}
			}
			c.counts[v] += m
		}
	}
	for _, c := range cs {
		c.minMatch = math.MaxInt64
		for _, m := range c.counts {
			c.minMatch = min(c.minMatch, m)
		}
		if c.minMatch == math.MaxInt64 || int64(len(c.counts)) < c.minDomains {
			c.minMatch = 0
		}
	}
}

// PreFilter counts matching pods per domain for DoNotSchedule constraints.
func (*Plugin) PreFilter(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot) *framework.Status {
	cs, err := constraints(pod.Pod, corev1.DoNotSchedule)
	if err != nil {
		return framework.NewStatus(framework.Error, err.Error())
	}
	if len(cs) > 0 {
		count(pod.Pod, cs, snap.Nodes)
	}
	state.Write(filterKey, cs)
	return nil
}

// Filter rejects nodes without the topology keys and nodes where the pod
// would exceed a constraint's maxSkew.
func (*Plugin) Filter(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	cs, _ := state.Read(filterKey).([]*constraint)
	for _, c := range cs {
		v, ok := node.Node.Labels[c.key]
		if !ok {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonNodeLabelNotMatch)
		}
		var self int64
		if c.selector.Matches(labels.Set(pod.Pod.Labels)) {
			self = 1
		}
		if c.counts[v]+self-c.minMatch > c.maxSkew {
			return framework.NewStatus(framework.Unschedulable, ErrReasonConstraintsNotMatch)
		}
	}
	return nil
}

// PreScore counts matching pods per domain for ScheduleAnyway constraints.
func (*Plugin) PreScore(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	cs, err := constraints(pod.Pod, corev1.ScheduleAnyway)
	if err != nil {
		return framework.NewStatus(framework.Error, err.Error())
	}
	if len(cs) > 0 {
		count(pod.Pod, cs, snap.Nodes)
		for _, c := range cs {
			c.weight = math.Log(float64(len(c.counts) + 2))
		}
	}
	state.Write(scoreKey, cs)
	return nil
}

// ignored marks a node without the topology keys (scored 0).
const ignored = -1

// Score weighs the matching pods in the node's domains (fewer is better
// once normalized).
func (*Plugin) Score(state *framework.CycleState, _ *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	cs, _ := state.Read(scoreKey).([]*constraint)
	if len(cs) == 0 {
		return 0, nil
	}
	if !hasKeys(node.Node, cs) {
		return ignored, nil
	}
	var s float64
	for _, c := range cs {
		s += float64(c.counts[node.Node.Labels[c.key]])*c.weight + float64(c.maxSkew-1)
	}
	return int64(math.Round(s)), nil
}

// NormalizeScore reverses the scores into [0, 100]: the node with the
// fewest matching pods gets 100.
func (*Plugin) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	lo, hi := int64(math.MaxInt64), int64(0)
	for _, s := range scores {
		if s.Score == ignored {
			continue
		}
		lo, hi = min(lo, s.Score), max(hi, s.Score)
	}
	for i := range scores {
		switch {
		case scores[i].Score == ignored:
			scores[i].Score = 0
		case hi == 0:
			scores[i].Score = framework.MaxNodeScore
		default:
			scores[i].Score = framework.MaxNodeScore * (hi + lo - scores[i].Score) / hi
		}
	}
	return nil
}
