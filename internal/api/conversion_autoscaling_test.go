package api

import (
	"encoding/json"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/dump"
)

func convertQ(s string) *resource.Quantity { q := resource.MustParse(s); return &q }
func convertI32(v int32) *int32            { return &v }

func convertTarget(typ autoscalingv2.MetricTargetType, value, avg *resource.Quantity, util *int32) autoscalingv2.MetricTarget {
	return autoscalingv2.MetricTarget{Type: typ, Value: value, AverageValue: avg, AverageUtilization: util}
}

func convertResourceSpec(name corev1.ResourceName, t autoscalingv2.MetricTarget) autoscalingv2.MetricSpec {
	return autoscalingv2.MetricSpec{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{Name: name, Target: t}}
}

func convertResourceStatus(name corev1.ResourceName, util *int32, avg *resource.Quantity) autoscalingv2.MetricStatus {
	return autoscalingv2.MetricStatus{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{
		Name: name, Current: autoscalingv2.MetricValueStatus{AverageUtilization: util, AverageValue: avg}}}
}

var convertSelector = &metav1.LabelSelector{MatchLabels: map[string]string{"queue": "jobs"}}

// convertHPAFull is an autoscaling/v2 HPA with every metric source and
// target shape, behavior and conditions, in the form v1 can carry: target
// types match the values set and the CPU utilization metric comes last.
func convertHPAFull() *autoscalingv2.HorizontalPodAutoscaler {
	ingress := autoscalingv2.CrossVersionObjectReference{Kind: "Ingress", Name: "main", APIVersion: "networking.k8s.io/v1"}
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{
			Name: "web", Namespace: "prod", UID: "u1", ResourceVersion: "9", Generation: 2,
			CreationTimestamp: metav1.NewTime(convertTime),
			Labels:            map[string]string{"app": "web"}, Annotations: map[string]string{"team": "a"},
			ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl", Operation: metav1.ManagedFieldsOperationApply, APIVersion: "autoscaling/v2"}},
		},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "web", APIVersion: "apps/v1"},
			MinReplicas:    convertI32(2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{
				convertResourceSpec(corev1.ResourceMemory, convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("200Mi"), nil)),
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "qps", Selector: convertSelector},
					Target: convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("1k"), nil)}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					DescribedObject: ingress, Metric: autoscalingv2.MetricIdentifier{Name: "requests"},
					Target: convertTarget(autoscalingv2.ValueMetricType, convertQ("10k"), nil, nil)}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
					DescribedObject: ingress, Metric: autoscalingv2.MetricIdentifier{Name: "latency", Selector: convertSelector},
					Target: convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("50"), nil)}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue", Selector: convertSelector},
					Target: convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("30"), nil)}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
					Metric: autoscalingv2.MetricIdentifier{Name: "backlog"},
					Target: convertTarget(autoscalingv2.ValueMetricType, convertQ("100"), nil, nil)}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceCPU, Container: "app", Target: convertTarget(autoscalingv2.UtilizationMetricType, nil, nil, convertI32(60))}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricSource{
					Name: corev1.ResourceMemory, Container: "app", Target: convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("100Mi"), nil)}},
				convertResourceSpec(corev1.ResourceCPU, convertTarget(autoscalingv2.UtilizationMetricType, nil, nil, convertI32(70))),
			},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{
				ScaleUp: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: convertI32(0), SelectPolicy: strategyPtr(autoscalingv2.MaxChangePolicySelect),
					Policies: []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}, {Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}},
				},
				ScaleDown: &autoscalingv2.HPAScalingRules{
					StabilizationWindowSeconds: convertI32(300), SelectPolicy: strategyPtr(autoscalingv2.MinChangePolicySelect),
					Policies:  []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 60}},
					Tolerance: convertQ("50m"),
				},
			},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			ObservedGeneration: strategyPtr(int64(2)), LastScaleTime: &metav1.Time{Time: convertTime},
			CurrentReplicas: 3, DesiredReplicas: 4,
			CurrentMetrics: []autoscalingv2.MetricStatus{
				convertResourceStatus(corev1.ResourceMemory, nil, convertQ("150Mi")),
				{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{
					Metric: autoscalingv2.MetricIdentifier{Name: "qps", Selector: convertSelector}, Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("800")}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{
					DescribedObject: ingress, Metric: autoscalingv2.MetricIdentifier{Name: "requests"}, Current: autoscalingv2.MetricValueStatus{Value: convertQ("9k")}}},
				{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricStatus{
					DescribedObject: ingress, Metric: autoscalingv2.MetricIdentifier{Name: "latency", Selector: convertSelector}, Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("40")}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
					Metric: autoscalingv2.MetricIdentifier{Name: "queue", Selector: convertSelector}, Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("20")}}},
				{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
					Metric: autoscalingv2.MetricIdentifier{Name: "backlog"}, Current: autoscalingv2.MetricValueStatus{Value: convertQ("0")}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{
					Name: corev1.ResourceCPU, Container: "app", Current: autoscalingv2.MetricValueStatus{AverageUtilization: convertI32(55), AverageValue: convertQ("110m")}}},
				{Type: autoscalingv2.ContainerResourceMetricSourceType, ContainerResource: &autoscalingv2.ContainerResourceMetricStatus{
					Name: corev1.ResourceMemory, Container: "app", Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("90Mi")}}},
				convertResourceStatus(corev1.ResourceCPU, convertI32(0), convertQ("0")),
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{
				{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(convertTime), Reason: "ReadyForNewScale", Message: "ok"},
				{Type: autoscalingv2.ScalingActive, Status: corev1.ConditionFalse, Reason: "FailedGetResourceMetric", ObservedGeneration: strategyPtr(int64(2))},
			},
		},
	}
}

