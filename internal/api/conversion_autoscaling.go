package api

import (
	"encoding/json"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// autoscaling/v1 HorizontalPodAutoscalers are stored as autoscaling/v2,
// converted as Kubernetes' pkg/apis/autoscaling/v1/conversion.go does:
//
//   - v1 spec.targetCPUUtilizationPercentage is the first v2 CPU
//     utilization metric; every other metric travels as JSON
//     (autoscaling/v1 MetricSpecs) in the metrics annotation and comes back
//     first, the CPU metric last. A v1 object with neither gets the implied
//     80% CPU target.
//   - status.currentMetrics travel, all of them, in the current-metrics
//     annotation (v1 MetricStatuses), status.conditions in the conditions
//     annotation, spec.behavior in the behavior annotation (Kubernetes
//     marshals its internal type there, whose JSON keys are the Go field
//     names: {"ScaleUp":{"StabilizationWindowSeconds":0,...}}).
//   - The four annotations are dropped on the way to v2 and rebuilt from
//     the v2 object on the way to v1, so stale ones never survive; a
//     malformed annotation is ignored.
//
// A v2 object that v1 can express plus the annotations comes back from
// v1 unchanged, except that a metric target's type is inferred from the
// values set (v1 has no type field) and the CPU utilization metric moves
// to the end, both as in Kubernetes; a v1 object comes back from v2
// unchanged, except that one without any target reads back with the
// implied 80%. Three departures from Kubernetes keep information it loses
// and change nothing for annotations Kubernetes itself writes:
//   - No current-metrics annotation is written for a status that holds only
//     the CPU utilization currentCPUUtilizationPercentage already shows
//     (the status a v1 object converts to; Kubernetes writes it with a raw
//     value of 0, which then comes back into v2).
//   - currentCPUUtilizationPercentage is kept when the current-metrics
//     annotation has no CPU utilization status (Kubernetes drops it
//     whenever the annotation is present).
//   - An Object or External target or current value, which v1 holds as a
//     non-optional quantity, stays unset in v2 when v1 has it zero next to
//     an average value (Kubernetes sets it to 0, which v2 validation
//     rejects for targets).

// Annotations in which autoscaling/v1 carries what it cannot express
// (Kubernetes' pkg/apis/autoscaling/annotations.go).
const (
	convertHPAMetricsAnnotation        = "autoscaling.alpha.kubernetes.io/metrics"
	convertHPACurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	convertHPAConditionsAnnotation     = "autoscaling.alpha.kubernetes.io/conditions"
	convertHPABehaviorAnnotation       = "autoscaling.alpha.kubernetes.io/behavior"
)

// convertHPADefaultCPU is the CPU utilization target of an autoscaling/v1
// HPA that has none (autoscaling.DefaultCPUUtilization in Kubernetes).
const convertHPADefaultCPU int32 = 80

// convertHPAV1ToV2Storage is the ToStorage hook of autoscaling/v1 HPAs:
// the conversion, then the v2 defaults Kubernetes applies when it decodes
// the stored object.
func convertHPAV1ToV2Storage(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	out := convertHPAV1ToV2(in)
	defaultHPAv2(out)
	return out
}

// convertHPAV2ToV1 converts an autoscaling/v2 HPA to autoscaling/v1.
func convertHPAV2ToV1(in *autoscalingv2.HorizontalPodAutoscaler) *autoscalingv1.HorizontalPodAutoscaler {
	in = in.DeepCopy()
	out := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: in.ObjectMeta}
	out.Annotations = convertDropHPAAnnotations(out.Annotations)
	out.Spec = autoscalingv1.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv1.CrossVersionObjectReference(in.Spec.ScaleTargetRef),
		MinReplicas:    in.Spec.MinReplicas,
		MaxReplicas:    in.Spec.MaxReplicas,
	}
	var other []autoscalingv1.MetricSpec
	for _, m := range in.Spec.Metrics {
		if convertIsCPUUtilizationSpec(m) {
			// The first one is the v1 target; later ones have no place in v1.
			if out.Spec.TargetCPUUtilizationPercentage == nil {
				out.Spec.TargetCPUUtilizationPercentage = m.Resource.Target.AverageUtilization
			}
			continue
		}
		other = append(other, convertHPAMetricSpecToV1(m))
	}

	st := in.Status
	out.Status = autoscalingv1.HorizontalPodAutoscalerStatus{
		ObservedGeneration: st.ObservedGeneration,
		LastScaleTime:      st.LastScaleTime,
		CurrentReplicas:    st.CurrentReplicas,
		DesiredReplicas:    st.DesiredReplicas,
	}
	current := make([]autoscalingv1.MetricStatus, 0, len(st.CurrentMetrics))
	for _, m := range st.CurrentMetrics {
		if convertIsCPUUtilizationStatus(m) {
			out.Status.CurrentCPUUtilizationPercentage = m.Resource.Current.AverageUtilization
		}
		current = append(current, convertHPAMetricStatusToV1(m))
	}
	conditions := make([]autoscalingv1.HorizontalPodAutoscalerCondition, 0, len(st.Conditions))
	for _, c := range st.Conditions {
		conditions = append(conditions, autoscalingv1.HorizontalPodAutoscalerCondition{
			Type:               autoscalingv1.HorizontalPodAutoscalerConditionType(c.Type),
			Status:             c.Status,
			LastTransitionTime: c.LastTransitionTime,
			Reason:             c.Reason,
			Message:            c.Message,
			ObservedGeneration: c.ObservedGeneration,
		})
	}

	if len(other) > 0 {
		convertSetJSONAnnotation(&out.ObjectMeta, convertHPAMetricsAnnotation, other)
	}
	if len(current) > 0 && !convertOnlyV1CPUStatus(st.CurrentMetrics) {
		convertSetJSONAnnotation(&out.ObjectMeta, convertHPACurrentMetricsAnnotation, current)
	}
	if b := in.Spec.Behavior; b != nil {
		convertSetJSONAnnotation(&out.ObjectMeta, convertHPABehaviorAnnotation, convertHPABehaviorJSON{
			ScaleUp: convertHPARulesToJSON(b.ScaleUp), ScaleDown: convertHPARulesToJSON(b.ScaleDown),
		})
	}
	if len(conditions) > 0 {
		convertSetJSONAnnotation(&out.ObjectMeta, convertHPAConditionsAnnotation, conditions)
	}
	return out
}

