package hpa

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/controller"
)

// ErrUnsupportedTarget: the scale target is not a Deployment, ReplicaSet
// or StatefulSet of group apps.
var ErrUnsupportedTarget = errors.New("hpa: unsupported scale target")

// Reconcile evaluates one autoscaler and looks at it again a sync period
// later.
func (c *Controller) Reconcile(ctx context.Context, key string) (controller.Result, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return controller.Result{}, nil
	}
	shared, err := c.hpaLister.HorizontalPodAutoscalers(ns).Get(name)
	if apierrors.IsNotFound(err) {
		c.limiter.forget(key)
		c.selectors.forget(key)
		return controller.Result{}, nil
	}
	if err != nil {
		return controller.Result{}, err
	}
	if err := c.reconcile(ctx, shared.DeepCopy(), key); err != nil {
		c.log.Debug("autoscaler sync failed", "namespace", ns, "horizontalPodAutoscaler", name, "err", err)
	}
	// Errors are reported in conditions and events; the next evaluation
	// is a sync period away either way, as in Kubernetes.
	return controller.Result{RequeueAfter: c.cfg.SyncPeriod}, nil
}

// getScale reads the target's scale subresource.
func (c *Controller) getScale(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference) (*autoscalingv1.Scale, error) {
	gv, err := schema.ParseGroupVersion(ref.APIVersion)
	if err != nil {
		return nil, fmt.Errorf("invalid API version in scale target reference: %w", err)
	}
	if gv.Group != "apps" {
		return nil, fmt.Errorf("%w: %s %s", ErrUnsupportedTarget, ref.APIVersion, ref.Kind)
	}
	apps := c.kube.AppsV1()
	switch ref.Kind {
	case "Deployment":
		return apps.Deployments(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "ReplicaSet":
		return apps.ReplicaSets(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	case "StatefulSet":
		return apps.StatefulSets(ns).GetScale(ctx, ref.Name, metav1.GetOptions{})
	}
	return nil, fmt.Errorf("%w: %s %s", ErrUnsupportedTarget, ref.APIVersion, ref.Kind)
}

func (c *Controller) updateScale(ctx context.Context, ns string, ref autoscalingv2.CrossVersionObjectReference, scale *autoscalingv1.Scale) error {
	apps := c.kube.AppsV1()
	var err error
	switch ref.Kind {
	case "Deployment":
		_, err = apps.Deployments(ns).UpdateScale(ctx, ref.Name, scale, metav1.UpdateOptions{})
	case "ReplicaSet":
		_, err = apps.ReplicaSets(ns).UpdateScale(ctx, ref.Name, scale, metav1.UpdateOptions{})
	case "StatefulSet":
		_, err = apps.StatefulSets(ns).UpdateScale(ctx, ref.Name, scale, metav1.UpdateOptions{})
	default:
		err = fmt.Errorf("%w: %s %s", ErrUnsupportedTarget, ref.APIVersion, ref.Kind)
	}
	return err
}

// reconcile is Kubernetes' reconcileAutoscaler.
func (c *Controller) reconcile(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, key string) error {
	original := hpa.Status.DeepCopy()
	ref := hpa.Spec.ScaleTargetRef
	reference := fmt.Sprintf("%s/%s/%s", ref.Kind, hpa.Namespace, ref.Name)
	now := c.cfg.Clock.Now()

	scale, err := c.getScale(ctx, hpa.Namespace, ref)
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedGetScale", err.Error())
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedGetScale", fmt.Sprintf("the HPA controller was unable to get the target's current scale: %v", err))
		c.writeStatus(ctx, original, hpa)
		return fmt.Errorf("failed to query scale subresource for %s: %w", reference, err)
	}
	setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededGetScale", "the HPA controller was able to get the target's current scale")
	current := scale.Spec.Replicas
	c.limiter.recordInitial(key, current, now)

	minReplicas := int32(1)
	if hpa.Spec.MinReplicas != nil {
		minReplicas = *hpa.Spec.MinReplicas
	}
	var (
		desired  int32
		reason   string
		statuses []autoscalingv2.MetricStatus
		retErr   error
	)
	rescale := true
	switch {
	case current == 0 && minReplicas != 0:
		rescale = false
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "ScalingDisabled", "scaling is disabled since the replica count of the target is zero")
	case current > hpa.Spec.MaxReplicas:
		reason, desired = "Current number of replicas above Spec.MaxReplicas", hpa.Spec.MaxReplicas
	case current < minReplicas:
		reason, desired = "Current number of replicas below Spec.MinReplicas", minReplicas
	default:
		var proposal int32
		var metric string
		proposal, metric, statuses, err = c.replicasForMetrics(ctx, hpa, key, scale, now)
		if err != nil && proposal == -1 {
			setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false, now)
			c.writeStatus(ctx, original, hpa)
			c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedComputeMetricsReplicas", err.Error())
			return fmt.Errorf("failed to compute desired number of replicas based on listed metrics for %s: %w", reference, err)
		}
		retErr = err // some metrics failed but others allow scaling up
		rescaleMetric := ""
		if proposal > desired {
			desired, rescaleMetric = proposal, metric
		}
		if desired > current {
			reason = fmt.Sprintf("%s above target", rescaleMetric)
		}
		if desired < current {
			reason = "All metrics below target"
		}
		var l limited
		if hpa.Spec.Behavior == nil {
			l = c.limiter.normalize(key, current, desired, minReplicas, hpa.Spec.MaxReplicas, now)
		} else {
			b := withDefaults(hpa.Spec.Behavior, c.cfg.DownscaleStabilizationWindow)
			l = c.limiter.normalizeWithBehavior(key, b, current, desired, minReplicas, hpa.Spec.MaxReplicas, now)
		}
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, l.ableReason, l.ableMessage)
		limitedStatus := corev1.ConditionFalse
		if l.limitedActive {
			limitedStatus = corev1.ConditionTrue
		}
		setCondition(hpa, autoscalingv2.ScalingLimited, limitedStatus, l.limitedReason, l.limitedMessage)
		desired = l.replicas
		rescale = desired != current
	}

	if rescale {
		next := scale.DeepCopy()
		next.Spec.Replicas = desired
		if err := c.updateScale(ctx, hpa.Namespace, ref, next); err != nil {
			c.recorder.Eventf(hpa, corev1.EventTypeWarning, "FailedRescale", "New size: %d; reason: %s; error: %v", desired, reason, err.Error())
			setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionFalse, "FailedUpdateScale", fmt.Sprintf("the HPA controller was unable to update the target scale: %v", err))
			setStatus(hpa, current, hpa.Status.DesiredReplicas, statuses, false, now)
			c.writeStatus(ctx, original, hpa)
			return fmt.Errorf("failed to rescale %s: %w", reference, err)
		}
		setCondition(hpa, autoscalingv2.AbleToScale, corev1.ConditionTrue, "SucceededRescale", fmt.Sprintf("the HPA controller was able to update the target scale to %d", desired))
		c.recorder.Eventf(hpa, corev1.EventTypeNormal, "SuccessfulRescale", "New size: %d; reason: %s", desired, reason)
		var b *autoscalingv2.HorizontalPodAutoscalerBehavior
		if hpa.Spec.Behavior != nil {
			b = withDefaults(hpa.Spec.Behavior, c.cfg.DownscaleStabilizationWindow)
		}
		c.limiter.recordScale(key, b, current, desired, now)
		c.log.Info("rescaled", "namespace", hpa.Namespace, "horizontalPodAutoscaler", hpa.Name, "from", current, "to", desired, "reason", reason)
	} else {
		desired = current
	}
	setStatus(hpa, current, desired, statuses, rescale, now)
	if err := c.writeStatus(ctx, original, hpa); err != nil {
		return err
	}
	return retErr
}

