package scheduler

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// Kubernetes' preemption wording, reported after the filter reasons.
const (
	preemptionNever       = "preemption: not eligible due to preemptionPolicy=Never."
	preemptionNotHelpful  = "Preemption is not helpful for scheduling"
	preemptionNoVictims   = "No preemption victims found for incoming pod"
	preemptionTerminating = "preemption: not eligible due to a terminating pod on the nominated node."
)

// preemptionCandidate is a node where evicting lower-priority pods
// would let the pod fit.
type preemptionCandidate struct {
	node    string
	victims []*corev1.Pod
}

// evaluatePreemption looks, for a pod that fits nowhere, for nodes where
// evicting pods of lower priority would make room. It returns the
// explanation for the pod's condition ("preemption: …") and the
// candidates found.
func (c *cycle) evaluatePreemption(state *framework.CycleState, pod *framework.PodInfo, snap *framework.Snapshot, fe *fitError) (string, []preemptionCandidate) {
	if p := pod.Pod.Spec.PreemptionPolicy; p != nil && *p == corev1.PreemptNever {
		return preemptionNever, nil
	}
	if fe.preFilter != nil {
		return "", nil
	}
	prio := priority(pod.Pod)
	// Victims chosen earlier are still terminating: wait for them rather
	// than evicting more.
	if nominated := snap.Get(pod.Pod.Status.NominatedNodeName); nominated != nil {
		for _, p := range nominated.Pods {
			if p.Pod.DeletionTimestamp != nil && priority(p.Pod) < prio {
				return preemptionTerminating, nil
			}
		}
	}
	reasons := make(map[string]*framework.Status, len(snap.Nodes))
	var candidates []preemptionCandidate
	for _, n := range snap.Nodes {
		st, rejected := fe.statuses[n.Name()]
		if !rejected {
			continue // not evaluated (sampling); it fits
		}
		if st.Code() == framework.UnschedulableAndUnresolvable {
			reasons[n.Name()] = framework.NewStatus(framework.UnschedulableAndUnresolvable, preemptionNotHelpful)
			continue
		}
		victims := c.selectVictims(state, pod, n, prio)
		if victims == nil {
			reasons[n.Name()] = framework.NewStatus(framework.Unschedulable, preemptionNoVictims)
			continue
		}
		candidates = append(candidates, preemptionCandidate{node: n.Name(), victims: victims})
	}
	if len(candidates) > 0 {
		return "", candidates
	}
	return fmt.Sprintf("preemption: 0/%d nodes are available: %s.", len(snap.Nodes), reasonHistogram(reasons)), nil
}

// selectVictims returns the fewest lower-priority pods (lowest priority
// first) whose eviction lets pod fit on node, or nil if none does.
func (c *cycle) selectVictims(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo, prio int32) []*corev1.Pod {
	var lower []*framework.PodInfo
	for _, p := range node.Pods {
		if priority(p.Pod) < prio {
			lower = append(lower, p)
		}
	}
	if len(lower) == 0 {
		return nil
	}
	trial := node.Clone()
	for _, p := range lower {
		trial.RemovePod(p.Pod)
	}
	if !c.runFilters(state, pod, trial).IsSuccess() {
		return nil
	}
	// Reprieve the most important pods first while the pod still fits.
	sortByPriorityDesc(lower)
	var victims []*corev1.Pod
	for _, p := range lower {
		trial.AddPod(p)
		if !c.runFilters(state, pod, trial).IsSuccess() {
			trial.RemovePod(p.Pod)
			victims = append(victims, p.Pod)
		}
	}
	return victims
}

func sortByPriorityDesc(pods []*framework.PodInfo) {
	for i := 1; i < len(pods); i++ {
		for j := i; j > 0 && priority(pods[j].Pod) > priority(pods[j-1].Pod); j-- {
			pods[j], pods[j-1] = pods[j-1], pods[j]
		}
	}
}

// pickCandidate prefers the node whose victims have the lowest highest
// priority, then the fewest victims.
func pickCandidate(cands []preemptionCandidate) preemptionCandidate {
	best := cands[0]
	score := func(c preemptionCandidate) (int32, int) {
		var hi int32 = -1 << 31
		for _, v := range c.victims {
			hi = max(hi, priority(v))
		}
		return hi, len(c.victims)
	}
	bh, bn := score(best)
	for _, c := range cands[1:] {
		h, n := score(c)
		if h < bh || h == bh && n < bn {
			best, bh, bn = c, h, n
		}
	}
	return best
}