// convertHPAV1ToV2 converts an autoscaling/v1 HPA to autoscaling/v2.
func convertHPAV1ToV2(in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv2.HorizontalPodAutoscaler {
	in = in.DeepCopy()
	ann := in.Annotations
	out := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: in.ObjectMeta}
	out.Spec = autoscalingv2.HorizontalPodAutoscalerSpec{
		ScaleTargetRef: autoscalingv2.CrossVersionObjectReference(in.Spec.ScaleTargetRef),
		MinReplicas:    in.Spec.MinReplicas,
		MaxReplicas:    in.Spec.MaxReplicas,
	}
	var specs []autoscalingv1.MetricSpec
	if convertGetJSONAnnotation(ann, convertHPAMetricsAnnotation, &specs) {
		for _, m := range specs {
			out.Spec.Metrics = append(out.Spec.Metrics, convertHPAMetricSpecToV2(m))
		}
	}
	if cpu := in.Spec.TargetCPUUtilizationPercentage; cpu != nil {
		out.Spec.Metrics = append(out.Spec.Metrics, convertCPUUtilizationSpec(*cpu))
	}
	if len(out.Spec.Metrics) == 0 {
		out.Spec.Metrics = []autoscalingv2.MetricSpec{convertCPUUtilizationSpec(convertHPADefaultCPU)}
	}
	var behavior convertHPABehaviorJSON
	if convertGetJSONAnnotation(ann, convertHPABehaviorAnnotation, &behavior) && (behavior.ScaleUp != nil || behavior.ScaleDown != nil) {
		out.Spec.Behavior = &autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: convertHPARulesFromJSON(behavior.ScaleUp), ScaleDown: convertHPARulesFromJSON(behavior.ScaleDown),
		}
	}

	st := in.Status
	out.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
		ObservedGeneration: st.ObservedGeneration,
		LastScaleTime:      st.LastScaleTime,
		CurrentReplicas:    st.CurrentReplicas,
		DesiredReplicas:    st.DesiredReplicas,
	}
	var statuses []autoscalingv1.MetricStatus
	hasCPU := false
	if convertGetJSONAnnotation(ann, convertHPACurrentMetricsAnnotation, &statuses) {
		for _, m := range statuses {
			ms := convertHPAMetricStatusToV2(m)
			hasCPU = hasCPU || convertIsCPUUtilizationStatus(ms)
			out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, ms)
		}
	}
	if cpu := st.CurrentCPUUtilizationPercentage; cpu != nil && !hasCPU {
		out.Status.CurrentMetrics = append(out.Status.CurrentMetrics, autoscalingv2.MetricStatus{
			Type: autoscalingv2.ResourceMetricSourceType,
			Resource: &autoscalingv2.ResourceMetricStatus{
				Name:    corev1.ResourceCPU,
				Current: autoscalingv2.MetricValueStatus{AverageUtilization: cpu},
			},
		})
	}
	var conditions []autoscalingv1.HorizontalPodAutoscalerCondition
	if convertGetJSONAnnotation(ann, convertHPAConditionsAnnotation, &conditions) {
		for _, c := range conditions {
			out.Status.Conditions = append(out.Status.Conditions, autoscalingv2.HorizontalPodAutoscalerCondition{
				Type:               autoscalingv2.HorizontalPodAutoscalerConditionType(c.Type),
				Status:             c.Status,
				LastTransitionTime: c.LastTransitionTime,
				Reason:             c.Reason,
				Message:            c.Message,
				ObservedGeneration: c.ObservedGeneration,
			})
		}
	}
	// ann is out's map: drop the annotations once they have been read.
	out.Annotations = convertDropHPAAnnotations(out.Annotations)
	return out
}

