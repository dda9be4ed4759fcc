package hpa

import (
	"errors"
	"fmt"
	"math"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// The replica computation of Kubernetes' replica_calculator.go for
// resource metrics: usage ratio against the target, tolerance, and the
// treatment of pods that are not ready or have no sample.

// Errors of the replica computation; each is wrapped with details.
var (
	ErrNoPods         = errors.New("no pods returned by selector while calculating replica count")
	ErrNoReadyMetric  = errors.New("did not receive metrics for targeted pods (pods might be unready)")
	ErrNoRequests     = errors.New("no metrics returned matched known pods")
	ErrMissingRequest = errors.New("missing request")
)

// Tolerance is the band around a usage ratio of 1 inside which no scaling
// happens: ratios in [1−Down, 1+Up] keep the current replica count.
type Tolerance struct {
	Down, Up float64
}

func (t Tolerance) within(ratio float64) bool {
	return 1-t.Down <= ratio && ratio <= 1+t.Up
}

// podTiming holds the readiness windows of groupPods.
type podTiming struct {
	now                     time.Time
	cpuInitializationPeriod time.Duration
	initialReadinessDelay   time.Duration
}

// podGroups splits pods as Kubernetes' groupPods does.
type podGroups struct {
	ready                     int
	unready, missing, ignored map[string]bool
}

func groupPods(pods []*corev1.Pod, metrics PodMetrics, resource corev1.ResourceName, tm podTiming) podGroups {
	g := podGroups{unready: map[string]bool{}, missing: map[string]bool{}, ignored: map[string]bool{}}
	for _, pod := range pods {
		if pod.DeletionTimestamp != nil || pod.Status.Phase == corev1.PodFailed {
			g.ignored[pod.Name] = true
			continue
		}
		if pod.Status.Phase == corev1.PodPending {
			g.unready[pod.Name] = true
			continue
		}
		metric, found := metrics[pod.Name]
		if !found {
			g.missing[pod.Name] = true
			continue
		}
		if resource == corev1.ResourceCPU {
			var unready bool
			cond := podReadyCondition(pod)
			switch {
			case cond == nil || pod.Status.StartTime == nil:
				unready = true
			case pod.Status.StartTime.Add(tm.cpuInitializationPeriod).After(tm.now):
				// Still initialising: ignore the sample if the pod is
				// unready or the sample's window began before it turned
				// ready.
				unready = cond.Status == corev1.ConditionFalse || metric.Timestamp.Before(cond.LastTransitionTime.Add(metric.Window))
			default:
				// Ignore it if it is unready and has never been ready.
				unready = cond.Status == corev1.ConditionFalse && pod.Status.StartTime.Add(tm.initialReadinessDelay).After(cond.LastTransitionTime.Time)
			}
			if unready {
				g.unready[pod.Name] = true
				continue
			}
		}
		g.ready++
	}
	return g
}

func podReadyCondition(pod *corev1.Pod) *corev1.PodCondition {
	for i := range pod.Status.Conditions {
		if pod.Status.Conditions[i].Type == corev1.PodReady {
			return &pod.Status.Conditions[i]
		}
	}
	return nil
}

// podRequests returns each pod's request of resource in milli-units (the
// container's, or the sum over containers and restartable init
// containers).
func podRequests(pods []*corev1.Pod, container string, resource corev1.ResourceName) (map[string]int64, error) {
	out := make(map[string]int64, len(pods))
	for _, pod := range pods {
		var sum int64
		containers := append([]corev1.Container{}, pod.Spec.Containers...)
		for _, c := range pod.Spec.InitContainers {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways {
				containers = append(containers, c)
			}
		}
		for _, c := range containers {
			if container != "" && container != c.Name {
				continue
			}
			q, ok := c.Resources.Requests[resource]
			if !ok {
				return nil, fmt.Errorf("%w for %s in container %s of Pod %s", ErrMissingRequest, resource, c.Name, pod.Name)
			}
			sum += q.MilliValue()
		}
		out[pod.Name] = sum
	}
	return out, nil
}

// utilizationRatio is Kubernetes' GetResourceUtilizationRatio.
func utilizationRatio(metrics PodMetrics, requests map[string]int64, target int32) (ratio float64, utilization int32, rawAverage int64, err error) {
	var metricsTotal, requestsTotal int64
	n := 0
	for name, m := range metrics {
		req, ok := requests[name]
		if !ok {
			continue
		}
		metricsTotal += m.Value
		requestsTotal += req
		n++
	}
	if requestsTotal == 0 {
		return 0, 0, 0, ErrNoRequests
	}
	utilization = int32(metricsTotal * 100 / requestsTotal)
	return float64(utilization) / float64(target), utilization, metricsTotal / int64(n), nil
}

// usageRatio is Kubernetes' GetMetricUsageRatio.
func usageRatio(metrics PodMetrics, target int64) (float64, int64) {
	var total int64
	for _, m := range metrics {
		total += m.Value
	}
	avg := total / int64(len(metrics))
	return float64(avg) / float64(target), avg
}

// resourceInput is what a resource-metric computation reads.
type resourceInput struct {
	currentReplicas int32
	pods            []*corev1.Pod
	metrics         PodMetrics // copied before use
	resource        corev1.ResourceName
	container       string
	tolerance       Tolerance
	timing          podTiming
}

// utilizationReplicas is Kubernetes' GetResourceReplicas (target type
// Utilization): the replica count, current utilization (percent of
// request) and raw average usage (milli-units).
func utilizationReplicas(in resourceInput, target int32) (replicas, utilization int32, rawAverage int64, err error) {
	if len(in.pods) == 0 {
		return 0, 0, 0, ErrNoPods
	}
	metrics := copyMetrics(in.metrics)
	g := groupPods(in.pods, metrics, in.resource, in.timing)
	removeMetrics(metrics, g.ignored)
	removeMetrics(metrics, g.unready)
	if len(metrics) == 0 {
		return 0, 0, 0, ErrNoReadyMetric
	}
	requests, err := podRequests(in.pods, in.container, in.resource)
	if err != nil {
		return 0, 0, 0, err
	}
	ratio, utilization, rawAverage, err := utilizationRatio(metrics, requests, target)
	if err != nil {
		return 0, 0, 0, err
	}
	scaleUpWithUnready := len(g.unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(g.missing) == 0 {
		if in.tolerance.within(ratio) {
			return in.currentReplicas, utilization, rawAverage, nil
		}
		return int32(math.Ceil(ratio * float64(g.ready))), utilization, rawAverage, nil
	}
	if len(g.missing) > 0 {
		switch {
		case ratio < 1.0:
			// Scaling down: a pod without a sample counts as using its
			// whole request (or the target, when above 100%).
			fallback := int64(max(100, target))
			for name := range g.missing {
				metrics[name] = PodMetric{Value: requests[name] * fallback / 100}
			}
		case ratio > 1.0:
			// Scaling up: it counts as using nothing.
			for name := range g.missing {
				metrics[name] = PodMetric{Value: 0}
			}
		}
	}
	if scaleUpWithUnready {
		for name := range g.unready {
			metrics[name] = PodMetric{Value: 0}
		}
	}
	newRatio, _, _, err := utilizationRatio(metrics, requests, target)
	if err != nil {
		return 0, utilization, rawAverage, err
	}
	return settle(in.currentReplicas, ratio, newRatio, len(metrics), in.tolerance), utilization, rawAverage, nil
}

// averageValueReplicas is Kubernetes' GetRawResourceReplicas (target type
// AverageValue, in milli-units): the replica count and the average usage.
func averageValueReplicas(in resourceInput, target int64) (replicas int32, average int64, err error) {
	if len(in.pods) == 0 {
		return 0, 0, ErrNoPods
	}
	metrics := copyMetrics(in.metrics)
	g := groupPods(in.pods, metrics, in.resource, in.timing)
	removeMetrics(metrics, g.ignored)
	removeMetrics(metrics, g.unready)
	if len(metrics) == 0 {
		return 0, 0, ErrNoReadyMetric
	}
	ratio, average := usageRatio(metrics, target)
	scaleUpWithUnready := len(g.unready) > 0 && ratio > 1.0
	if !scaleUpWithUnready && len(g.missing) == 0 {
		if in.tolerance.within(ratio) {
			return in.currentReplicas, average, nil
		}
		return int32(math.Ceil(ratio * float64(g.ready))), average, nil
	}
	if len(g.missing) > 0 {
		fill := int64(0) // scaling up: missing pods use nothing
		if ratio < 1.0 {
			fill = target // scaling down: exactly the target
		}
		for name := range g.missing {
			metrics[name] = PodMetric{Value: fill}
		}
	}
	if scaleUpWithUnready {
		for name := range g.unready {
			metrics[name] = PodMetric{Value: 0}
		}
	}
	newRatio, _ := usageRatio(metrics, target)
	return settle(in.currentReplicas, ratio, newRatio, len(metrics), in.tolerance), average, nil
}

// settle applies the second pass of Kubernetes' computation: keep the
// current count when the ratio recomputed with the filled-in samples is
// within tolerance, or would scale in the other direction.
func settle(current int32, ratio, newRatio float64, samples int, tol Tolerance) int32 {
	if tol.within(newRatio) || (ratio < 1.0 && newRatio > 1.0) || (ratio > 1.0 && newRatio < 1.0) {
		return current
	}
	n := int32(math.Ceil(newRatio * float64(samples)))
	if (newRatio < 1.0 && n > current) || (newRatio > 1.0 && n < current) {
		return current
	}
	return n
}

func copyMetrics(m PodMetrics) PodMetrics {
	out := make(PodMetrics, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

func removeMetrics(m PodMetrics, names map[string]bool) {
	for n := range names {
		delete(m, n)
	}
}
