// Package tainttoleration is the TaintToleration plugin: a pod goes only
// to nodes whose NoSchedule and NoExecute taints it tolerates, and prefers
// nodes with fewer untolerated PreferNoSchedule taints.
package tainttoleration

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/klog/v2"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// Name is the plugin name.
const Name = "TaintToleration"

// Plugin implements TaintToleration.
type Plugin struct{}

var (
	_ framework.FilterPlugin         = Plugin{}
	_ framework.NormalizeScorePlugin = Plugin{}
)

// New returns the plugin.
func New() Plugin { return Plugin{} }

// Name implements framework.Plugin.
func (Plugin) Name() string { return Name }

// Tolerates reports whether tolerations tolerate taint.
func Tolerates(tolerations []corev1.Toleration, taint *corev1.Taint) bool {
	for i := range tolerations {
		if tolerations[i].ToleratesTaint(klog.Background(), taint, true) {
			return true
		}
	}
	return false
}

// Filter rejects a node with a NoSchedule or NoExecute taint the pod does
// not tolerate, naming the first such taint.
func (Plugin) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect != corev1.TaintEffectNoSchedule && t.Effect != corev1.TaintEffectNoExecute {
			continue
		}
		if !Tolerates(pod.Pod.Spec.Tolerations, t) {
			return framework.NewStatus(framework.UnschedulableAndUnresolvable,
				fmt.Sprintf("node(s) had untolerated taint {%s: %s}", t.Key, t.Value))
		}
	}
	return nil
}

// Score counts the node's PreferNoSchedule taints the pod does not
// tolerate (normalized so that fewer is better).
func (Plugin) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	var n int64
	for i := range node.Node.Spec.Taints {
		t := &node.Node.Spec.Taints[i]
		if t.Effect == corev1.TaintEffectPreferNoSchedule && !Tolerates(pod.Pod.Spec.Tolerations, t) {
			n++
		}
	}
	return n, nil
}

// NormalizeScore reverses the counts into [0, 100].
func (Plugin) NormalizeScore(_ *framework.CycleState, _ *framework.PodInfo, scores []framework.NodeScore) *framework.Status {
	framework.DefaultNormalizeScore(true, scores)
	return nil
}
