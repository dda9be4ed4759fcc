// Package agent is the node agent: Gantry's kubelet. It registers its
// Node (capacity, addresses, labels, conditions), renews the node's Lease,
// and converges the container runtime to the pods bound to the node.
//
// # Convergence
//
// The agent watches the pods whose spec.nodeName is its node. Each pod key
// goes through a work queue to syncPod, which reads the runtime's state of
// the pod (sandboxes and containers, found by the labels every runtime
// puts on them) and moves it one step toward the spec:
//
//	no sandbox / sandbox dead ──► new sandbox (IP from the node's podCIDR)
//	volumes ──► prepared (configMap/secret/downwardAPI/token files swapped atomically;
//	            secret, projected and memory emptyDir volumes on a node tmpfs, tmpfs.go)
//	init containers ──► one at a time, each must exit 0
//	app containers ──► created and started together
//	exited container ──► restarted per restartPolicy, after the crash-loop back-off
//	failed liveness/startup probe ──► container stopped, then restarted
//
// then computes the pod's status (phase, conditions, container states) from
// the runtime and writes it if it changed. Because state is read from the
// runtime and not remembered, a restarted agent adopts running containers
// without restarting them.
//
// A relister lists the runtime every RelistInterval and wakes pods whose
// containers changed state; probe workers wake pods whose probe results
// changed; ConfigMap and Secret changes wake the pods that use them; a pod
// with projected service account tokens is looked at again by the time the
// first of them needs refreshing (tokens.go: fetched through the
// TokenRequest API, cached per pod, refreshed after 80% of their lifetime).
// Housekeeping removes runtime objects of pods no longer bound here.
//
// # Deletion
//
// A pod with a deletionTimestamp is stopped (preStop hooks, SIGTERM, SIGKILL
// after its grace period), its final status written, its containers,
// sandbox and volumes removed, and then the pod object is deleted with grace
// period 0, as the kubelet does.
//
// # Concurrency
//
// The work queue never gives one pod to two workers at once. The Agent's
// mutex guards its bookkeeping maps (known pods, waiting reasons, pull
// failures); the IP allocator, back-off, probe and token managers have
// their own.
package agent