// convertHPACPUAndMemory is the common case: a CPU utilization and a
// memory average value target.
func convertHPACPUAndMemory() *autoscalingv2.HorizontalPodAutoscaler {
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: "api", Namespace: "prod"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "api", APIVersion: "apps/v1"},
			MinReplicas:    convertI32(1), MaxReplicas: 5,
			Metrics: []autoscalingv2.MetricSpec{
				convertResourceSpec(corev1.ResourceCPU, convertTarget(autoscalingv2.UtilizationMetricType, nil, nil, convertI32(50))),
				convertResourceSpec(corev1.ResourceMemory, convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("200Mi"), nil)),
			},
			Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleDown: &autoscalingv2.HPAScalingRules{
				StabilizationWindowSeconds: convertI32(60),
				Policies:                   []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 10, PeriodSeconds: 60}},
			}},
		},
		Status: autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: 2, DesiredReplicas: 2,
			CurrentMetrics: []autoscalingv2.MetricStatus{
				convertResourceStatus(corev1.ResourceCPU, convertI32(30), convertQ("120m")),
				convertResourceStatus(corev1.ResourceMemory, nil, convertQ("150Mi")),
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{
				Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, LastTransitionTime: metav1.NewTime(convertTime),
				Reason: "ReadyForNewScale", Message: "recommended size matches current size",
			}},
		},
	}
}

