// Package gc is the garbage collector: it deletes objects whose owners are
// gone and carries out foreground and orphan deletion, as Kubernetes'
// garbage collector does.
//
// # Owner graph
//
// One shared metadata informer per served resource (resources sharing
// another's storage are skipped) caches every object's metadata. Two
// indexes on each cache form the owner graph: objects by UID, and objects
// by the UIDs in their ownerReferences (their owners). Nothing else is
// kept, so the graph cannot drift from the caches.
//
// # Reconcile
//
// Keys name one object: "<resource>.<version>.<group>/<namespace>/<name>".
// Reconcile looks at the object in both of its roles:
//
//	owner with deletionTimestamp
//	  ├─ finalizer orphan:             remove ownerReferences to it from
//	  │                                every dependent, then the finalizer
//	  └─ finalizer foregroundDeletion: delete dependents (foreground if they
//	                                   have dependents themselves); once no
//	                                   dependent with blockOwnerDeletion is
//	                                   left, remove the finalizer
//	dependent with ownerReferences, each owner classified as
//	  solid (exists), dangling (absent) or waiting (deleting in foreground):
//	  ├─ some solid:         patch away the dangling and waiting references
//	  ├─ waiting, and the object has dependents: delete it in foreground
//	  └─ otherwise:          delete it (background, or the policy its own
//	                         finalizers ask for)
//
// Owners that look absent in the cache are confirmed with a live GET by name
// (absent, or present with another UID) before anything is deleted, and the
// dependent itself is read live before acting on its references. Deletes
// carry a UID precondition; patches a resourceVersion precondition.
//
// # Events
//
// Events only choose keys: an object with owners or with a garbage
// collector finalizer is enqueued on add and update; a deleted object's
// dependents are enqueued; an owner waiting for its dependents is enqueued
// when one of them changes or goes. Informer resync re-enqueues everything
// relevant, so missed events are recovered (level-triggered).
//
// GC is safe for concurrent use; Run may be called once.
package gc
