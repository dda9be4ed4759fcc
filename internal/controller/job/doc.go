// Package job is the Job controller (batch/v1): it runs a Job's pods to
// completion as Kubernetes' does, and deletes finished Jobs once their
// ttlSecondsAfterFinished has passed (Kubernetes' TTL-after-finished
// controller, folded in here).
//
// # Reconcile
//
// Keys are "namespace/name". Reconcile reads the Job from the informer
// cache and its pods (those whose controller reference names it, found
// through a pod index by Job key, so pods of a deleted Job are found too):
//
//	Job gone, being deleted, or finished → remove the tracking finalizer
//	  from its pods (finished: then delete it when the TTL expired)
//	classify pods: active / terminating / finished; finished pods holding
//	  batch.kubernetes.io/job-tracking are added to
//	  status.uncountedTerminatedPods (Indexed: completedIndexes), once
//	suspended? → Suspended condition, delete active pods (not failures)
//	criteria, in Kubernetes' order:
//	  podFailurePolicy FailJob → FailureTarget/PodFailurePolicy
//	  failed > backoffLimit   → FailureTarget/BackoffLimitExceeded
//	  activeDeadlineSeconds   → FailureTarget/DeadlineExceeded
//	  completions reached     → SuccessCriteriaMet/CompletionsReached
//	finishing → delete active pods; else create/delete toward parallelism
//	  (replacements after base·2^(n-1) back-off)
//	status write #1 (counters, conditions, uncounted UIDs)
//	remove finalizers of recorded pods; move them to succeeded/failed
//	no pod left active, terminating or uncounted → Complete (with
//	  completionTime) or Failed, copying the target condition's reason
//	status write #2
//
// # Pod state machine (as counted)
//
//	created (finalizer) ─► active ─► Succeeded/Failed/deleted ─► uncounted
//	                                                   ─► finalizer removed ─► counted
//
// A pod UID is counted once: it enters uncountedTerminatedPods in the
// status before its finalizer is removed, and leaves it only when the
// finalizer is gone, so a crash between the steps neither loses nor
// double-counts it.
//
// Controller is safe for concurrent use; Run may be called once.
package job