func TestConvertHPAV2ToV1(t *testing.T) {
	cpuOnly := convertHPACPUAndMemory()
	cpuOnly.Spec.Metrics = cpuOnly.Spec.Metrics[:1]
	cpuOnly.Spec.Behavior = nil
	cpuOnly.Status = autoscalingv2.HorizontalPodAutoscalerStatus{CurrentMetrics: []autoscalingv2.MetricStatus{convertResourceStatus(corev1.ResourceCPU, convertI32(30), nil)}}

	stale := convertHPACPUAndMemory()
	stale.Annotations = map[string]string{convertHPAMetricsAnnotation: "[]", convertHPAConditionsAnnotation: "garbage", "keep": "me"}
	stale.Spec.Behavior = nil
	stale.Status.CurrentMetrics, stale.Status.Conditions = nil, nil

	tests := []struct {
		name            string
		in              *autoscalingv2.HorizontalPodAutoscaler
		cpu, currentCPU *int32
		annotations     map[string]string // the exact annotations Kubernetes writes
	}{
		{
			name: "cpu and memory", in: convertHPACPUAndMemory(), cpu: convertI32(50), currentCPU: convertI32(30),
			annotations: map[string]string{
				convertHPAMetricsAnnotation:        `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"200Mi"}}]`,
				convertHPACurrentMetricsAnnotation: `[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":30,"currentAverageValue":"120m"}},{"type":"Resource","resource":{"name":"memory","currentAverageValue":"150Mi"}}]`,
				convertHPAConditionsAnnotation:     `[{"type":"AbleToScale","status":"True","lastTransitionTime":"2026-11-22T03:04:05Z","reason":"ReadyForNewScale","message":"recommended size matches current size"}]`,
				convertHPABehaviorAnnotation:       `{"ScaleUp":null,"ScaleDown":{"StabilizationWindowSeconds":60,"SelectPolicy":null,"Policies":[{"Type":"Percent","Value":10,"PeriodSeconds":60}],"Tolerance":null}}`,
			},
		},
		{name: "cpu only", in: cpuOnly, cpu: convertI32(50), currentCPU: convertI32(30), annotations: nil},
		{
			name: "stale round-trip annotations are replaced", in: stale, cpu: convertI32(50),
			annotations: map[string]string{
				"keep":                      "me",
				convertHPAMetricsAnnotation: `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"200Mi"}}]`,
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in.DeepCopy()
			got := convertHPAV2ToV1(in)
			if !apiequality.Semantic.DeepEqual(in, tt.in) {
				t.Fatal("the conversion changed its argument")
			}
			if !apiequality.Semantic.DeepEqual(got.Spec.TargetCPUUtilizationPercentage, tt.cpu) {
				t.Errorf("targetCPUUtilizationPercentage = %v, want %v", dump.Pretty(got.Spec.TargetCPUUtilizationPercentage), dump.Pretty(tt.cpu))
			}
			if !apiequality.Semantic.DeepEqual(got.Status.CurrentCPUUtilizationPercentage, tt.currentCPU) {
				t.Errorf("currentCPUUtilizationPercentage = %v, want %v", dump.Pretty(got.Status.CurrentCPUUtilizationPercentage), dump.Pretty(tt.currentCPU))
			}
			if len(got.Annotations) != len(tt.annotations) {
				t.Errorf("annotations = %v, want %v", got.Annotations, tt.annotations)
			}
			for k, want := range tt.annotations {
				if got.Annotations[k] != want {
					t.Errorf("annotation %s =\n%s\nwant\n%s", k, got.Annotations[k], want)
				}
			}
			if got.Name != tt.in.Name || got.Spec.MaxReplicas != tt.in.Spec.MaxReplicas || got.Spec.ScaleTargetRef.Name != tt.in.Spec.ScaleTargetRef.Name {
				t.Errorf("metadata or spec not carried over: %s", dump.Pretty(got))
			}
		})
	}
}

