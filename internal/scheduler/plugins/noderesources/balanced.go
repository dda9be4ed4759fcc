package noderesources

import (
	"math"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// BalancedName is the NodeResourcesBalancedAllocation plugin's name.
const BalancedName = "NodeResourcesBalancedAllocation"

// Balanced implements NodeResourcesBalancedAllocation: the score is
// (1 - standard deviation of the requested fractions) × 100, so a node
// whose cpu and memory would be equally used scores highest.
type Balanced struct {
	resources []ResourceWeight
}

var _ framework.ScorePlugin = (*Balanced)(nil)

// NewBalanced returns the plugin over resources (DefaultResources when
// empty).
func NewBalanced(resources []ResourceWeight) *Balanced {
	if len(resources) == 0 {
		resources = DefaultResources
	}
	return &Balanced{resources: resources}
}

// Name implements framework.Plugin.
func (*Balanced) Name() string { return BalancedName }

// Score implements framework.ScorePlugin.
func (b *Balanced) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	var fractions [8]float64
	fs := fractions[:0]
	for _, rw := range b.resources {
		alloc, req := allocatableAndRequested(pod, node, rw.Name, false)
		if alloc == 0 {
			continue
		}
		fs = append(fs, min(float64(req)/float64(alloc), 1))
	}
	var std float64
	switch len(fs) {
	case 0, 1:
	case 2:
		std = math.Abs(fs[0]-fs[1]) / 2
	default:
		var mean float64
		for _, f := range fs {
			mean += f
		}
		mean /= float64(len(fs))
		var v float64
		for _, f := range fs {
			v += (f - mean) * (f - mean)
		}
		std = math.Sqrt(v / float64(len(fs)))
	}
	return int64((1 - std) * float64(framework.MaxNodeScore)), nil
}
