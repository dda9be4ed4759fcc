// Package nodeunschedulable is the NodeUnschedulable plugin: cordoned
// nodes (spec.unschedulable) take only pods that tolerate the
// node.kubernetes.io/unschedulable:NoSchedule taint.
package nodeunschedulable

import (
	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	"github.com/gantry-dev/gantry/internal/scheduler/plugins/tainttoleration"
)

// Name is the plugin name.
const Name = "NodeUnschedulable"

// ErrReason is Kubernetes' reason for a cordoned node.
const ErrReason = "node(s) were unschedulable"

// Plugin implements NodeUnschedulable.
type Plugin struct{}

var _ framework.FilterPlugin = Plugin{}

// New returns the plugin.
func New() Plugin { return Plugin{} }

// Name implements framework.Plugin.
func (Plugin) Name() string { return Name }

var unschedulableTaint = corev1.Taint{Key: corev1.TaintNodeUnschedulable, Effect: corev1.TaintEffectNoSchedule}

// Filter rejects a cordoned node unless the pod tolerates it.
func (Plugin) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if !node.Node.Spec.Unschedulable || tainttoleration.Tolerates(pod.Pod.Spec.Tolerations, &unschedulableTaint) {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
}
