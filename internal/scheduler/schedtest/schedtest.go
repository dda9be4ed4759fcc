// Package schedtest builds nodes, pods and snapshots for scheduler tests
// and benchmarks.
package schedtest

import (
	"fmt"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
)

// NodeBuilder builds a Ready node.
type NodeBuilder struct{ n *corev1.Node }

// Node starts a Ready node named name with the kubernetes.io/hostname label
// and room for 110 pods.
func Node(name string) *NodeBuilder {
	rl := corev1.ResourceList{corev1.ResourcePods: resource.MustParse("110")}
	return &NodeBuilder{&corev1.Node{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{corev1.LabelHostname: name}},
		Status: corev1.NodeStatus{Capacity: rl, Allocatable: rl.DeepCopy(),
			Conditions: []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue}}},
	}}
}

// Allocatable sets allocatable (and capacity) quantities: "cpu", "4", …
func (b *NodeBuilder) Allocatable(kv ...string) *NodeBuilder {
	for i := 0; i+1 < len(kv); i += 2 {
		q := resource.MustParse(kv[i+1])
		b.n.Status.Allocatable[corev1.ResourceName(kv[i])] = q
		b.n.Status.Capacity[corev1.ResourceName(kv[i])] = q
	}
	return b
}

// Label adds a label.
func (b *NodeBuilder) Label(k, v string) *NodeBuilder {
	b.n.Labels[k] = v
	return b
}

// Taint adds a taint.
func (b *NodeBuilder) Taint(key, value string, effect corev1.TaintEffect) *NodeBuilder {
	b.n.Spec.Taints = append(b.n.Spec.Taints, corev1.Taint{Key: key, Value: value, Effect: effect})
	return b
}

// Unschedulable cordons the node.
func (b *NodeBuilder) Unschedulable() *NodeBuilder {
	b.n.Spec.Unschedulable = true
	return b
}

// Obj returns the node.
func (b *NodeBuilder) Obj() *corev1.Node { return b.n }

// Info returns a NodeInfo of the node with pods (their nodeName is set).
func (b *NodeBuilder) Info(pods ...*corev1.Pod) *framework.NodeInfo {
	ni := framework.NewNodeInfo(b.n)
	for _, p := range pods {
		p.Spec.NodeName = b.n.Name
		ni.AddPod(framework.NewPodInfo(p))
	}
	return ni
}

// PodBuilder builds a pod.
type PodBuilder struct{ p *corev1.Pod }

// Pod starts a pod in namespace "default" with one container.
func Pod(name string) *PodBuilder {
	return &PodBuilder{&corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", UID: types.UID("uid-" + name), Labels: map[string]string{}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "app", Image: "app"}}},
	}}
}

func list(kv []string) corev1.ResourceList {
	rl := corev1.ResourceList{}
	for i := 0; i+1 < len(kv); i += 2 {
		rl[corev1.ResourceName(kv[i])] = resource.MustParse(kv[i+1])
	}
	return rl
}

// Req sets the first container's requests: "cpu", "500m", ….
func (b *PodBuilder) Req(kv ...string) *PodBuilder {
	b.p.Spec.Containers[0].Resources.Requests = list(kv)
	return b
}

// Container adds an app container with requests.
func (b *PodBuilder) Container(kv ...string) *PodBuilder {
	n := len(b.p.Spec.Containers)
	b.p.Spec.Containers = append(b.p.Spec.Containers, corev1.Container{Name: fmt.Sprintf("c%d", n), Image: "app",
		Resources: corev1.ResourceRequirements{Requests: list(kv)}})
	return b
}

// Init adds an init container with requests; sidecar makes it a
// restartable (sidecar) init container.
func (b *PodBuilder) Init(sidecar bool, kv ...string) *PodBuilder {
	c := corev1.Container{Name: fmt.Sprintf("init%d", len(b.p.Spec.InitContainers)), Image: "init",
		Resources: corev1.ResourceRequirements{Requests: list(kv)}}
	if sidecar {
		always := corev1.ContainerRestartPolicyAlways
		c.RestartPolicy = &always
	}
	b.p.Spec.InitContainers = append(b.p.Spec.InitContainers, c)
	return b
}

// Overhead sets the pod overhead.
func (b *PodBuilder) Overhead(kv ...string) *PodBuilder {
	b.p.Spec.Overhead = list(kv)
	return b
}

// Label adds a label.
func (b *PodBuilder) Label(k, v string) *PodBuilder {
	b.p.Labels[k] = v
	return b
}

// Namespace sets the namespace.
func (b *PodBuilder) Namespace(ns string) *PodBuilder {
	b.p.Namespace = ns
	return b
}

// Priority sets spec.priority.
func (b *PodBuilder) Priority(p int32) *PodBuilder {
	b.p.Spec.Priority = &p
	return b
}

