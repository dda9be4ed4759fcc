// Package nodeports is the NodePorts plugin: a pod's host ports must be
// free on the node (same protocol and port on an overlapping address).
package nodeports

import "github.com/gantry-dev/gantry/internal/scheduler/framework"

// Name is the plugin name.
const Name = "NodePorts"

// ErrReason is Kubernetes' reason for a port conflict.
const ErrReason = "node(s) didn't have free ports for the requested pod ports"

// Plugin implements NodePorts.
type Plugin struct{}

var (
	_ framework.PreFilterPlugin = Plugin{}
	_ framework.FilterPlugin    = Plugin{}
)

const stateKey = "PreFilter" + Name

// New returns the plugin.
func New() Plugin { return Plugin{} }

// Name implements framework.Plugin.
func (Plugin) Name() string { return Name }

// PreFilter records the pod's host ports.
func (Plugin) PreFilter(state *framework.CycleState, pod *framework.PodInfo, _ *framework.Snapshot) *framework.Status {
	state.Write(stateKey, framework.PodHostPorts(pod.Pod))
	return nil
}

// Filter rejects a node where one of the pod's host ports is taken.
func (Plugin) Filter(state *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	want, ok := state.Read(stateKey).([]framework.HostPort)
	if !ok {
		want = framework.PodHostPorts(pod.Pod)
	}
	for _, w := range want {
		for _, u := range node.UsedPorts {
			if Conflict(w, u) {
				return framework.NewStatus(framework.Unschedulable, ErrReason)
			}
		}
	}
	return nil
}

// Conflict reports whether two host ports cannot both be bound.
func Conflict(a, b framework.HostPort) bool {
	if a.Port != b.Port || a.Protocol != b.Protocol {
		return false
	}
	return a.IP == b.IP || a.IP == "0.0.0.0" || b.IP == "0.0.0.0"
}
