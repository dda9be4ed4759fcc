// Package nodelifecycle is the node lifecycle controller: it notices nodes
// whose agent stopped heartbeating, taints them, and evicts their pods, as
// Kubernetes' node lifecycle controller and taint eviction do.
//
// Keys are node names; node, Lease (kube-node-lease/<node>) and pod
// (binding, tolerations) events map to them, and each reconcile schedules
// the next look at the node's own deadline. Reconcile:
//
//	heartbeat = the Lease's renewTime and the Ready condition's
//	            lastHeartbeatTime; when either changes, probe = now
//	            (this controller's clock, so node clock skew is harmless)
//	now - probe ≥ NodeMonitorGracePeriod:
//	    every condition Unknown, reason NodeStatusUnknown, "Kubelet stopped
//	    posting node status." (NodeStatusNeverUpdated for a node that never
//	    reported one)
//	Ready ≠ True:  the node's pods get Ready=False (MarkPodsNotReady)
//	taints from Ready:   Unknown → node.kubernetes.io/unreachable
//	                     False   → node.kubernetes.io/not-ready
//	                     True    → neither
//	                     (NoSchedule and NoExecute each; TimeAdded kept)
//	NoExecute taints: each pod on the node goes (DisruptionTarget condition,
//	    then DELETE with its own grace period) once its tolerations run out
//	    (taints.go: evictionTime)
//
// A node is healthy again once its agent renews the Lease and reports
// Ready=True; the taints then go.
//
// # Timings
//
// Kubernetes waits 40 s (node-monitor-grace-period) and then 300 s (the
// tolerations its DefaultTolerationSeconds admission adds to every pod).
// Gantry's defaults are 15 s and 10 s (Config.NodeMonitorGracePeriod,
// Config.DefaultTolerationSeconds), so that the pods of a dead node are
// replaced within 30 s: 25 s until their deletion, then the workload
// controllers and the scheduler. Gantry has no DefaultTolerationSeconds
// admission plugin: this controller treats a pod without any toleration for
// the not-ready or unreachable taint as tolerating it DefaultTolerationSeconds.
// The agent renews its Lease every quarter of its lease duration (5 s by
// default), so the grace period allows for two missed renewals.
//
// The heartbeat record is in memory: after a restart of the controller
// every node gets a fresh grace period. The controller is safe for
// concurrent use; Run may be called once.
package nodelifecycle
