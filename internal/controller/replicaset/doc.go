// Package replicaset is the ReplicaSet controller: it keeps
// spec.replicas pods of each ReplicaSet, as Kubernetes' does.
//
// # Reconcile
//
// Keys are "namespace/name". Reconcile reads the ReplicaSet from the
// informer cache and:
//
//	pods of the namespace with its UID as controller, and orphans
//	  ├─ finished (Succeeded/Failed) or terminating: do not count
//	  ├─ orphan matching the selector: adopt (strategic merge patch adding a
//	  │  controller ownerReference with blockOwnerDeletion), after a live GET
//	  │  shows the ReplicaSet is not being deleted
//	  └─ owned but no longer matching: release (patch the reference away)
//	expectations satisfied and not being deleted?
//	  ├─ too few: create pods from the template (generateName "<rs>-") in
//	  │  batches of 1, 2, 4, … stopping at the first failing batch
//	  └─ too many: delete the pods Kubernetes would (rank.go)
//	status: replicas, fullyLabeledReplicas, readyReplicas,
//	  availableReplicas (ready for minReadySeconds), terminatingReplicas,
//	  observedGeneration, ReplicaFailure while creates or deletes fail
//
// # Expectations
//
// Before creating or deleting pods the controller records how many creates
// and which deletes it expects to observe in its pod cache; until they are
// observed (or ExpectationsTimeout passes) the ReplicaSet's status is still
// written but it is not scaled again, so a lagging cache never causes double
// creates or deletes.
//
// # Events
//
// Pod events map to the owning ReplicaSet's key (orphans to every
// ReplicaSet whose selector matches, so one can adopt them); a pod that
// turns ready is looked at again after minReadySeconds. The informers come
// from a factory that may be shared with other controllers.
//
// Controller is safe for concurrent use; Run may be called once.
package replicaset
