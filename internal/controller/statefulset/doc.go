// Package statefulset is the StatefulSet controller (apps/v1): pods with
// stable names, hostnames and storage, created, deleted and updated in
// order, as Kubernetes' controller does.
//
// # Reconcile
//
// Keys are "namespace/name". Reconcile reads the set and the pods and
// ControllerRevisions it controls (indexes by owner key):
//
//	revisions: update = the revision whose data (a strategic merge patch
//	  replacing spec.template) equals the template — the newest, an older
//	  one renumbered (rollback), or a new "<set>-<hash>"; current =
//	  status.currentRevision (or update at first)
//	pods <set>-<ordinal>: labels statefulset.kubernetes.io/pod-name,
//	  apps.kubernetes.io/pod-index, controller-revision-hash=<revision>;
//	  hostname <pod>, subdomain spec.serviceName; claims
//	  <template>-<set>-<ordinal> created first (owned by the set with
//	  whenDeleted=Delete, by the pod when scaled away with whenScaled=Delete)
//	one pass (decide): create/recreate replicas in ascending ordinal,
//	  delete condemned ones in descending ordinal, then RollingUpdate from
//	  the highest ordinal down to the partition; OrderedReady stops at the
//	  first change or unhealthy pod, Parallel does all creates/deletes
//	status: replicas, ready, available, current, updated, revisions; a
//	  finished rolling update makes the update revision current
//	old revisions beyond revisionHistoryLimit that no pod runs are deleted
//
// Expectations (creations and deletions not yet seen in the cache) hold
// further changes back.
//
// Controller is safe for concurrent use; Run may be called once.
package statefulset
