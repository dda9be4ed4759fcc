package api

import (
	"fmt"
	"strings"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HorizontalPodAutoscaler tables. autoscaling/v1 objects are first
// converted to autoscaling/v2 (conversion_autoscaling.go: their CPU target
// plus the metrics carried in the autoscaling.alpha.kubernetes.io
// annotations) and share the v2 row.

// Annotations in which autoscaling/v1 round-trips metrics it cannot express.
const (
	printHPAMetricSpecsAnnotation    = convertHPAMetricsAnnotation
	printHPAMetricStatusesAnnotation = convertHPACurrentMetricsAnnotation
)

// printHPAColumns are Kubernetes' HPA columns. Kubernetes took their
// descriptions from the autoscaling/v2beta1 docs, which k8s.io/api no longer
// ships; the v2 docs of the same fields are used instead.
func printHPAColumns() []metav1.TableColumnDefinition {
	spec := autoscalingv2.HorizontalPodAutoscalerSpec{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		printNameColumn(),
		printCol("Reference", "string", spec["scaleTargetRef"]),
		printCol("Targets", "string", spec["metrics"]),
		printCol("MinPods", "string", spec["minReplicas"]),
		printCol("MaxPods", "string", spec["maxReplicas"]),
		printCol("Replicas", "string", autoscalingv2.HorizontalPodAutoscalerStatus{}.SwaggerDoc()["currentReplicas"]),
		printAgeColumn(),
	}
}

func printHPAV2Table() *TableConvertor {
	return printTableFor(printHPAColumns(), printHPARow)
}

func printHPAV1Table() *TableConvertor {
	return printTableFor(printHPAColumns(), func(hpa *autoscalingv1.HorizontalPodAutoscaler, now time.Time) []interface{} {
		return printHPARow(convertHPAV1ToV2(hpa), now)
	})
}

func printHPARow(hpa *autoscalingv2.HorizontalPodAutoscaler, now time.Time) []interface{} {
	ref := hpa.Spec.ScaleTargetRef
	minPods := "<unset>"
	if hpa.Spec.MinReplicas != nil {
		minPods = fmt.Sprintf("%d", *hpa.Spec.MinReplicas)
	}
	return []interface{}{
		hpa.Name, fmt.Sprintf("%s/%s", ref.Kind, ref.Name),
		printHPAMetrics(hpa.Spec.Metrics, hpa.Status.CurrentMetrics),
		minPods, int64(hpa.Spec.MaxReplicas), int64(hpa.Status.CurrentReplicas),
		printAge(hpa.CreationTimestamp, now),
	}
}

// printHPAMetrics renders the TARGETS cell: "<current>/<target>" per metric,
// at most two, then " + N more...". Unknown current values print as
// "<unknown>"; resource targets are prefixed with the resource name.
func printHPAMetrics(specs []autoscalingv2.MetricSpec, statuses []autoscalingv2.MetricStatus) string {
	if len(specs) == 0 {
		return "<none>"
	}
	const max = 2
	list := make([]string, 0, len(specs))
	for i, spec := range specs {
		var st *autoscalingv2.MetricStatus
		if i < len(statuses) {
			st = &statuses[i]
		}
		list = append(list, printHPAMetric(spec, st))
	}
	count := len(list)
	if count > max {
		return fmt.Sprintf("%s + %d more...", strings.Join(list[:max], ", "), count-max)
	}
	return strings.Join(list, ", ")
}

func printHPAMetric(spec autoscalingv2.MetricSpec, st *autoscalingv2.MetricStatus) string {
	const unknown = "<unknown>"
	switch spec.Type {
	case autoscalingv2.ExternalMetricSourceType:
		if spec.External == nil {
			break
		}
		if spec.External.Target.AverageValue != nil {
			current := unknown
			if st != nil && st.External != nil && st.External.Current.AverageValue != nil {
				current = st.External.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", current, spec.External.Target.AverageValue.String())
		}
		current := unknown
		if st != nil && st.External != nil {
			current = st.External.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", current, spec.External.Target.Value.String())
	case autoscalingv2.PodsMetricSourceType:
		if spec.Pods == nil {
			break
		}
		current := unknown
		if st != nil && st.Pods != nil {
			current = st.Pods.Current.AverageValue.String()
		}
		return fmt.Sprintf("%s/%s", current, spec.Pods.Target.AverageValue.String())
	case autoscalingv2.ObjectMetricSourceType:
		if spec.Object == nil {
			break
		}
		if spec.Object.Target.AverageValue != nil {
			current := unknown
			if st != nil && st.Object != nil && st.Object.Current.AverageValue != nil {
				current = st.Object.Current.AverageValue.String()
			}
			return fmt.Sprintf("%s/%s (avg)", current, spec.Object.Target.AverageValue.String())
		}
		current := unknown
		if st != nil && st.Object != nil {
			current = st.Object.Current.Value.String()
		}
		return fmt.Sprintf("%s/%s", current, spec.Object.Target.Value.String())
	case autoscalingv2.ResourceMetricSourceType:
		if spec.Resource == nil {
			break
		}
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.Resource != nil {
			current = &st.Resource.Current
		}
		return printHPAResourceMetric(spec.Resource.Name, spec.Resource.Target, current)
	case autoscalingv2.ContainerResourceMetricSourceType:
		if spec.ContainerResource == nil {
			break
		}
		var current *autoscalingv2.MetricValueStatus
		if st != nil && st.ContainerResource != nil {
			current = &st.ContainerResource.Current
		}
		return printHPAResourceMetric(spec.ContainerResource.Name, spec.ContainerResource.Target, current)
	}
	return "<unknown type>"
}

// printHPAResourceMetric renders "cpu: 40%/80%" (utilization) or
// "memory: 100Mi/200Mi" (average value); "<auto>" for an unset utilization.
func printHPAResourceMetric(name corev1.ResourceName, target autoscalingv2.MetricTarget, current *autoscalingv2.MetricValueStatus) string {
	cur := "<unknown>"
	if target.AverageValue != nil {
		if current != nil {
			cur = current.AverageValue.String()
		}
		return fmt.Sprintf("%s: %s/%s", name.String(), cur, target.AverageValue.String())
	}
	if current != nil && current.AverageUtilization != nil {
		cur = fmt.Sprintf("%d%%", *current.AverageUtilization)
	}
	tgt := "<auto>"
	if target.AverageUtilization != nil {
		tgt = fmt.Sprintf("%d%%", *target.AverageUtilization)
	}
	return fmt.Sprintf("%s: %s/%s", name.String(), cur, tgt)
}
