// Package nodename is the NodeName plugin: a pod naming a node in
// spec.nodeName fits only there.
package nodename

import "github.com/gantry-dev/gantry/internal/scheduler/framework"

// Name is the plugin name.
const Name = "NodeName"

// ErrReason is Kubernetes' reason for another node.
const ErrReason = "node(s) didn't match the requested node name"

// Plugin implements NodeName.
type Plugin struct{}

var _ framework.FilterPlugin = Plugin{}

// New returns the plugin.
func New() Plugin { return Plugin{} }

// Name implements framework.Plugin.
func (Plugin) Name() string { return Name }

// Filter rejects every node but the one the pod names, if it names one.
func (Plugin) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if n := pod.Pod.Spec.NodeName; n == "" || n == node.Name() {
		return nil
	}
	return framework.NewStatus(framework.UnschedulableAndUnresolvable, ErrReason)
}
