// Package noderesources holds the NodeResourcesFit plugin (a pod's
// requests must fit in the node's allocatable minus what its pods
// request; scoring LeastAllocated or MostAllocated) and the
// NodeResourcesBalancedAllocation plugin (prefer nodes whose resources
// would be used in equal proportions).
//
// Requests are counted as Kubernetes counts them (framework.PodRequests):
// app containers and sidecars summed, the largest init container step if
// larger, plus pod overhead. Scoring counts missing cpu and memory
// requests as 100m and 200Mi so that best-effort pods spread.
package noderesources