func TestConvertHPAV1ToV2(t *testing.T) {
	meta := func(ann map[string]string) metav1.ObjectMeta {
		return metav1.ObjectMeta{Name: "api", Namespace: "prod", Annotations: ann}
	}
	ref := autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "api"}
	v2ref := autoscalingv2.CrossVersionObjectReference{Kind: "Deployment", Name: "api"}
	cpu := func(p int32) autoscalingv2.MetricSpec {
		return convertResourceSpec(corev1.ResourceCPU, convertTarget(autoscalingv2.UtilizationMetricType, nil, nil, convertI32(p)))
	}
	tests := []struct {
		name string
		in   *autoscalingv1.HorizontalPodAutoscaler
		want *autoscalingv2.HorizontalPodAutoscaler
	}{
		{
			name: "cpu target",
			in: &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: meta(nil),
				Spec:   autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MinReplicas: convertI32(1), MaxReplicas: 3, TargetCPUUtilizationPercentage: convertI32(60)},
				Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3, CurrentCPUUtilizationPercentage: convertI32(20)}},
			want: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(nil),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: v2ref, MinReplicas: convertI32(1), MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{cpu(60)}},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentReplicas: 2, DesiredReplicas: 3,
					CurrentMetrics: []autoscalingv2.MetricStatus{convertResourceStatus(corev1.ResourceCPU, convertI32(20), nil)}}},
		},
		{
			name: "no target implies 80% CPU",
			in:   &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: meta(nil), Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 3}},
			want: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(nil),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: v2ref, MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{cpu(80)}}},
		},
		{
			name: "annotations as Kubernetes writes them",
			in: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: meta(map[string]string{
					"team":                             "a",
					convertHPAMetricsAnnotation:        `[{"type":"Pods","pods":{"metricName":"qps","targetAverageValue":"1k"}},{"type":"External","external":{"metricName":"queue","targetAverageValue":"30"}}]`,
					convertHPACurrentMetricsAnnotation: `[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,"currentAverageValue":"200m"}},{"type":"Pods","pods":{"metricName":"qps","currentAverageValue":"800"}},{"type":"External","external":{"metricName":"queue","currentValue":"0","currentAverageValue":"20"}}]`,
					convertHPAConditionsAnnotation:     `[{"type":"ScalingLimited","status":"False","lastTransitionTime":"2026-11-22T03:04:05Z","reason":"DesiredWithinRange"}]`,
					convertHPABehaviorAnnotation:       `{"ScaleUp":{"StabilizationWindowSeconds":0,"SelectPolicy":"Max","Policies":[{"Type":"Pods","Value":4,"PeriodSeconds":15}],"Tolerance":"10m"},"ScaleDown":null}`,
				}),
				Spec:   autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 3, TargetCPUUtilizationPercentage: convertI32(50)},
				Status: autoscalingv1.HorizontalPodAutoscalerStatus{CurrentCPUUtilizationPercentage: convertI32(40)},
			},
			want: &autoscalingv2.HorizontalPodAutoscaler{
				ObjectMeta: meta(map[string]string{"team": "a"}),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: v2ref, MaxReplicas: 3,
					Metrics: []autoscalingv2.MetricSpec{
						{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricSource{
							Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Target: convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("1k"), nil)}},
						{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricSource{
							Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Target: convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("30"), nil)}},
						cpu(50),
					},
					Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{ScaleUp: &autoscalingv2.HPAScalingRules{
						StabilizationWindowSeconds: convertI32(0), SelectPolicy: strategyPtr(autoscalingv2.MaxChangePolicySelect),
						Policies:  []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15}},
						Tolerance: convertQ("10m"),
					}},
				},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{
					CurrentMetrics: []autoscalingv2.MetricStatus{
						convertResourceStatus(corev1.ResourceCPU, convertI32(40), convertQ("200m")),
						{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{
							Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("800")}}},
						{Type: autoscalingv2.ExternalMetricSourceType, External: &autoscalingv2.ExternalMetricStatus{
							Metric: autoscalingv2.MetricIdentifier{Name: "queue"}, Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("20")}}},
					},
					Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{
						Type: autoscalingv2.ScalingLimited, Status: corev1.ConditionFalse, LastTransitionTime: metav1.NewTime(convertTime), Reason: "DesiredWithinRange"}},
				},
			},
		},
		{
			name: "malformed annotations are ignored and dropped",
			in: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: meta(map[string]string{convertHPAMetricsAnnotation: "not json", convertHPACurrentMetricsAnnotation: "{", convertHPABehaviorAnnotation: "{}"}),
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 3, TargetCPUUtilizationPercentage: convertI32(50)},
				Status:     autoscalingv1.HorizontalPodAutoscalerStatus{CurrentCPUUtilizationPercentage: convertI32(5)},
			},
			want: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(nil),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: v2ref, MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{cpu(50)}},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{
					CurrentMetrics: []autoscalingv2.MetricStatus{convertResourceStatus(corev1.ResourceCPU, convertI32(5), nil)}}},
		},
		{
			name: "an object average target has no value",
			in: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: meta(map[string]string{
					convertHPAMetricsAnnotation: `[{"type":"Object","object":{"target":{"kind":"Ingress","name":"main"},"metricName":"rps","targetValue":"0","averageValue":"50"}}]`,
				}),
				Spec: autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 3},
			},
			want: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(nil),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: v2ref, MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{
					{Type: autoscalingv2.ObjectMetricSourceType, Object: &autoscalingv2.ObjectMetricSource{
						DescribedObject: autoscalingv2.CrossVersionObjectReference{Kind: "Ingress", Name: "main"},
						Metric:          autoscalingv2.MetricIdentifier{Name: "rps"},
						Target:          convertTarget(autoscalingv2.AverageValueMetricType, nil, convertQ("50"), nil)}},
				}}},
		},
		{
			name: "current CPU kept when the annotation has no CPU status",
			in: &autoscalingv1.HorizontalPodAutoscaler{
				ObjectMeta: meta(map[string]string{convertHPACurrentMetricsAnnotation: `[{"type":"Pods","pods":{"metricName":"qps","currentAverageValue":"4"}}]`}),
				Spec:       autoscalingv1.HorizontalPodAutoscalerSpec{ScaleTargetRef: ref, MaxReplicas: 3, TargetCPUUtilizationPercentage: convertI32(50)},
				Status:     autoscalingv1.HorizontalPodAutoscalerStatus{CurrentCPUUtilizationPercentage: convertI32(7)},
			},
			want: &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: meta(nil),
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{ScaleTargetRef: v2ref, MaxReplicas: 3, Metrics: []autoscalingv2.MetricSpec{cpu(50)}},
				Status: autoscalingv2.HorizontalPodAutoscalerStatus{CurrentMetrics: []autoscalingv2.MetricStatus{
					{Type: autoscalingv2.PodsMetricSourceType, Pods: &autoscalingv2.PodsMetricStatus{
						Metric: autoscalingv2.MetricIdentifier{Name: "qps"}, Current: autoscalingv2.MetricValueStatus{AverageValue: convertQ("4")}}},
					convertResourceStatus(corev1.ResourceCPU, convertI32(7), nil),
				}}},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := tt.in.DeepCopy()
			got := convertHPAV1ToV2(in)
			if !apiequality.Semantic.DeepEqual(in, tt.in) {
				t.Fatal("the conversion changed its argument")
			}
			if !apiequality.Semantic.DeepEqual(got, tt.want) {
				t.Errorf("got\n%s\nwant\n%s", dump.Pretty(got), dump.Pretty(tt.want))
			}
		})
	}
}

