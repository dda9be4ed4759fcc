package api

import (
	"fmt"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	hpaMaxPeriodSeconds              = 1800
	hpaMaxStabilizationWindowSeconds = 3600
)

var hpaMetricSourceTypes = []autoscalingv2.MetricSourceType{autoscalingv2.ContainerResourceMetricSourceType,
	autoscalingv2.ExternalMetricSourceType, autoscalingv2.ObjectMetricSourceType, autoscalingv2.PodsMetricSourceType,
	autoscalingv2.ResourceMetricSourceType}

func validateScaleTargetRef(kind, name string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if kind == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), ""))
	} else {
		allErrs = append(allErrs, validateNameRef(kind, nameIsPathSegment, fldPath.Child("kind"))...)
	}
	if name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateNameRef(name, nameIsPathSegment, fldPath.Child("name"))...)
	}
	return allErrs
}

func validateHPAReplicas(minReplicas *int32, maxReplicas int32) field.ErrorList {
	var allErrs field.ErrorList
	if minReplicas != nil && *minReplicas < 1 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("minReplicas"), *minReplicas, "must be greater than or equal to 1"))
	}
	if maxReplicas < 1 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("maxReplicas"), maxReplicas, "must be greater than 0"))
	}
	if minReplicas != nil && maxReplicas < *minReplicas {
		allErrs = append(allErrs, field.Invalid(specPath.Child("maxReplicas"), maxReplicas, "must be greater than or equal to `minReplicas`"))
	}
	return allErrs
}

// --- autoscaling/v2 ---

func validateHPAv2(h *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMetaCreate(&h.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateHPAv2Spec(&h.Spec)...)
}

func validateHPAv2Update(h, old *autoscalingv2.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateHPAv2Spec(&h.Spec)...)
}

func validateHPAv2Spec(s *autoscalingv2.HorizontalPodAutoscalerSpec) field.ErrorList {
	allErrs := validateHPAReplicas(s.MinReplicas, s.MaxReplicas)
	allErrs = append(allErrs, validateScaleTargetRef(s.ScaleTargetRef.Kind, s.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))...)
	for i := range s.Metrics {
		allErrs = append(allErrs, validateHPAMetricSpec(&s.Metrics[i], specPath.Child("metrics").Index(i))...)
	}
	if b := s.Behavior; b != nil {
		bp := specPath.Child("behavior")
		allErrs = append(allErrs, validateHPAScalingRules(b.ScaleUp, bp.Child("scaleUp"))...)
		allErrs = append(allErrs, validateHPAScalingRules(b.ScaleDown, bp.Child("scaleDown"))...)
	}
	return allErrs
}

func validateHPAMetricSpec(m *autoscalingv2.MetricSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if m.Type == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("type"), "must specify a metric source type"))
	}
	present := map[string]bool{}
	if m.Object != nil {
		present["object"] = true
		allErrs = append(allErrs, validateScaleTargetRef(m.Object.DescribedObject.Kind, m.Object.DescribedObject.Name, fldPath.Child("object", "describedObject"))...)
		allErrs = append(allErrs, validateMetricIdentifier(&m.Object.Metric, fldPath.Child("object", "metric"))...)
		allErrs = append(allErrs, validateMetricTarget(&m.Object.Target, fldPath.Child("object", "target"))...)
		if m.Object.Target.Value == nil && m.Object.Target.AverageValue == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("object", "target", "value"), "must set either a target value or averageValue"))
		}
	}
	if m.Pods != nil {
		present["pods"] = true
		allErrs = append(allErrs, validateMetricIdentifier(&m.Pods.Metric, fldPath.Child("pods", "metric"))...)
		allErrs = append(allErrs, validateMetricTarget(&m.Pods.Target, fldPath.Child("pods", "target"))...)
		if m.Pods.Target.AverageValue == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("pods", "target", "averageValue"), "must specify a positive target averageValue"))
		}
	}
	if m.External != nil {
		present["external"] = true
		allErrs = append(allErrs, validateMetricIdentifier(&m.External.Metric, fldPath.Child("external", "metric"))...)
		allErrs = append(allErrs, validateMetricTarget(&m.External.Target, fldPath.Child("external", "target"))...)
		if m.External.Target.Value == nil && m.External.Target.AverageValue == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("external", "target", "value"), "must set either a target value for metric or a per-pod target"))
		}
		if m.External.Target.Value != nil && m.External.Target.AverageValue != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("external", "target", "value"), "may not set both a target value for metric and a per-pod target"))
		}
	}
	if m.Resource != nil {
		present["resource"] = true
		allErrs = append(allErrs, validateResourceMetric(string(m.Resource.Name), &m.Resource.Target, fldPath.Child("resource"))...)
	}
	if m.ContainerResource != nil {
		present["containerResource"] = true
		p := fldPath.Child("containerResource")
		allErrs = append(allErrs, validateResourceMetric(string(m.ContainerResource.Name), &m.ContainerResource.Target, p)...)
		if m.ContainerResource.Container == "" {
			allErrs = append(allErrs, field.Required(p.Child("container"), "must specify a container"))
		} else {
			allErrs = append(allErrs, validateDNS1123Label(m.ContainerResource.Container, p.Child("container"))...)
		}
	}
	expected := ""
	switch m.Type {
	case autoscalingv2.ObjectMetricSourceType:
		expected = "object"
	case autoscalingv2.PodsMetricSourceType:
		expected = "pods"
	case autoscalingv2.ExternalMetricSourceType:
		expected = "external"
	case autoscalingv2.ResourceMetricSourceType:
		expected = "resource"
	case autoscalingv2.ContainerResourceMetricSourceType:
		expected = "containerResource"
	case "":
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), m.Type, hpaMetricSourceTypes))
	}
	if expected != "" && !present[expected] {
		allErrs = append(allErrs, field.Required(fldPath.Child(expected), "must populate information for the given metric source"))
	}
	for _, typ := range []string{"object", "pods", "external", "resource", "containerResource"} {
		if present[typ] && typ != expected && len(present) > 1 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child(typ), "must populate the given metric source only"))
		}
	}
	return allErrs
}

