// Package endpointslice is the EndpointSlice and Endpoints controller: for
// every Service with a selector it keeps discovery.k8s.io/v1 EndpointSlices
// and the legacy core/v1 Endpoints object listing the pods the selector
// matches, as Kubernetes' endpointslice and endpoints controllers do.
//
// Keys are services ("namespace/name"); pod, service, slice, Endpoints and
// node (zone) events map to them. Reconcile:
//
//	service gone:               delete its Endpoints (slices go with their
//	                            owner through the garbage collector)
//	no selector or ExternalName: delete the slices this controller manages,
//	                            leave Endpoints to their user
//	otherwise:                  pods of the selector → endpoints per address
//	                            type and resolved port set (endpoints.go) →
//	                            slices of at most MaxEndpointsPerSlice
//	                            (slices.go), and subsets (legacy.go)
//
// Endpoint conditions are Kubernetes': serving is the pod's Ready
// condition, terminating its deletion timestamp, ready is serving and not
// terminating, or always true with publishNotReadyAddresses. Terminating
// pods stay in slices (ready=false), and leave Endpoints unless the service
// publishes not-ready addresses. Pods without an IP, and Succeeded or
// Failed pods, are never endpoints.
//
// Slices carry kubernetes.io/service-name and
// endpointslice.kubernetes.io/managed-by=endpointslice-controller.k8s.io,
// Kubernetes' own value, so clients that select on it (kube-proxy-like
// clients, the mirroring rule) treat them as controller-made; they are
// owned by the service. The controller lists a service's slices from the
// API rather than the cache, so a slice it just created is never created
// twice. Endpoints are compared and written from the cache; a stale cache
// costs a conflict and a retry.
//
// Endpoints beyond 1000 addresses are truncated and annotated
// endpoints.kubernetes.io/over-capacity=truncated, as in Kubernetes. Not
// done: trigger-time annotations, topology hints.
//
// The controller is safe for concurrent use; Run may be called once.
package endpointslice