// HostPort adds a host port to the first container.
func (b *PodBuilder) HostPort(port int32, protocol corev1.Protocol, ip string) *PodBuilder {
	b.p.Spec.Containers[0].Ports = append(b.p.Spec.Containers[0].Ports, corev1.ContainerPort{ContainerPort: port, HostPort: port, Protocol: protocol, HostIP: ip})
	return b
}

// NodeSelector adds a nodeSelector entry.
func (b *PodBuilder) NodeSelector(k, v string) *PodBuilder {
	if b.p.Spec.NodeSelector == nil {
		b.p.Spec.NodeSelector = map[string]string{}
	}
	b.p.Spec.NodeSelector[k] = v
	return b
}

func (b *PodBuilder) affinity() *corev1.Affinity {
	if b.p.Spec.Affinity == nil {
		b.p.Spec.Affinity = &corev1.Affinity{}
	}
	return b.p.Spec.Affinity
}

// RequiredNodeAffinity adds a required term "key op values".
func (b *PodBuilder) RequiredNodeAffinity(key string, op corev1.NodeSelectorOperator, values ...string) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	if a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution == nil {
		a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution = &corev1.NodeSelector{}
	}
	ns := a.NodeAffinity.RequiredDuringSchedulingIgnoredDuringExecution
	ns.NodeSelectorTerms = append(ns.NodeSelectorTerms, corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: op, Values: values}}})
	return b
}

// PreferredNodeAffinity adds a preferred term key In values.
func (b *PodBuilder) PreferredNodeAffinity(weight int32, key string, values ...string) *PodBuilder {
	a := b.affinity()
	if a.NodeAffinity == nil {
		a.NodeAffinity = &corev1.NodeAffinity{}
	}
	a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.NodeAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
		corev1.PreferredSchedulingTerm{Weight: weight, Preference: corev1.NodeSelectorTerm{MatchExpressions: []corev1.NodeSelectorRequirement{{Key: key, Operator: corev1.NodeSelectorOpIn, Values: values}}}})
	return b
}

// Toleration adds a toleration (operator Equal, or Exists when value is "").
func (b *PodBuilder) Toleration(key, value string, effect corev1.TaintEffect) *PodBuilder {
	t := corev1.Toleration{Key: key, Value: value, Effect: effect, Operator: corev1.TolerationOpEqual}
	if value == "" {
		t.Operator = corev1.TolerationOpExists
	}
	b.p.Spec.Tolerations = append(b.p.Spec.Tolerations, t)
	return b
}

func term(topologyKey string, matchLabels map[string]string) corev1.PodAffinityTerm {
	return corev1.PodAffinityTerm{TopologyKey: topologyKey, LabelSelector: &metav1.LabelSelector{MatchLabels: matchLabels}}
}

// PodAffinity adds a required (weight 0) or preferred pod affinity term.
func (b *PodBuilder) PodAffinity(weight int32, topologyKey string, matchLabels map[string]string) *PodBuilder {
	a := b.affinity()
	if a.PodAffinity == nil {
		a.PodAffinity = &corev1.PodAffinity{}
	}
	if weight == 0 {
		a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(topologyKey, matchLabels))
	} else {
		a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(topologyKey, matchLabels)})
	}
	return b
}

// PodAntiAffinity adds a required (weight 0) or preferred anti-affinity term.
func (b *PodBuilder) PodAntiAffinity(weight int32, topologyKey string, matchLabels map[string]string) *PodBuilder {
	a := b.affinity()
	if a.PodAntiAffinity == nil {
		a.PodAntiAffinity = &corev1.PodAntiAffinity{}
	}
	if weight == 0 {
		a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.RequiredDuringSchedulingIgnoredDuringExecution, term(topologyKey, matchLabels))
	} else {
		a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution = append(a.PodAntiAffinity.PreferredDuringSchedulingIgnoredDuringExecution,
			corev1.WeightedPodAffinityTerm{Weight: weight, PodAffinityTerm: term(topologyKey, matchLabels)})
	}
	return b
}

// Spread adds a topology spread constraint.
func (b *PodBuilder) Spread(maxSkew int32, topologyKey string, when corev1.UnsatisfiableConstraintAction, matchLabels map[string]string) *PodBuilder {
	b.p.Spec.TopologySpreadConstraints = append(b.p.Spec.TopologySpreadConstraints, corev1.TopologySpreadConstraint{
		MaxSkew: maxSkew, TopologyKey: topologyKey, WhenUnsatisfiable: when, LabelSelector: &metav1.LabelSelector{MatchLabels: matchLabels},
	})
	return b
}

// Obj returns the pod.
func (b *PodBuilder) Obj() *corev1.Pod { return b.p }

// Info returns the pod's PodInfo.
func (b *PodBuilder) Info() *framework.PodInfo { return framework.NewPodInfo(b.p) }
