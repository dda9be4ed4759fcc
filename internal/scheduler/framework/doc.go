// Package framework defines the scheduling plugin interfaces and the data
// they work on: a Snapshot of NodeInfos (a node, its pods and what they
// request) and PodInfos (a pod with its requests and affinity terms
// pre-computed).
//
// A scheduling cycle for one pod runs, in order:
//
//	PreFilter(pod, snapshot)      once; may compute state or reject the pod
//	Filter(pod, node)             per node, cheap plugins first; the first
//	                              non-success Status decides for that node
//	PreScore(pod, feasible nodes) once
//	Score(pod, node)              per feasible node, 0..MaxNodeScore
//	NormalizeScore(scores)        once per plugin, back into 0..MaxNodeScore
//
// Concurrency: PreFilter and PreScore run on one goroutine and may write the
// CycleState; Filter and Score may run concurrently for different nodes and
// only read it. Plugins hold no per-pod state of their own. A Snapshot and
// its NodeInfos are immutable while a cycle runs; the scheduler updates them
// between cycles.
//
// Status reasons are Kubernetes' wording ("Insufficient cpu", "node(s) had
// untolerated taint {k: v}") because users and tools match on them; the
// scheduler counts them per node to explain an unschedulable pod.
package framework
