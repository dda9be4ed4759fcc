// Package scheduler assigns pending pods to nodes. It is an API client:
// shared informers watch pods (not finished) and nodes, and a pod is
// placed with POST pods/{name}/binding.
//
// Data flow:
//
//	pod informer ──pending, ours──► queue ──pop──► cycle ──node──► assume ──► bind (async)
//	     │  bound                                     │ none fits       │ failed: forget, back off
//	     ▼                                            ▼                 ▼
//	  clusterCache ◄── node informer        condition + event       Scheduled event
//	     │ updateSnapshot (changed nodes only)
//	     ▼
//	  framework.Snapshot (read by the cycle)
//
// The scheduling loop is one goroutine. Each cycle refreshes the snapshot
// from the cache (cloning only nodes changed since the previous cycle),
// runs the plugins of the registry table (plugins.go) over the nodes, and
// assumes the chosen node in the cache at once, so the next cycle sees the
// pod there before the informer does. Binding then runs in the background
// (at most Config.BindConcurrency at a time); a failed binding forgets the
// assumption and the pod is retried after its back-off. Filters and scores
// run in parallel over nodes (Config.Parallelism), and, as in Kubernetes,
// only until enough feasible nodes are found (Config.PercentageOfNodesToScore),
// starting where the previous cycle stopped.
//
// A pod that fits nowhere gets PodScheduled=False, reason Unschedulable, and
// a Warning FailedScheduling event, both with Kubernetes' message, e.g.
//
//	0/3 nodes are available: 1 node(s) had untolerated taint {dedicated: db}, 2 Insufficient cpu.
//	preemption: 0/3 nodes are available: 1 Preemption is not helpful for scheduling, 2 No preemption victims found for incoming pod.
//
// (on one line). When evicting pods of lower priority would make room on a
// node, those pods are deleted and the node is recorded in the pod's
// status.nominatedNodeName. Unschedulable pods wait until the cluster
// changes in a way that could help (a node added or changed, a pod deleted
// or finished, a bound pod relabelled) or Config.UnschedulableFlushInterval
// passes.
//
// New does no I/O; Run blocks until its context ends and may be called once.
package scheduler
