// Package nodeaffinity is the NodeAffinity plugin: a pod goes only to
// nodes matching its nodeSelector and required node affinity, and prefers
// nodes matching its preferred terms (sum of their weights).
package nodeaffinity

import (
	corev1 "k8s.io/api/core/v1"
	"k8s.io/component-helpers/scheduling/corev1/nodeaffinity"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// Name is the plugin name.
const Name = "NodeAffinity"

// ErrReasonPod is Kubernetes' reason for a node the pod's selector or
// affinity excludes.
const ErrReasonPod = "node(s) didn't match Pod's node affinity/selector"

// Plugin implements NodeAffinity.
type Plugin struct{}

var (
	_ framework.PreFilterPlugin      = Plugin{}
	_ framework.FilterPlugin         = Plugin{}
	_ framework.PreScorePlugin       = Plugin{}
	_ framework.NormalizeScorePlugin = Plugin{}
)

const (
	filterKey = "PreFilter" + Name
	scoreKey  = "PreScore" + Name
)

// New returns the plugin.
func New() Plugin { return Plugin{} }

// Name implements framework.Plugin.
func (Plugin) Name() string { return Name }

// PreFilter parses the pod's required node affinity once.
func (Plugin) PreFilter(state *framework.CycleState, pod *framework.PodInfo, _ *framework.Snapshot) *framework.Status {
	r := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
	state.Write(filterKey, &r)
	return nil
}

// Filter rejects nodes that the selector or the required terms exclude.
func (Plugin) Filter(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	r, ok := state.Read(filterKey).(*nodeaffinity.RequiredNodeAffinity)
	if !ok {
		v := nodeaffinity.GetRequiredNodeAffinity(pod.Pod)
		r = &v
	}
	match, err := r.Match(node.Node)
	if err != nil {
		return framework.NewStatus(framework.Error, err.Error())
	}
	if !match {
		return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReasonPod)
	}
	return nil
}

// PreScore parses the pod's preferred terms.
func (Plugin) PreScore(state *framework.CycleState, pod *framework.PodInfo, _ *framework.Snapshot, _ []*framework.NodeInfo) *framework.Status {
	a := pod.Pod.Spec.Affinity
	if a == nil || a.NodeAffinity == nil || len(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution) == 0 {
		state.Write(scoreKey, (*nodeaffinity.PreferredSchedulingTerms)(nil))
		return nil
	}
	terms, err := nodeaffinity.NewPreferredSchedulingTerms(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution)
	if err != nil {
		return framework.NewStatus(framework.Error, err.Error())
	}
	state.Write(scoreKey, terms)
	return nil
}

// Score sums the weights of the preferred terms the node matches.
func (Plugin) Score(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	terms, _ := state.Read(scoreKey).(*nodeaffinity.PreferredSchedulingTerms)
	if terms == nil {
		return 0, nil
	}
	return terms.Score(node.Node), nil
}

// NormalizeScore scales so that the best node scores 100.
func (Plugin) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(false, scores)
	return nil
}

// Matches reports whether node satisfies pod's nodeSelector and required
// node affinity (used by other plugins, e.g. topology spreading).
func Matches(pod *corev1.Pod, node *corev1.Node) bool {
	ok, _ := nodeaffinity.GetRequiredNodeAffinity(pod).Match(node)
	return ok
}
