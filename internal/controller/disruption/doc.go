// Package disruption is the PodDisruptionBudget controller: it computes
// each budget's status, which the API server's eviction subresource reads
// and decrements (internal/apiserver/eviction.go), as Kubernetes' disruption
// controller does.
//
// # Reconcile
//
// Keys are "namespace/name" of budgets. Reconcile reads the budget and the
// pods its selector matches from informer caches and writes status:
//
//	expectedPods, desiredHealthy
//	  minAvailable integer ─► len(pods), minAvailable
//	  minAvailable percent ─► Σ scale of the pods' controllers, ⌈pct⌉
//	  maxUnavailable       ─► Σ scale, Σ scale − ⌈maxUnavailable⌉ (≥ 0)
//	  (scale: a ReplicaSet owned by a Deployment counts as the Deployment;
//	  ReplicaSets and StatefulSets their spec.replicas; pods without a
//	  controller are ignored with an UnmanagedPods event)
//	disruptedPods: entries of pods still there and not terminating, kept
//	  for DeletionTimeout after the eviction recorded them
//	currentHealthy: Ready pods, not terminating, not in disruptedPods
//	disruptionsAllowed: currentHealthy − desiredHealthy (0 when negative or
//	  when expectedPods is 0)
//	DisruptionAllowed condition: True/SufficientPods or
//	  False/InsufficientPods; observedGeneration = generation
//
// A budget that cannot be computed (a pod's controller is unknown) gets
// disruptionsAllowed 0 and DisruptionAllowed False/SyncFailed, and is
// retried with back-off.
//
// # Stale disruption conditions
//
// A pod that is not terminating and not finished but carries
// DisruptionTarget=True (an eviction marked it and its delete did not
// happen) gets the condition reset to False once it is
// StalePodDisruptionTimeout old. Such pods are queued under
// "pod:namespace/name" keys in the same work queue.
//
// # Events
//
// Budget changes enqueue the budget; pod changes enqueue every budget
// selecting the pod (before and after a label change); a change of a
// ReplicaSet's, Deployment's or StatefulSet's spec.replicas enqueues the
// budgets of its namespace. A budget with disruptedPods entries is looked
// at again when the first entry expires.
//
// Controller is safe for concurrent use; Run may be called once.
package disruption