func convertIsCPUUtilizationSpec(m autoscalingv2.MetricSpec) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
		m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil
}

func convertIsCPUUtilizationStatus(m autoscalingv2.MetricStatus) bool {
	return m.Type == autoscalingv2.ResourceMetricSourceType && m.Resource != nil &&
		m.Resource.Name == corev1.ResourceCPU && m.Resource.Current.AverageUtilization != nil
}

// convertOnlyV1CPUStatus reports whether ms is a lone CPU utilization
// status without a raw value, which currentCPUUtilizationPercentage holds
// entirely.
func convertOnlyV1CPUStatus(ms []autoscalingv2.MetricStatus) bool {
	return len(ms) == 1 && convertIsCPUUtilizationStatus(ms[0]) &&
		ms[0].Resource.Current.AverageValue == nil && ms[0].Resource.Current.Value == nil
}

func convertCPUUtilizationSpec(percent int32) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{
		Type: autoscalingv2.ResourceMetricSourceType,
		Resource: &autoscalingv2.ResourceMetricSource{
			Name:   corev1.ResourceCPU,
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: &percent},
		},
	}
}

// convertDropHPAAnnotations removes the round-trip annotations from a map
// the caller owns; nil when nothing else is left.
func convertDropHPAAnnotations(ann map[string]string) map[string]string {
	n := len(ann)
	for _, k := range []string{convertHPAMetricsAnnotation, convertHPACurrentMetricsAnnotation, convertHPAConditionsAnnotation, convertHPABehaviorAnnotation} {
		delete(ann, k)
	}
	if len(ann) == 0 && n > 0 {
		return nil
	}
	return ann
}

func convertSetJSONAnnotation(m *metav1.ObjectMeta, key string, v any) {
	// Marshalling API structs and quantities cannot fail.
	data, _ := json.Marshal(v)
	if m.Annotations == nil {
		m.Annotations = map[string]string{}
	}
	m.Annotations[key] = string(data)
}

// convertGetJSONAnnotation decodes annotation key into v and reports
// whether it was present and well-formed.
func convertGetJSONAnnotation(ann map[string]string, key string, v any) bool {
	enc, ok := ann[key]
	return ok && json.Unmarshal([]byte(enc), v) == nil
}

// convertOptional returns a pointer to q, or nil when q is zero and an
// alternative value is set (see the file comment).
func convertOptional(q resource.Quantity, alternative *resource.Quantity) *resource.Quantity {
	if alternative != nil && q.IsZero() {
		return nil
	}
	return &q
}

func convertValue(q *resource.Quantity) resource.Quantity {
	if q == nil {
		return resource.Quantity{}
	}
	return *q
}

