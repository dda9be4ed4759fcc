package framework

import (
	"maps"

	corev1 "k8s.io/api/core/v1"
)

// Resource is an amount of each schedulable resource. CPU is in
// millicores, the rest in their base units; Scalar holds extended
// resources and hugepages.
type Resource struct {
	MilliCPU         int64
	Memory           int64
	EphemeralStorage int64
	// AllowedPodNumber is the node's "pods" capacity (unused in requests).
	AllowedPodNumber int64
	Scalar           map[corev1.ResourceName]int64
}

// Defaults Kubernetes assumes, for spreading only, for a container that
// requests no cpu or memory (so that many best-effort pods do not all land
// on one node).
const (
	DefaultMilliCPURequest int64 = 100               // 0.1 core
	DefaultMemoryRequest   int64 = 200 * 1024 * 1024 // 200 MiB
)

// NewResource converts a ResourceList.
func NewResource(rl corev1.ResourceList) Resource {
	var r Resource
	r.Add(rl)
	return r
}

// Add adds the quantities of rl.
func (r *Resource) Add(rl corev1.ResourceList) {
	for name, q := range rl {
		switch name {
		case corev1.ResourceCPU:
			r.MilliCPU += q.MilliValue()
		case corev1.ResourceMemory:
			r.Memory += q.Value()
		case corev1.ResourceEphemeralStorage:
			r.EphemeralStorage += q.Value()
		case corev1.ResourcePods:
			r.AllowedPodNumber += q.Value()
		default:
			if IsScalarResource(name) {
				r.SetScalar(name, r.Scalar[name]+q.Value())
			}
		}
	}
}

// SetScalar sets one scalar resource.
func (r *Resource) SetScalar(name corev1.ResourceName, v int64) {
	if r.Scalar == nil {
		r.Scalar = map[corev1.ResourceName]int64{}
	}
	r.Scalar[name] = v
}

// AddResource adds o to r (AllowedPodNumber excepted).
func (r *Resource) AddResource(o Resource) {
	r.MilliCPU += o.MilliCPU
	r.Memory += o.Memory
	r.EphemeralStorage += o.EphemeralStorage
	for n, v := range o.Scalar {
		r.SetScalar(n, r.Scalar[n]+v)
	}
}

// SubResource subtracts o from r (AllowedPodNumber excepted).
func (r *Resource) SubResource(o Resource) {
	r.MilliCPU -= o.MilliCPU
	r.Memory -= o.Memory
	r.EphemeralStorage -= o.EphemeralStorage
	for n, v := range o.Scalar {
		r.SetScalar(n, r.Scalar[n]-v)
	}
}

// Max sets each quantity of r to the larger of r's and o's.
func (r *Resource) Max(o Resource) {
	r.MilliCPU = max(r.MilliCPU, o.MilliCPU)
	r.Memory = max(r.Memory, o.Memory)
	r.EphemeralStorage = max(r.EphemeralStorage, o.EphemeralStorage)
	for n, v := range o.Scalar {
		if v > r.Scalar[n] {
			r.SetScalar(n, v)
		}
	}
}

// IsZero reports whether nothing is requested.
func (r Resource) IsZero() bool {
	if r.MilliCPU != 0 || r.Memory != 0 || r.EphemeralStorage != 0 {
		return false
	}
	for _, v := range r.Scalar {
		if v != 0 {
			return false
		}
	}
	return true
}

// Clone returns a deep copy.
func (r Resource) Clone() Resource {
	r.Scalar = maps.Clone(r.Scalar)
	return r
}

// Get returns the amount of one resource.
func (r Resource) Get(name corev1.ResourceName) int64 {
	switch name {
	case corev1.ResourceCPU:
		return r.MilliCPU
	case corev1.ResourceMemory:
		return r.Memory
	case corev1.ResourceEphemeralStorage:
		return r.EphemeralStorage
	case corev1.ResourcePods:
		return r.AllowedPodNumber
	}
	return r.Scalar[name]
}

// IsScalarResource reports whether name is counted in Resource.Scalar:
// extended resources (a domain-qualified name outside kubernetes.io/,
// e.g. example.com/gpu), hugepages-* and attachable-volumes-*.
func IsScalarResource(name corev1.ResourceName) bool {
	s := string(name)
	if len(s) > len(corev1.ResourceHugePagesPrefix) && s[:len(corev1.ResourceHugePagesPrefix)] == corev1.ResourceHugePagesPrefix {
		return true
	}
	if len(s) > len(corev1.ResourceAttachableVolumesPrefix) && s[:len(corev1.ResourceAttachableVolumesPrefix)] == corev1.ResourceAttachableVolumesPrefix {
		return true
	}
	return isExtendedResourceName(s)
}

// isExtendedResourceName: a qualified name "domain/name" whose domain is
// not kubernetes.io or *.kubernetes.io, and not requests.*.
func isExtendedResourceName(s string) bool {
	slash := -1
	for i := range len(s) {
		if s[i] == '/' {
			slash = i
			break
		}
	}
	if slash <= 0 {
		return false
	}
	domain := s[:slash]
	if domain == "kubernetes.io" || len(domain) > len(".kubernetes.io") && domain[len(domain)-len(".kubernetes.io"):] == ".kubernetes.io" {
		return false
	}
	return len(s) < 9 || s[:9] != "requests."
}

// PodRequests computes what a pod requests as Kubernetes counts it:
// the sum of its app containers and sidecars (restartable init
// containers), or, if larger for a resource, what an init container needs
// together with the sidecars started before it; plus the pod overhead.
// Pod-level requests (spec.resources) replace the cpu and memory sums.
//
// With nonZero, a container's missing cpu and memory requests count as
// DefaultMilliCPURequest and DefaultMemoryRequest (for scoring).
func PodRequests(pod *corev1.Pod, nonZero bool) Resource {
	container := func(c *corev1.Container) Resource {
		r := NewResource(c.Resources.Requests)
		if nonZero {
			if _, ok := c.Resources.Requests[corev1.ResourceCPU]; !ok {
				r.MilliCPU = DefaultMilliCPURequest
			}
			if _, ok := c.Resources.Requests[corev1.ResourceMemory]; !ok {
				r.Memory = DefaultMemoryRequest
			}
		}
		return r
	}
	var sum Resource
	for i := range pod.Spec.Containers {
		sum.AddResource(container(&pod.Spec.Containers[i]))
	}
	var sidecars, initMax Resource
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		r := container(c)
		if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
			sum.AddResource(r)
			sidecars.AddResource(r)
			initMax.Max(sidecars)
			continue
		}
		r.AddResource(sidecars)
		initMax.Max(r)
	}
	sum.Max(initMax)
	if pr := pod.Spec.Resources; pr != nil {
		if q, ok := pr.Requests[corev1.ResourceCPU]; ok {
			sum.MilliCPU = q.MilliValue()
		}
		if q, ok := pr.Requests[corev1.ResourceMemory]; ok {
			sum.Memory = q.Value()
		}
	}
	sum.Add(pod.Spec.Overhead)
	return sum
}
