// Package hpa is the HorizontalPodAutoscaler controller (autoscaling/v2),
// following Kubernetes' pkg/controller/podautoscaler for resource metrics.
//
// # Reconcile
//
// Keys are "namespace/name". Each autoscaler is evaluated when it is
// created or its spec changes, and then every SyncPeriod:
//
//	scale subresource of the target (apps/v1 Deployment, ReplicaSet,
//	  StatefulSet) ─ error: AbleToScale False/FailedGetScale
//	target at 0 replicas (minReplicas > 0) ─► ScalingActive False/ScalingDisabled
//	outside [min, max] ─► min or max
//	else, per metric (resource, containerResource; cpu, memory, …):
//	  usage of the selected pods from the MetricsSource (metrics.k8s.io)
//	  replicas.go: ratio to the target (Utilization of the request, or
//	    AverageValue), tolerance, unready/missing pods as Kubernetes
//	  highest proposal wins; ScalingActive True/ValidMetricFound, or
//	  False with the first failing metric's reason
//	  behavior.go: stabilization (window of recommendations) and rate
//	    limits (policies over periods, or max(2×, 4) without behavior);
//	    AbleToScale and ScalingLimited reasons
//	update the scale ─► SuccessfulRescale event "New size: N; reason: …"
//	status: currentReplicas, desiredReplicas, currentMetrics,
//	  lastScaleTime, conditions (written only when changed)
//
// # State
//
// Recommendations and scale events live in memory per autoscaler, as in
// Kubernetes: a restarted controller records the current size as its
// first recommendation and so does not scale down before a stabilization
// window has passed. All time comes from Config.Clock.
//
// Controller is safe for concurrent use; Run may be called once.
package hpa
