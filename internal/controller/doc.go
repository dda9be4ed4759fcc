// Package controller is the reconcile runtime shared by Gantry's control
// loops.
//
// A loop implements Reconciler: given the key of one root object
// ("namespace/name", or any string the loop chooses) it reads the current
// state, converges it and returns. A Controller owns a rate-limited work
// queue of keys and a fixed number of workers that call Reconcile:
//
//	key ──Enqueue──► queue ──worker──► Reconcile(ctx, key)
//	                   ▲                    │
//	                   │  error: AddRateLimited (exponential back-off)
//	                   │  Result.RequeueAfter > 0: AddAfter
//	                   └─ success: Forget (back-off reset)
//
// Concurrency: the queue guarantees a key is never processed by two workers
// at once; a key enqueued while it is being processed is processed again
// once afterwards. Enqueue, EnqueueAfter and Len are safe for concurrent use
// and may be called before Run (keys wait in the queue). Run blocks until
// its context ends, then shuts the queue down and waits for the workers;
// a Controller runs at most once.
//
// Reconcilers return an error when a retry may help, a Result with
// RequeueAfter to look again later, and nil when nothing more can be done.
// A panic in Reconcile is recovered and treated as an error.
//
// Example:
//
//	c := controller.New("gc", reconciler, 2, log)
//	handler.OnAdd = func(obj any) { c.Enqueue(keyOf(obj)) }
//	go c.Run(ctx)
//
// Metrics (gantry_controller_reconcile_total, …_reconcile_duration_seconds,
// …_queue_depth) are collectors returned by Collectors; the composition root
// registers them, so two servers can live in one process.
package controller
