package noderesources

import (
	"slices"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// FitName is the NodeResourcesFit plugin's name.
const FitName = "NodeResourcesFit"

// Strategy names a NodeResourcesFit scoring strategy.
type Strategy string

const (
	// LeastAllocated prefers nodes with the most free resources (spreading).
	LeastAllocated Strategy = "LeastAllocated"
	// MostAllocated prefers the fullest nodes that fit (bin packing).
	MostAllocated Strategy = "MostAllocated"
)

// ResourceWeight is a resource scored and its weight.
type ResourceWeight struct {
	Name   corev1.ResourceName
	Weight int64
}

// DefaultResources are the resources scored by default (cpu and memory,
// weight 1 each), as in Kubernetes.
var DefaultResources = []ResourceWeight{{corev1.ResourceCPU, 1}, {corev1.ResourceMemory, 1}}

// Fit implements NodeResourcesFit.
type Fit struct {
	strategy  Strategy
	resources []ResourceWeight
}

var (
	_ framework.FilterPlugin = (*Fit)(nil)
	_ framework.ScorePlugin  = (*Fit)(nil)
)

// NewFit returns NodeResourcesFit scoring with strategy over resources
// (DefaultResources when empty; LeastAllocated when strategy is empty).
func NewFit(strategy Strategy, resources []ResourceWeight) *Fit {
	if strategy == "" {
		strategy = LeastAllocated
	}
	if len(resources) == 0 {
		resources = DefaultResources
	}
	return &Fit{strategy: strategy, resources: resources}
}

// Name implements framework.Plugin.
func (*Fit) Name() string { return FitName }

// Filter returns every resource that does not fit, in Kubernetes' order:
// pods, cpu, memory, ephemeral-storage, then extended resources by name.
func (*Fit) Filter(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) *framework.Status {
	if r := InsufficientResources(pod, node); len(r) > 0 {
		return framework.NewStatus(framework.Unschedulable, r...)
	}
	return nil
}

// InsufficientResources lists the reasons pod does not fit on node.
func InsufficientResources(pod *framework.PodInfo, node *framework.NodeInfo) []string {
	var reasons []string
	if int64(len(node.Pods))+1 > node.Allocatable.AllowedPodNumber {
		reasons = append(reasons, "Too many pods")
	}
	req := &pod.Requests
	if req.IsZero() {
		return reasons
	}
	alloc, used := &node.Allocatable, &node.Requested
	if req.MilliCPU > 0 && req.MilliCPU > alloc.MilliCPU-used.MilliCPU {
		reasons = append(reasons, "Insufficient cpu")
	}
	if req.Memory > 0 && req.Memory > alloc.Memory-used.Memory {
		reasons = append(reasons, "Insufficient memory")
	}
	if req.EphemeralStorage > 0 && req.EphemeralStorage > alloc.EphemeralStorage-used.EphemeralStorage {
		reasons = append(reasons, "Insufficient ephemeral-storage")
	}
	if len(req.Scalar) > 0 {
		var scalar []string
		for name, q := range req.Scalar {
			if q > 0 && q > alloc.Scalar[name]-used.Scalar[name] {
				scalar = append(scalar, "Insufficient "+string(name))
			}
		}
		slices.Sort(scalar)
		reasons = append(reasons, scalar...)
	}
	return reasons
}

// Score rates the node by the configured strategy over the requests the
// node would carry with the pod.
func (f *Fit) Score(_ *framework.CycleState, pod *framework.PodInfo, node *framework.NodeInfo) (int64, *framework.Status) {
	var score, weights int64
	for _, rw := range f.resources {
		alloc, req := allocatableAndRequested(pod, node, rw.Name, true)
		if alloc == 0 {
			continue
		}
		var s int64
		switch f.strategy {
		case MostAllocated:
			s = mostAllocated(req, alloc)
		default:
			s = leastAllocated(req, alloc)
		}
		score += s * rw.Weight
		weights += rw.Weight
	}
	if weights == 0 {
		return 0, nil
	}
	return score / weights, nil
}

// allocatableAndRequested returns the node's allocatable amount of a
// resource and what would be requested with the pod (cpu and memory with
// the non-zero defaults when nonZero).
func allocatableAndRequested(pod *framework.PodInfo, node *framework.NodeInfo, name corev1.ResourceName, nonZero bool) (int64, int64) {
	switch {
	case !nonZero:
	case name == corev1.ResourceCPU:
		return node.Allocatable.MilliCPU, node.NonZeroRequested.MilliCPU + pod.NonZeroRequests.MilliCPU
	case name == corev1.ResourceMemory:
		return node.Allocatable.Memory, node.NonZeroRequested.Memory + pod.NonZeroRequests.Memory
	}
	return node.Allocatable.Get(name), node.Requested.Get(name) + pod.Requests.Get(name)
}

func leastAllocated(requested, capacity int64) int64 {
	if requested > capacity {
		return 0
	}
	return (capacity - requested) * framework.MaxNodeScore / capacity
}

func mostAllocated(requested, capacity int64) int64 {
	if requested > capacity {
		requested = capacity
	}
	return requested * framework.MaxNodeScore / capacity
}