// replicasForMetrics is Kubernetes' computeReplicasForMetrics: the highest
// proposal over the metrics, -1 with an error when none can be computed or
// when a failed metric might have vetoed a scale-down.
func (c *Controller) replicasForMetrics(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, key string, scale *autoscalingv1.Scale, now time.Time) (int32, string, []autoscalingv2.MetricStatus, error) {
	if scale.Status.Selector == "" {
		err := errors.New("selector is required")
		c.recorder.Event(hpa, corev1.EventTypeWarning, "SelectorRequired", err.Error())
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", "the HPA target's scale is missing a selector")
		return -1, "", nil, err
	}
	selector, err := labels.Parse(scale.Status.Selector)
	if err != nil {
		err = fmt.Errorf("couldn't convert selector into a corresponding internal selector object: %w", err)
		c.recorder.Event(hpa, corev1.EventTypeWarning, "InvalidSelector", err.Error())
		setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "InvalidSelector", err.Error())
		return -1, "", nil, err
	}
	if err := c.checkAmbiguous(hpa, key, scale.Status.Selector, selector); err != nil {
		return -1, "", nil, err
	}
	specReplicas := scale.Spec.Replicas
	statuses := make([]autoscalingv2.MetricStatus, len(hpa.Spec.Metrics))
	var (
		replicas      int32
		metric        string
		invalid       int
		firstErr      error
		firstCondType autoscalingv2.HorizontalPodAutoscalerConditionType
		firstCond     condition
	)
	for i, spec := range hpa.Spec.Metrics {
		proposal, name, cond, err := c.replicasForMetric(ctx, hpa, spec, specReplicas, selector, &statuses[i], now)
		if err != nil {
			if invalid == 0 {
				firstErr, firstCondType, firstCond = err, autoscalingv2.ScalingActive, cond
			}
			invalid++
			continue
		}
		if replicas == 0 || proposal > replicas {
			replicas, metric = proposal, name
		}
	}
	if firstErr != nil {
		firstErr = fmt.Errorf("invalid metrics (%v invalid out of %v), first error is: %w", invalid, len(hpa.Spec.Metrics), firstErr)
	}
	if invalid >= len(hpa.Spec.Metrics) || (invalid > 0 && replicas < specReplicas) {
		setCondition(hpa, firstCondType, corev1.ConditionFalse, firstCond.reason, firstCond.message)
		return -1, "", statuses, firstErr
	}
	setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionTrue, "ValidMetricFound", fmt.Sprintf("the HPA was able to successfully calculate a replica count from %s", metric))
	return replicas, metric, statuses, firstErr
}

