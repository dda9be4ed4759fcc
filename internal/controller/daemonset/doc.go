// Package daemonset is the DaemonSet controller (apps/v1): one pod per
// eligible node, as Kubernetes' controller runs it.
//
// # Reconcile
//
// Keys are "namespace/name". Reconcile reads the DaemonSet, all nodes and
// the pods and ControllerRevisions it controls (indexes by owner key):
//
//	history: the ControllerRevision whose data (a strategic merge patch
//	  replacing spec.template, byte-identical to kubectl's) matches the
//	  template is current (revision bumped to newest); else create
//	  "<ds>-<hash>"; its controller-revision-hash label marks updated pods
//	per node (sorted): shouldRun/keep = nodeName, nodeSelector, required
//	  node affinity, taints (NoSchedule/NoExecute) against the template
//	  plus the daemon tolerations (not-ready/unreachable NoExecute,
//	  disk/memory/pid-pressure, unschedulable, network-unavailable for
//	  hostNetwork)
//	  run and no pod → create (node affinity matchFields
//	    metadata.name=<node>; the scheduler binds it)
//	  keep → delete Failed pods and duplicates (with surge: old+new pair
//	    allowed until the new one is available)
//	  neither → delete
//	nothing to do and RollingUpdate → maxUnavailable / maxSurge step
//	status counters; delete old revisions beyond revisionHistoryLimit
//
// Expectations (creations and deletions not yet seen in the cache) hold
// further changes back, as in the ReplicaSet controller. Node label,
// taint and unschedulable changes wake every DaemonSet.
//
// Controller is safe for concurrent use; Run may be called once.
package daemonset
