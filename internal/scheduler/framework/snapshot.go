package framework

import (
	"k8s.io/apimachinery/pkg/labels"
)

// Snapshot is the cluster as one scheduling cycle sees it: the candidate
// nodes (Ready, not being deleted) with their pods. It is not changed
// while a cycle runs.
type Snapshot struct {
	// Nodes lists every candidate node.
	Nodes []*NodeInfo
	// HavePodsWithAffinity and HavePodsWithRequiredAntiAffinity are the
	// nodes with at least one such pod.
	HavePodsWithAffinity             []*NodeInfo
	HavePodsWithRequiredAntiAffinity []*NodeInfo

	byName map[string]*NodeInfo
	// NamespaceLabels returns a namespace's labels (nil when unknown).
	NamespaceLabels func(namespace string) labels.Set
}

// NewSnapshot builds a snapshot of nodes (tests, benchmarks).
func NewSnapshot(nodes ...*NodeInfo) *Snapshot {
	s := &Snapshot{Nodes: nodes}
	s.Reindex()
	return s
}

// Reindex recomputes the name index and the affinity lists from Nodes.
func (s *Snapshot) Reindex() {
	s.byName = make(map[string]*NodeInfo, len(s.Nodes))
	for _, n := range s.Nodes {
		s.byName[n.Name()] = n
	}
	s.ReindexAffinity()
}

// ReindexAffinity recomputes HavePodsWithAffinity and
// HavePodsWithRequiredAntiAffinity from Nodes.
func (s *Snapshot) ReindexAffinity() {
	s.HavePodsWithAffinity = s.HavePodsWithAffinity[:0]
	s.HavePodsWithRequiredAntiAffinity = s.HavePodsWithRequiredAntiAffinity[:0]
	for _, n := range s.Nodes {
		if len(n.PodsWithAffinity) > 0 {
			s.HavePodsWithAffinity = append(s.HavePodsWithAffinity, n)
		}
		if len(n.PodsWithRequiredAntiAffinity) > 0 {
			s.HavePodsWithRequiredAntiAffinity = append(s.HavePodsWithRequiredAntiAffinity, n)
		}
	}
}

// Get returns the named node, or nil.
func (s *Snapshot) Get(name string) *NodeInfo { return s.byName[name] }

// Replace swaps the NodeInfo of an existing node (by name) for n; the
// caller reindexes affinity if n's affinity pods changed.
func (s *Snapshot) Replace(i int, n *NodeInfo) {
	s.Nodes[i] = n
	s.byName[n.Name()] = n
}

// NamespaceLabelsOf returns the labels of namespace ns.
func (s *Snapshot) NamespaceLabelsOf(ns string) labels.Set {
	if s.NamespaceLabels == nil {
		return nil
	}
	return s.NamespaceLabels(ns)
}
