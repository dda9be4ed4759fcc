// Package nodeipam is the node IPAM controller: it gives every Node a pod
// range (spec.podCIDR and spec.podCIDRs) carved from the cluster CIDR, as
// Kubernetes' range allocator does.
//
// The allocation lives only in memory and is rebuilt from the nodes'
// existing ranges when Run starts, before any node is processed, so a
// restart never hands out a range twice. Ranges are taken next-fit (the
// search continues after the last range handed out), which keeps a freed
// range from being reused at once by the next node.
//
// Reconcile, for one node name:
//
//	node gone:           release its range; wake nodes still waiting
//	node has a range:    record it as taken
//	node has none:       take a free range (or the one reserved for this
//	                     name by an earlier failed write) and write it
//	cluster CIDR full:   NetworkUnavailable=True (reason NoCIDRAvailable)
//	                     and a CIDRNotAvailable event; look again after
//	                     Config.FullRecheck or when a node is deleted
//
// Only one cluster CIDR (one IP family) is supported. The range set is
// guarded by a mutex, so several workers may run; Run may be called once.
package nodeipam
