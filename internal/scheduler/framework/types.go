package framework

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/sets"
)

// MaxNodeScore is the highest score a Score plugin returns (after
// normalization); MinNodeScore the lowest.
const (
	MaxNodeScore int64 = 100
	MinNodeScore int64 = 0
)

// AffinityTerm is a parsed PodAffinityTerm.
type AffinityTerm struct {
	// Namespaces the term applies to (the pod's own when the term names
	// none and has no namespace selector).
	Namespaces sets.Set[string]
	// NamespaceSelector selects further namespaces by their labels;
	// labels.Nothing() when absent.
	NamespaceSelector labels.Selector
	Selector          labels.Selector
	TopologyKey       string
	// Weight is the preferred term's weight (1 for required terms).
	Weight int32

	hasNamespaceSelector bool
}

// HasNamespaceSelector reports whether the term selects namespaces by
// their labels (so whether it matches can change without any pod changing).
func (t *AffinityTerm) HasNamespaceSelector() bool { return t.hasNamespaceSelector }

// Matches reports whether pod is selected by the term; nsLabels returns
// a namespace's labels and is called only for terms with a namespace
// selector.
func (t *AffinityTerm) Matches(pod *corev1.Pod, nsLabels func(namespace string) labels.Set) bool {
	if t.Namespaces.Has(pod.Namespace) || t.hasNamespaceSelector && t.NamespaceSelector.Matches(nsLabels(pod.Namespace)) {
		return t.Selector.Matches(labels.Set(pod.Labels))
	}
	return false
}

// PodInfo is a pod with what the plugins need pre-computed.
type PodInfo struct {
	Pod *corev1.Pod
	// Requests is what the pod requests (PodRequests).
	Requests Resource
	// NonZeroRequests counts missing cpu/memory requests as defaults.
	NonZeroRequests Resource

	RequiredAffinityTerms      []AffinityTerm
	RequiredAntiAffinityTerms  []AffinityTerm
	PreferredAffinityTerms     []AffinityTerm
	PreferredAntiAffinityTerms []AffinityTerm
	// ParseErr is set when a label selector of the pod is invalid.
	ParseErr error
}

// NewPodInfo pre-computes a pod's requests and affinity terms.
func NewPodInfo(pod *corev1.Pod) *PodInfo {
	pi := &PodInfo{Pod: pod, Requests: PodRequests(pod, false), NonZeroRequests: PodRequests(pod, true)}
	a := pod.Spec.Affinity
	if a == nil {
		return pi
	}
	var err error
	if pa := a.PodAffinity; pa != nil {
		if pi.RequiredAffinityTerms, err = terms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, nil); err != nil {
			pi.ParseErr = err
		}
		if pi.PreferredAffinityTerms, err = terms(pod, nil, pa.PreferredDuringSchedulingIgnoredDuringExecution); err != nil {
			pi.ParseErr = err
		}
	}
	if pa := a.PodAntiAffinity; pa != nil {
		if pi.RequiredAntiAffinityTerms, err = terms(pod, pa.RequiredDuringSchedulingIgnoredDuringExecution, nil); err != nil {
			pi.ParseErr = err
		}
		if pi.PreferredAntiAffinityTerms, err = terms(pod, nil, pa.PreferredDuringSchedulingIgnoredDuringExecution); err != nil {
			pi.ParseErr = err
		}
	}
	return pi
}

func terms(pod *corev1.Pod, required []corev1.PodAffinityTerm, preferred []corev1.WeightedPodAffinityTerm) ([]AffinityTerm, error) {
	var out []AffinityTerm
	add := func(t *corev1.PodAffinityTerm, weight int32) error {
		sel, err := metav1.LabelSelectorAsSelector(t.LabelSelector)
		if err != nil {
			return fmt.Errorf("pod affinity term: %w", err)
		}
		// matchLabelKeys and mismatchLabelKeys take values from the pod.
		if len(t.MatchLabelKeys) > 0 || len(t.MismatchLabelKeys) > 0 {
			for _, k := range t.MatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					r, err := labels.NewRequirement(k, "in", []string{v})
					if err == nil {
						sel = sel.Add(*r)
					}
				}
			}
			for _, k := range t.MismatchLabelKeys {
				if v, ok := pod.Labels[k]; ok {
					r, err := labels.NewRequirement(k, "notin", []string{v})
					if err == nil {
						sel = sel.Add(*r)
					}
				}
			}
		}
		nsSel := labels.Nothing()
		if t.NamespaceSelector != nil {
			if nsSel, err = metav1.LabelSelectorAsSelector(t.NamespaceSelector); err != nil {
				return fmt.Errorf("pod affinity namespace selector: %w", err)
			}
		}
		ns := sets.New(t.Namespaces...)
		if len(t.Namespaces) == 0 && t.NamespaceSelector == nil {
			ns.Insert(pod.Namespace)
		}
		out = append(out, AffinityTerm{Namespaces: ns, NamespaceSelector: nsSel, Selector: sel, TopologyKey: t.TopologyKey, Weight: weight,
			hasNamespaceSelector: t.NamespaceSelector != nil})
		return nil
	}
	for i := range required {
		if err := add(&required[i], 1); err != nil {
			return out, err
		}
	}
	for i := range preferred {
		if err := add(&preferred[i].PodAffinityTerm, preferred[i].Weight); err != nil {
			return out, err
		}
	}
	return out, nil
}

// HasAffinity reports whether the pod has any pod (anti-)affinity term.
func (pi *PodInfo) HasAffinity() bool {
	return len(pi.RequiredAffinityTerms)+len(pi.RequiredAntiAffinityTerms)+len(pi.PreferredAffinityTerms)+len(pi.PreferredAntiAffinityTerms) > 0
}