func convertHPAMetricSpecToV1(in autoscalingv2.MetricSpec) autoscalingv1.MetricSpec {
	out := autoscalingv1.MetricSpec{Type: autoscalingv1.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv1.ObjectMetricSource{
			Target:       autoscalingv1.CrossVersionObjectReference(o.DescribedObject),
			MetricName:   o.Metric.Name,
			TargetValue:  convertValue(o.Target.Value),
			Selector:     o.Metric.Selector,
			AverageValue: o.Target.AverageValue,
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv1.PodsMetricSource{
			MetricName: p.Metric.Name, TargetAverageValue: convertValue(p.Target.AverageValue), Selector: p.Metric.Selector,
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricSource{
			Name: r.Name, TargetAverageUtilization: r.Target.AverageUtilization, TargetAverageValue: r.Target.AverageValue,
		}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricSource{
			Name: r.Name, Container: r.Container,
			TargetAverageUtilization: r.Target.AverageUtilization, TargetAverageValue: r.Target.AverageValue,
		}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricSource{
			MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector,
			TargetValue: e.Target.Value, TargetAverageValue: e.Target.AverageValue,
		}
	}
	return out
}

func convertHPAMetricSpecToV2(in autoscalingv1.MetricSpec) autoscalingv2.MetricSpec {
	out := autoscalingv2.MetricSpec{Type: autoscalingv2.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: convertOptional(o.TargetValue, o.AverageValue), AverageValue: o.AverageValue}
		if o.AverageValue != nil {
			t.Type = autoscalingv2.AverageValueMetricType
		}
		out.Object = &autoscalingv2.ObjectMetricSource{
			DescribedObject: autoscalingv2.CrossVersionObjectReference(o.Target),
			Target:          t,
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector},
		}
	}
	if p := in.Pods; p != nil {
		avg := p.TargetAverageValue
		out.Pods = &autoscalingv2.PodsMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector},
			Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &avg},
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv2.ResourceMetricSource{
			Name: r.Name, Target: convertResourceTarget(r.TargetAverageUtilization, r.TargetAverageValue),
		}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricSource{
			Name: r.Name, Container: r.Container, Target: convertResourceTarget(r.TargetAverageUtilization, r.TargetAverageValue),
		}
	}
	if e := in.External; e != nil {
		t := autoscalingv2.MetricTarget{Type: autoscalingv2.ValueMetricType, Value: e.TargetValue, AverageValue: e.TargetAverageValue}
		if e.TargetValue == nil {
			t.Type = autoscalingv2.AverageValueMetricType
		}
		out.External = &autoscalingv2.ExternalMetricSource{
			Metric: autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector},
			Target: t,
		}
	}
	return out
}

func convertResourceTarget(utilization *int32, avg *resource.Quantity) autoscalingv2.MetricTarget {
	t := autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageUtilization: utilization, AverageValue: avg}
	if utilization != nil {
		t.Type = autoscalingv2.UtilizationMetricType
	}
	return t
}

func convertHPAMetricStatusToV1(in autoscalingv2.MetricStatus) autoscalingv1.MetricStatus {
	out := autoscalingv1.MetricStatus{Type: autoscalingv1.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv1.ObjectMetricStatus{
			Target:       autoscalingv1.CrossVersionObjectReference(o.DescribedObject),
			MetricName:   o.Metric.Name,
			CurrentValue: convertValue(o.Current.Value),
			Selector:     o.Metric.Selector,
			AverageValue: o.Current.AverageValue,
		}
	}
	if p := in.Pods; p != nil {
		out.Pods = &autoscalingv1.PodsMetricStatus{
			MetricName: p.Metric.Name, CurrentAverageValue: convertValue(p.Current.AverageValue), Selector: p.Metric.Selector,
		}
	}
	if r := in.Resource; r != nil {
		out.Resource = &autoscalingv1.ResourceMetricStatus{
			Name: r.Name, CurrentAverageUtilization: r.Current.AverageUtilization, CurrentAverageValue: convertValue(r.Current.AverageValue),
		}
	}
	if r := in.ContainerResource; r != nil {
		out.ContainerResource = &autoscalingv1.ContainerResourceMetricStatus{
			Name: r.Name, Container: r.Container,
			CurrentAverageUtilization: r.Current.AverageUtilization, CurrentAverageValue: convertValue(r.Current.AverageValue),
		}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv1.ExternalMetricStatus{
			MetricName: e.Metric.Name, MetricSelector: e.Metric.Selector,
			CurrentValue: convertValue(e.Current.Value), CurrentAverageValue: e.Current.AverageValue,
		}
	}
	return out
}

