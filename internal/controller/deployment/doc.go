// Package deployment is the Deployment controller: it rolls a
// Deployment's pod template out through ReplicaSets, as Kubernetes'
// controller does, so that kubectl rollout status|history|undo|pause|
// resume|restart (all client-side) work unchanged.
//
// # ReplicaSets and revisions
//
// The ReplicaSet whose template equals the Deployment's (ignoring the
// pod-template-hash label) is the new one; the others are old. A missing new
// ReplicaSet is created as "<deployment>-<hash>" where hash is ComputeHash
// of the template (FNV-32a over its dump.ForHash rendering, plus
// status.collisionCount), added as the pod-template-hash label to its
// selector, labels and template. A name taken by a ReplicaSet with another
// template bumps collisionCount. The new ReplicaSet gets revision
// max(old revisions)+1 (deployment.kubernetes.io/revision; a rollback to an
// old template moves that ReplicaSet's earlier revision into
// revision-history), which the Deployment copies. desired-replicas and
// max-replicas record the size each ReplicaSet was scaled for.
//
// # Reconcile
//
//	adopt/release ReplicaSets by selector (controller ownerReferences)
//	being deleted     → status only
//	paused            → Progressing Unknown/DeploymentPaused; scale only,
//	                    never a new ReplicaSet; history cleanup
//	replicas changed  → scale the active ReplicaSets in proportion
//	Recreate          → old ReplicaSets to 0; once no old pod is left,
//	                    create/scale up the new one
//	RollingUpdate     → new ReplicaSet up to replicas+maxSurge in total,
//	                    else old ones down (unavailable replicas first) while
//	                    replicas-maxUnavailable stay available, else cleanup
//	status            → counters from the ReplicaSets' statuses; Available
//	                    (MinimumReplicasAvailable/Unavailable); Progressing
//	                    (NewReplicaSetCreated, FoundNewReplicaSet,
//	                    ReplicaSetUpdated, NewReplicaSetAvailable,
//	                    ProgressDeadlineExceeded); ReplicaFailure lifted
//	                    from the ReplicaSets
//
// One reconcile takes one step and writes; the ReplicaSet updates it causes
// bring the key back. A rollout without progress is looked at again when
// its progress deadline would pass.
//
// Scale-down trusts each ReplicaSet's availableReplicas only up to its
// spec.replicas (safeAvailableReplicas), so a status that still counts
// pods being deleted cannot take availability below the budget.
//
// Controller is safe for concurrent use; Run may be called once.
package deployment