type condition struct{ reason, message string }

// replicasForMetric evaluates one metric. Only resource and container
// resource metrics are served (there is no custom or external metrics API).
func (c *Controller) replicasForMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, spec autoscalingv2.MetricSpec, specReplicas int32, selector labels.Selector, status *autoscalingv2.MetricStatus, now time.Time) (int32, string, condition, error) {
	fail := func(reason string, err error) (int32, string, condition, error) {
		c.recorder.Event(hpa, corev1.EventTypeWarning, reason, err.Error())
		return 0, "", condition{reason, fmt.Sprintf("the HPA was unable to compute the replica count: %v", err)}, err
	}
	switch spec.Type {
	case autoscalingv2.ResourceMetricSourceType:
		if spec.Resource == nil {
			return fail("InvalidMetricSourceType", errors.New("invalid resource metric source: resource is unset"))
		}
		n, current, name, err := c.resourceMetric(ctx, hpa, spec.Resource.Name, "", spec.Resource.Target, specReplicas, selector, now)
		if err != nil {
			return fail("FailedGetResourceMetric", err)
		}
		*status = autoscalingv2.MetricStatus{Type: spec.Type, Resource: &autoscalingv2.ResourceMetricStatus{Name: spec.Resource.Name, Current: current}}
		return n, name, condition{}, nil
	case autoscalingv2.ContainerResourceMetricSourceType:
		if spec.ContainerResource == nil {
			return fail("InvalidMetricSourceType", errors.New("invalid container resource metric source: containerResource is unset"))
		}
		cr := spec.ContainerResource
		n, current, name, err := c.resourceMetric(ctx, hpa, cr.Name, cr.Container, cr.Target, specReplicas, selector, now)
		if err != nil {
			return fail("FailedGetContainerResourceMetric", err)
		}
		*status = autoscalingv2.MetricStatus{Type: spec.Type, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{Name: cr.Name, Container: cr.Container, Current: current}}
		return n, name, condition{}, nil
	case autoscalingv2.PodsMetricSourceType:
		return fail("FailedGetPodsMetric", errors.New("unable to get metric: no custom metrics API (custom.metrics.k8s.io) is served"))
	case autoscalingv2.ObjectMetricSourceType:
		return fail("FailedGetObjectMetric", errors.New("unable to get metric: no custom metrics API (custom.metrics.k8s.io) is served"))
	case autoscalingv2.ExternalMetricSourceType:
		return fail("FailedGetExternalMetric", errors.New("unable to get external metric: no external metrics API (external.metrics.k8s.io) is served"))
	}
	return fail("InvalidMetricSourceType", fmt.Errorf("unknown metric source type %q", spec.Type))
}