func convertHPAMetricStatusToV2(in autoscalingv1.MetricStatus) autoscalingv2.MetricStatus {
	out := autoscalingv2.MetricStatus{Type: autoscalingv2.MetricSourceType(in.Type)}
	if o := in.Object; o != nil {
		out.Object = &autoscalingv2.ObjectMetricStatus{
			Metric:          autoscalingv2.MetricIdentifier{Name: o.MetricName, Selector: o.Selector},
			Current:         autoscalingv2.MetricValueStatus{Value: convertOptional(o.CurrentValue, o.AverageValue), AverageValue: o.AverageValue},
			DescribedObject: autoscalingv2.CrossVersionObjectReference(o.Target),
		}
	}
	if p := in.Pods; p != nil {
		avg := p.CurrentAverageValue
		out.Pods = &autoscalingv2.PodsMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: p.MetricName, Selector: p.Selector},
			Current: autoscalingv2.MetricValueStatus{AverageValue: &avg},
		}
	}
	if r := in.Resource; r != nil {
		avg := r.CurrentAverageValue
		out.Resource = &autoscalingv2.ResourceMetricStatus{
			Name: r.Name, Current: autoscalingv2.MetricValueStatus{AverageUtilization: r.CurrentAverageUtilization, AverageValue: &avg},
		}
	}
	if r := in.ContainerResource; r != nil {
		avg := r.CurrentAverageValue
		out.ContainerResource = &autoscalingv2.ContainerResourceMetricStatus{
			Name: r.Name, Container: r.Container,
			Current: autoscalingv2.MetricValueStatus{AverageUtilization: r.CurrentAverageUtilization, AverageValue: &avg},
		}
	}
	if e := in.External; e != nil {
		out.External = &autoscalingv2.ExternalMetricStatus{
			Metric:  autoscalingv2.MetricIdentifier{Name: e.MetricName, Selector: e.MetricSelector},
			Current: autoscalingv2.MetricValueStatus{Value: convertOptional(e.CurrentValue, e.CurrentAverageValue), AverageValue: e.CurrentAverageValue},
		}
	}
	return out
}

// convertHPABehaviorJSON and the types below are the shape of the behavior
// annotation: Kubernetes' internal types, whose JSON keys are the Go field
// names and whose nil pointers marshal as null.
type convertHPABehaviorJSON struct {
	ScaleUp   *convertHPARulesJSON
	ScaleDown *convertHPARulesJSON
}

type convertHPARulesJSON struct {
	StabilizationWindowSeconds *int32
	SelectPolicy               *autoscalingv2.ScalingPolicySelect
	Policies                   []convertHPAPolicyJSON
	Tolerance                  *resource.Quantity
}

type convertHPAPolicyJSON struct {
	Type          autoscalingv2.HPAScalingPolicyType
	Value         int32
	PeriodSeconds int32
}

func convertHPARulesToJSON(in *autoscalingv2.HPAScalingRules) *convertHPARulesJSON {
	if in == nil {
		return nil
	}
	out := &convertHPARulesJSON{StabilizationWindowSeconds: in.StabilizationWindowSeconds, SelectPolicy: in.SelectPolicy, Tolerance: in.Tolerance}
	if in.Policies != nil {
		out.Policies = make([]convertHPAPolicyJSON, 0, len(in.Policies))
	}
	for _, p := range in.Policies {
		out.Policies = append(out.Policies, convertHPAPolicyJSON(p))
	}
	return out
}

func convertHPARulesFromJSON(in *convertHPARulesJSON) *autoscalingv2.HPAScalingRules {
	if in == nil {
		return nil
	}
	out := &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: in.StabilizationWindowSeconds, SelectPolicy: in.SelectPolicy, Tolerance: in.Tolerance}
	if in.Policies != nil {
		out.Policies = make([]autoscalingv2.HPAScalingPolicy, 0, len(in.Policies))
	}
	for _, p := range in.Policies {
		out.Policies = append(out.Policies, autoscalingv2.HPAScalingPolicy(p))
	}
	return out
}