// TestConvertHPARoundTrip converts v2 objects to v1, through JSON as a
// client sees them, and back; and v1 objects to v2 and back.
func TestConvertHPARoundTrip(t *testing.T) {
	viaJSON := func(t *testing.T, in *autoscalingv1.HorizontalPodAutoscaler) *autoscalingv1.HorizontalPodAutoscaler {
		t.Helper()
		data, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		out := &autoscalingv1.HorizontalPodAutoscaler{}
		if err := json.Unmarshal(data, out); err != nil {
			t.Fatal(err)
		}
		return out
	}
	v2s := []struct {
		name string
		obj  *autoscalingv2.HorizontalPodAutoscaler
	}{
		{"every metric source, behavior, conditions", convertHPAFull()},
		{"cpu and memory", func() *autoscalingv2.HorizontalPodAutoscaler {
			h := convertHPACPUAndMemory()
			h.Spec.Metrics[0], h.Spec.Metrics[1] = h.Spec.Metrics[1], h.Spec.Metrics[0] // CPU last
			return h
		}()},
		{"no status", &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "a"}, Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			MaxReplicas: 2, Metrics: []autoscalingv2.MetricSpec{convertResourceSpec(corev1.ResourceMemory, convertTarget(autoscalingv2.UtilizationMetricType, nil, nil, convertI32(70)))}}}},
	}
	for _, tt := range v2s {
		t.Run("v2 "+tt.name, func(t *testing.T) {
			v1 := viaJSON(t, convertHPAV2ToV1(tt.obj))
			if back := convertHPAV1ToV2(v1); !apiequality.Semantic.DeepEqual(back, tt.obj) {
				t.Errorf("v2 -> v1 -> v2 changed the object:\n%s\nwant\n%s", dump.Pretty(back), dump.Pretty(tt.obj))
			}
			// The v1 object the server hands out comes back as it was.
			if back := convertHPAV2ToV1(convertHPAV1ToV2(v1)); !apiequality.Semantic.DeepEqual(back, v1) {
				t.Errorf("v1 -> v2 -> v1 changed the object:\n%s\nwant\n%s", dump.Pretty(back), dump.Pretty(v1))
			}
		})
	}

	v1s := []struct {
		name string
		obj  *autoscalingv1.HorizontalPodAutoscaler
	}{
		{"cpu target and status", &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "a", Namespace: "n", UID: "u", ResourceVersion: "5", Generation: 3,
				Labels: map[string]string{"l": "v"}, Annotations: map[string]string{"note": "x"}, Finalizers: []string{"f"},
				ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "old-client", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "autoscaling/v1"}}},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "StatefulSet", Name: "db", APIVersion: "apps/v1"},
				MinReplicas:    convertI32(2), MaxReplicas: 9, TargetCPUUtilizationPercentage: convertI32(75),
			},
			Status: autoscalingv1.HorizontalPodAutoscalerStatus{
				ObservedGeneration: strategyPtr(int64(3)), LastScaleTime: &metav1.Time{Time: convertTime},
				CurrentReplicas: 4, DesiredReplicas: 5, CurrentCPUUtilizationPercentage: convertI32(90),
			},
		}},
		{"cpu target only", &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "b"},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 1, TargetCPUUtilizationPercentage: convertI32(10)}}},
	}
	for _, tt := range v1s {
		t.Run("v1 "+tt.name, func(t *testing.T) {
			if back := convertHPAV2ToV1(convertHPAV1ToV2(tt.obj)); !apiequality.Semantic.DeepEqual(back, tt.obj) {
				t.Errorf("v1 -> v2 -> v1 changed the object:\n%s\nwant\n%s", dump.Pretty(back), dump.Pretty(tt.obj))
			}
		})
	}
}

// TestConvertHPANoSharedMemory checks that results can be changed without
// changing what they were converted from.
func TestConvertHPANoSharedMemory(t *testing.T) {
	v2 := convertHPAFull()
	v1 := convertHPAV2ToV1(v2)
	*v1.Spec.MinReplicas = 99
	*v1.Spec.TargetCPUUtilizationPercentage = 99
	*v1.Status.CurrentCPUUtilizationPercentage = 99
	v1.Labels["app"] = "changed"
	v1.ManagedFields[0].Manager = "changed"
	v1.Status.LastScaleTime.Time = time.Time{}

	back := convertHPAV1ToV2(v1)
	if !apiequality.Semantic.DeepEqual(v2, convertHPAFull()) {
		t.Fatal("changing the v1 result changed the v2 object")
	}
	saved := v1.DeepCopy()
	*back.Spec.MinReplicas = 1
	back.Annotations["team"] = "changed"
	*back.Spec.Behavior.ScaleUp.StabilizationWindowSeconds = 7
	*back.Status.ObservedGeneration = 7
	if !apiequality.Semantic.DeepEqual(v1, saved) {
		t.Fatal("changing the v2 result changed the v1 object")
	}
}