// resourceMetric is Kubernetes' computeStatusForResourceMetricGeneric.
func (c *Controller) resourceMetric(ctx context.Context, hpa *autoscalingv2.HorizontalPodAutoscaler, res corev1.ResourceName, container string, target autoscalingv2.MetricTarget, specReplicas int32, selector labels.Selector, now time.Time) (int32, autoscalingv2.MetricValueStatus, string, error) {
	if target.AverageValue == nil && target.AverageUtilization == nil {
		return 0, autoscalingv2.MetricValueStatus{}, "", errors.New("invalid resource metric source: neither an average utilization target nor an average value (usage) target was set")
	}
	what := "utilization"
	if target.AverageValue != nil {
		what = "usage"
	}
	metrics, _, err := c.metrics.PodUsage(ctx, res, hpa.Namespace, selector, container)
	if err != nil {
		return 0, autoscalingv2.MetricValueStatus{}, "", fmt.Errorf("failed to get %s %s: unable to get metrics for resource %s: %w", res, what, res, err)
	}
	pods, err := c.podLister.Pods(hpa.Namespace).List(selector)
	if err != nil {
		return 0, autoscalingv2.MetricValueStatus{}, "", err
	}
	in := resourceInput{
		currentReplicas: specReplicas, pods: pods, metrics: metrics, resource: res, container: container,
		tolerance: c.tolerance(hpa),
		timing:    podTiming{now: now, cpuInitializationPeriod: c.cfg.CPUInitializationPeriod, initialReadinessDelay: c.cfg.InitialReadinessDelay},
	}
	if target.AverageValue != nil {
		n, avg, err := averageValueReplicas(in, target.AverageValue.MilliValue())
		if err != nil {
			return 0, autoscalingv2.MetricValueStatus{}, "", fmt.Errorf("failed to get %s usage: %w", res, err)
		}
		return n, autoscalingv2.MetricValueStatus{AverageValue: resource.NewMilliQuantity(avg, resource.DecimalSI)}, fmt.Sprintf("%s resource", res), nil
	}
	n, util, raw, err := utilizationReplicas(in, *target.AverageUtilization)
	if err != nil {
		return 0, autoscalingv2.MetricValueStatus{}, "", fmt.Errorf("failed to get %s utilization: %w", res, err)
	}
	name := fmt.Sprintf("%s resource utilization (percentage of request)", res)
	if container != "" {
		name = fmt.Sprintf("%s container resource utilization (percentage of request)", res)
	}
	return n, autoscalingv2.MetricValueStatus{AverageUtilization: &util, AverageValue: resource.NewMilliQuantity(raw, resource.DecimalSI)}, name, nil
}

// tolerance is the configured tolerance, overridden per direction by the
// behavior's tolerance fields.
func (c *Controller) tolerance(hpa *autoscalingv2.HorizontalPodAutoscaler) Tolerance {
	t := Tolerance{Down: c.cfg.Tolerance, Up: c.cfg.Tolerance}
	if b := hpa.Spec.Behavior; b != nil {
		if b.ScaleDown != nil && b.ScaleDown.Tolerance != nil {
			t.Down = b.ScaleDown.Tolerance.AsApproximateFloat64()
		}
		if b.ScaleUp != nil && b.ScaleUp.Tolerance != nil {
			t.Up = b.ScaleUp.Tolerance.AsApproximateFloat64()
		}
	}
	return t
}