// HostPort is one host port a pod uses.
type HostPort struct {
	IP       string // "0.0.0.0" for all addresses
	Protocol corev1.Protocol
	Port     int32
}

// PodHostPorts lists the host ports a pod's containers (and sidecars)
// request.
func PodHostPorts(pod *corev1.Pod) []HostPort {
	var out []HostPort
	add := func(cs []corev1.Container, sidecarsOnly bool) {
		for i := range cs {
			if sidecarsOnly && (cs[i].RestartPolicy == nil || *cs[i].RestartPolicy != corev1.ContainerRestartPolicyAlways) {
				continue
			}
			for _, p := range cs[i].Ports {
				if p.HostPort <= 0 {
					continue
				}
				hp := HostPort{IP: p.HostIP, Protocol: p.Protocol, Port: p.HostPort}
				if hp.IP == "" {
					hp.IP = "0.0.0.0"
				}
				if hp.Protocol == "" {
					hp.Protocol = corev1.ProtocolTCP
				}
				out = append(out, hp)
			}
		}
	}
	add(pod.Spec.InitContainers, true)
	add(pod.Spec.Containers, false)
	return out
}

// NodeInfo is a node and the pods on it (bound or assumed).
type NodeInfo struct {
	Node *corev1.Node
	Pods []*PodInfo
	// PodsWithAffinity and PodsWithRequiredAntiAffinity are the subsets of
	// Pods with any pod affinity term and with required anti-affinity.
	PodsWithAffinity             []*PodInfo
	PodsWithRequiredAntiAffinity []*PodInfo
	// Requested sums the pods' Requests; NonZeroRequested their
	// NonZeroRequests.
	Requested        Resource
	NonZeroRequested Resource
	Allocatable      Resource
	UsedPorts        []HostPort
	// Generation increases with every change (the scheduler's cache uses it
	// to refresh snapshots incrementally).
	Generation int64
}

// NewNodeInfo returns a NodeInfo for node with the given pods.
func NewNodeInfo(node *corev1.Node, pods ...*PodInfo) *NodeInfo {
	ni := &NodeInfo{}
	ni.SetNode(node)
	for _, p := range pods {
		ni.AddPod(p)
	}
	return ni
}

// Name returns the node's name ("" without a node).
func (n *NodeInfo) Name() string {
	if n.Node == nil {
		return ""
	}
	return n.Node.Name
}

// SetNode sets the node object and its allocatable resources.
func (n *NodeInfo) SetNode(node *corev1.Node) {
	n.Node = node
	n.Allocatable = Resource{}
	if node != nil {
		n.Allocatable = NewResource(node.Status.Allocatable)
	}
}

// AddPod accounts pi on the node.
func (n *NodeInfo) AddPod(pi *PodInfo) {
	n.Pods = append(n.Pods, pi)
	if pi.HasAffinity() {
		n.PodsWithAffinity = append(n.PodsWithAffinity, pi)
	}
	if len(pi.RequiredAntiAffinityTerms) > 0 {
		n.PodsWithRequiredAntiAffinity = append(n.PodsWithRequiredAntiAffinity, pi)
	}
	n.Requested.AddResource(pi.Requests)
	n.NonZeroRequested.AddResource(pi.NonZeroRequests)
	n.UsedPorts = append(n.UsedPorts, PodHostPorts(pi.Pod)...)
}

// RemovePod removes the pod with pi's UID; it reports whether it was there.
func (n *NodeInfo) RemovePod(pod *corev1.Pod) bool {
	idx := -1
	for i, p := range n.Pods {
		if p.Pod.UID == pod.UID {
			idx = i
			break
		}
	}
	if idx < 0 {
		return false
	}
	pi := n.Pods[idx]
	n.Pods = deleteAt(n.Pods, idx)
	n.PodsWithAffinity = deletePod(n.PodsWithAffinity, pod)
	n.PodsWithRequiredAntiAffinity = deletePod(n.PodsWithRequiredAntiAffinity, pod)
	n.Requested.SubResource(pi.Requests)
	n.NonZeroRequested.SubResource(pi.NonZeroRequests)
	if len(n.UsedPorts) > 0 {
		n.UsedPorts = nil
		for _, p := range n.Pods {
			n.UsedPorts = append(n.UsedPorts, PodHostPorts(p.Pod)...)
		}
	}
	return true
}

// deleteAt removes element i into a new slice, so that the backing array
// shared with clones is not touched.
func deleteAt(s []*PodInfo, i int) []*PodInfo {
	out := make([]*PodInfo, 0, len(s)-1)
	out = append(out, s[:i]...)
	return append(out, s[i+1:]...)
}

func deletePod(s []*PodInfo, pod *corev1.Pod) []*PodInfo {
	for i, p := range s {
		if p.Pod.UID == pod.UID {
			return deleteAt(s, i)
		}
	}
	return s
}

// Clone returns a copy that can be changed without affecting n. PodInfos
// are shared (they are immutable).
func (n *NodeInfo) Clone() *NodeInfo {
	c := *n
	c.Pods = clip(n.Pods)
	c.PodsWithAffinity = clip(n.PodsWithAffinity)
	c.PodsWithRequiredAntiAffinity = clip(n.PodsWithRequiredAntiAffinity)
	c.UsedPorts = n.UsedPorts[:len(n.UsedPorts):len(n.UsedPorts)]
	c.Requested = n.Requested.Clone()
	c.NonZeroRequested = n.NonZeroRequested.Clone()
	c.Allocatable = n.Allocatable.Clone()
	return &c
}

// clip caps the capacity so that appending to the copy reallocates.
func clip(s []*PodInfo) []*PodInfo { return s[:len(s):len(s)] }
