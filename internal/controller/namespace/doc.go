// Package namespace is the namespace controller: it empties namespaces that
// are being deleted and then releases them to the API server.
//
// A namespace DELETE only sets deletionTimestamp and status.phase
// Terminating; the namespace stays while spec.finalizers contains
// "kubernetes", and the API server refuses new objects in it. Reconcile, for
// such a namespace:
//
//	for each namespaced resource with its own storage:
//	    list; if anything is there: DeleteCollection (background), list again
//	set status conditions (NamespaceContentRemaining, …FinalizersRemaining,
//	    NamespaceDeletionContentFailure and the two discovery conditions)
//	something left (finalizers, graceful pod deletion)? requeue after
//	    Config.ContentRecheck
//	everything gone: PUT …/finalize with spec.finalizers minus "kubernetes"
//
// Keys are namespace names. The controller is safe for concurrent use; Run
// may be called once.
package namespace