// setStatus is Kubernetes' setStatus.
func setStatus(hpa *autoscalingv2.HorizontalPodAutoscaler, current, desired int32, metrics []autoscalingv2.MetricStatus, rescaled bool, now time.Time) {
	hpa.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		CurrentReplicas: current,
		DesiredReplicas: desired,
		LastScaleTime:   hpa.Status.LastScaleTime,
		CurrentMetrics:  metrics,
		Conditions:      hpa.Status.Conditions,
	}
	if rescaled {
		t := metav1.NewTime(now)
		hpa.Status.LastScaleTime = &t
	}
}

// setCondition sets a condition, moving its transition time only when its
// status changes.
func setCondition(hpa *autoscalingv2.HorizontalPodAutoscaler, t autoscalingv2.HorizontalPodAutoscalerConditionType, status corev1.ConditionStatus, reason, message string) {
	var cond *autoscalingv2.HorizontalPodAutoscalerCondition
	for i := range hpa.Status.Conditions {
		if hpa.Status.Conditions[i].Type == t {
			cond = &hpa.Status.Conditions[i]
			break
		}
	}
	if cond == nil {
		hpa.Status.Conditions = append(hpa.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{Type: t})
		cond = &hpa.Status.Conditions[len(hpa.Status.Conditions)-1]
	}
	if cond.Status != status {
		cond.LastTransitionTime = metav1.Now()
	}
	cond.Status, cond.Reason, cond.Message = status, reason, message
}

// writeStatus writes hpa's status if it changed.
func (c *Controller) writeStatus(ctx context.Context, original *autoscalingv2.HorizontalPodAutoscalerStatus, hpa *autoscalingv2.HorizontalPodAutoscaler) error {
	if apiequality.Semantic.DeepEqual(original, &hpa.Status) {
		return nil
	}
	_, err := c.kube.AutoscalingV2().HorizontalPodAutoscalers(hpa.Namespace).UpdateStatus(ctx, hpa, metav1.UpdateOptions{})
	if err != nil {
		c.recorder.Event(hpa, corev1.EventTypeWarning, "FailedUpdateStatus", err.Error())
		return fmt.Errorf("failed to update status for %s: %w", hpa.Name, err)
	}
	return nil
}

// checkAmbiguous records the autoscaler's selector and refuses to scale
// when a pod it selects is also selected by another autoscaler of the
// namespace (Kubernetes' AmbiguousSelector).
func (c *Controller) checkAmbiguous(hpa *autoscalingv2.HorizontalPodAutoscaler, key, raw string, selector labels.Selector) error {
	pods, err := c.podLister.Pods(hpa.Namespace).List(selector)
	if err != nil {
		return err
	}
	selecting := c.selectors.put(key, hpa.Namespace, selector, pods)
	if len(selecting) <= 1 {
		return nil
	}
	msg := fmt.Sprintf("pods by selector %v are controlled by multiple HPAs: %v", raw, selecting)
	c.recorder.Event(hpa, corev1.EventTypeWarning, "AmbiguousSelector", msg)
	setCondition(hpa, autoscalingv2.ScalingActive, corev1.ConditionFalse, "AmbiguousSelector", msg)
	return errors.New(msg)
}

// selectorIndex remembers each autoscaler's pod selector. Safe for
// concurrent use.
type selectorIndex struct {
	mu  sync.Mutex
	sel map[string]selectorEntry // by autoscaler key
}

type selectorEntry struct {
	namespace string
	selector  labels.Selector
}

// put records key's selector and returns, sorted, the keys of the
// autoscalers (key included) whose selectors match any of pods.
func (x *selectorIndex) put(key, namespace string, selector labels.Selector, pods []*corev1.Pod) []string {
	x.mu.Lock()
	defer x.mu.Unlock()
	if x.sel == nil {
		x.sel = map[string]selectorEntry{}
	}
	x.sel[key] = selectorEntry{namespace, selector}
	var out []string
	for k, e := range x.sel {
		if e.namespace != namespace {
			continue
		}
		for _, p := range pods {
			if e.selector.Matches(labels.Set(p.Labels)) {
				out = append(out, k)
				break
			}
		}
	}
	slices.Sort(out)
	return out
}

func (x *selectorIndex) forget(key string) {
	x.mu.Lock()
	defer x.mu.Unlock()
	delete(x.sel, key)
}
