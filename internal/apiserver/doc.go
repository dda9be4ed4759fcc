// Package apiserver serves the Kubernetes REST API for the resources in an
// api.Registry, over a storage.Interface. Server is an http.Handler: it
// authenticates each request, routes it (requestinfo.go), and runs the
// verb's pipeline against the stored objects.
//
// A write goes through the same steps as in kube-apiserver's generic
// registry:
//
//	decode (fieldValidation) → system metadata (meta.go) → Default →
//	Validate → managed fields → allocations (services.go) → storage CAS
//
// Storage holds each object in its storage version as protobuf, without
// resourceVersion: an object's resourceVersion is the storage revision of
// its last write, so every write is a compare-and-swap on that revision
// (409 Conflict when stale). Updates without a client precondition retry
// on conflicts. Watches map storage events to watch events, judging
// selectors on the object before and after each change.
//
// Besides the registry's resources it serves the review APIs of
// authentication.k8s.io and authorization.k8s.io (reviews.go: kubectl auth
// whoami and can-i, TokenReview and SubjectAccessReview for in-cluster
// servers), the resource metrics API (metrics_api.go) and Kubernetes'
// impersonation headers (impersonation.go). There is no RBAC yet: every
// authenticated user may do everything except what authorize.go keeps
// back (profiling, and anything but joining for a join token), and the
// access reviews answer from that same rule.
//
// Errors leave through one table (errors.go) as metav1.Status; bad input
// is always a 4xx, never a 500.
//
// Concurrency: a Server holds no per-request state; everything built in
// New (codecs, discovery documents, field managers) is read-only after it,
// except two synchronised caches (pooled list write buffers, and watch
// event encodings shared among watches, eventcache.go), so ServeHTTP is
// safe for concurrent use. Tests: the *_test.go files run a
// real control plane (internal/testcluster, or env_test.go's hand-wired
// server where storage must be reached) and drive it with client-go.
package apiserver