func validateResourceMetric(name string, t *autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), "must specify a resource name"))
	} else {
		allErrs = append(allErrs, validateContainerResourceName(name, fldPath.Child("name"))...)
	}
	allErrs = append(allErrs, validateMetricTarget(t, fldPath.Child("target"))...)
	if t.AverageUtilization == nil && t.AverageValue == nil {
		allErrs = append(allErrs, field.Required(fldPath.Child("target", "averageUtilization"), "must set either a target raw value or a target utilization"))
	}
	if t.AverageUtilization != nil && t.AverageValue != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("target", "averageValue"), "may not set both a target raw value and a target utilization"))
	}
	return allErrs
}

func validateMetricIdentifier(id *autoscalingv2.MetricIdentifier, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if id.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), "must specify a metric name"))
	} else {
		allErrs = append(allErrs, validateNameRef(id.Name, nameIsPathSegment, fldPath.Child("name"))...)
	}
	return append(allErrs, metav1validation.ValidateLabelSelector(id.Selector, strictSelectorOpts, fldPath.Child("selector"))...)
}

func validateMetricTarget(t *autoscalingv2.MetricTarget, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if t.Type == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("type"), "must specify a metric target type"))
	}
	if t.Type != autoscalingv2.UtilizationMetricType && t.Type != autoscalingv2.ValueMetricType && t.Type != autoscalingv2.AverageValueMetricType {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("type"), t.Type, "must be either Utilization, Value, or AverageValue"))
	}
	if t.Value != nil && t.Value.Sign() != 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("value"), t.Value.String(), "must be positive"))
	}
	if t.AverageValue != nil && t.AverageValue.Sign() != 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("averageValue"), t.AverageValue.String(), "must be positive"))
	}
	if t.AverageUtilization != nil && *t.AverageUtilization < 1 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("averageUtilization"), *t.AverageUtilization, "must be greater than 0"))
	}
	return allErrs
}

func validateHPAScalingRules(r *autoscalingv2.HPAScalingRules, fldPath *field.Path) field.ErrorList {
	if r == nil {
		return nil
	}
	var allErrs field.ErrorList
	if w := r.StabilizationWindowSeconds; w != nil {
		if *w < 0 {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w, "must be greater than or equal to zero"))
		}
		if *w > hpaMaxStabilizationWindowSeconds {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("stabilizationWindowSeconds"), *w,
				fmt.Sprintf("must be less than or equal to %v", hpaMaxStabilizationWindowSeconds)))
		}
	}
	selectPolicies := []autoscalingv2.ScalingPolicySelect{autoscalingv2.DisabledPolicySelect, autoscalingv2.MaxChangePolicySelect, autoscalingv2.MinChangePolicySelect}
	if r.SelectPolicy != nil && !sets.New(selectPolicies...).Has(*r.SelectPolicy) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("selectPolicy"), *r.SelectPolicy, selectPolicies))
	}
	pp := fldPath.Child("policies")
	if len(r.Policies) == 0 {
		allErrs = append(allErrs, field.Required(pp, "must specify at least one Policy"))
	}
	for i, p := range r.Policies {
		ip := pp.Index(i)
		if p.Type != autoscalingv2.PodsScalingPolicy && p.Type != autoscalingv2.PercentScalingPolicy {
			allErrs = append(allErrs, field.NotSupported(ip.Child("type"), p.Type,
				[]autoscalingv2.HPAScalingPolicyType{autoscalingv2.PercentScalingPolicy, autoscalingv2.PodsScalingPolicy}))
		}
		if p.Value <= 0 {
			allErrs = append(allErrs, field.Invalid(ip.Child("value"), p.Value, msgNotPositive))
		}
		if p.PeriodSeconds <= 0 {
			allErrs = append(allErrs, field.Invalid(ip.Child("periodSeconds"), p.PeriodSeconds, msgNotPositive))
		}
		if p.PeriodSeconds > hpaMaxPeriodSeconds {
			allErrs = append(allErrs, field.Invalid(ip.Child("periodSeconds"), p.PeriodSeconds,
				fmt.Sprintf("must be less than or equal to %v", hpaMaxPeriodSeconds)))
		}
	}
	if r.Tolerance != nil && r.Tolerance.Sign() < 0 {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("tolerance"), r.Tolerance.String(), msgNegative))
	}
	return allErrs
}

// --- autoscaling/v1 ---

func validateHPAv1(h *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMetaCreate(&h.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateHPAv1Spec(&h.Spec)...)
}

func validateHPAv1Update(h, old *autoscalingv1.HorizontalPodAutoscaler) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&h.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateHPAv1Spec(&h.Spec)...)
}

func validateHPAv1Spec(s *autoscalingv1.HorizontalPodAutoscalerSpec) field.ErrorList {
	allErrs := validateHPAReplicas(s.MinReplicas, s.MaxReplicas)
	allErrs = append(allErrs, validateScaleTargetRef(s.ScaleTargetRef.Kind, s.ScaleTargetRef.Name, specPath.Child("scaleTargetRef"))...)
	if t := s.TargetCPUUtilizationPercentage; t != nil && *t < 1 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("targetCPUUtilizationPercentage"), *t, "must be greater than 0"))
	}
	return allErrs
}
