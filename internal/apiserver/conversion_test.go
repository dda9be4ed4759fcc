package apiserver_test

import (
	"fmt"
	"testing"
	"time"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"
)

// Annotations in which autoscaling/v1 carries what it cannot express.
const (
	hpaMetricsAnnotation        = "autoscaling.alpha.kubernetes.io/metrics"
	hpaCurrentMetricsAnnotation = "autoscaling.alpha.kubernetes.io/current-metrics"
	hpaConditionsAnnotation     = "autoscaling.alpha.kubernetes.io/conditions"
)

// hpaV2 is an autoscaling/v2 HPA with a CPU utilization and a memory
// average value target.
func hpaV2(name string) *autoscalingv2.HorizontalPodAutoscaler {
	mem := resource.MustParse("200Mi")
	return &autoscalingv2.HorizontalPodAutoscaler{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: name},
			MinReplicas:    ptr.To[int32](2), MaxReplicas: 10,
			Metrics: []autoscalingv2.MetricSpec{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: ptr.To[int32](50)}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
					Name: corev1.ResourceMemory, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.AverageValueMetricType, AverageValue: &mem}}},
			},
		},
	}
}

// memoryTarget returns the memory average value target of h, or "".
func memoryTarget(h *autoscalingv2.HorizontalPodAutoscaler) string {
	for _, m := range h.Spec.Metrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceMemory && m.Resource.Target.AverageValue != nil {
			return m.Resource.Target.AverageValue.String()
		}
	}
	return ""
}

// cpuTarget returns the CPU utilization target of h, or 0.
func cpuTarget(h *autoscalingv2.HorizontalPodAutoscaler) int32 {
	for _, m := range h.Spec.Metrics {
		if m.Resource != nil && m.Resource.Name == corev1.ResourceCPU && m.Resource.Target.AverageUtilization != nil {
			return *m.Resource.Target.AverageUtilization
		}
	}
	return 0
}

func managers(m metav1.Object) map[string]string {
	out := map[string]string{}
	for _, e := range m.GetManagedFields() {
		out[e.Manager+"/"+string(e.Operation)] = e.APIVersion
	}
	return out
}

func TestSharedStorageHPA(t *testing.T) {
	c := startCluster(t)

	t.Run("created via v2, read and updated via v1", func(t *testing.T) {
		for _, client := range []struct {
			name string
			cs   kubernetes.Interface
		}{{"json", c.Client}, {"protobuf", c.Proto}} {
			t.Run(client.name, func(t *testing.T) {
				ns := c.namespace(t)
				v2c, v1c := client.cs.AutoscalingV2().HorizontalPodAutoscalers(ns), client.cs.AutoscalingV1().HorizontalPodAutoscalers(ns)
				created := must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Create(ctx(t), hpaV2("web"), metav1.CreateOptions{FieldManager: "creator"}))

				v1 := must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Get(ctx(t), "web", metav1.GetOptions{}))
				if v1.UID != created.UID || v1.ResourceVersion != created.ResourceVersion || v1.Generation != 1 || v1.CreationTimestamp != created.CreationTimestamp {
					t.Errorf("v1 metadata uid=%s rv=%s generation=%d, want the v2 object's uid=%s rv=%s generation=1", v1.UID, v1.ResourceVersion, v1.Generation, created.UID, created.ResourceVersion)
				}
				if got := ptr.Deref(v1.Spec.TargetCPUUtilizationPercentage, 0); got != 50 {
					t.Errorf("targetCPUUtilizationPercentage = %d, want 50", got)
				}
				if got, want := v1.Annotations[hpaMetricsAnnotation], `[{"type":"Resource","resource":{"name":"memory","targetAverageValue":"200Mi"}}]`; got != want {
					t.Errorf("metrics annotation = %s, want %s", got, want)
				}
				if got := managers(v1); got["creator/Update"] != "autoscaling/v2" {
					t.Errorf("v1 managed fields = %v, want creator's autoscaling/v2 entry", got)
				}

				v1.Spec.TargetCPUUtilizationPercentage = ptr.To[int32](70)
				v1.Spec.MaxReplicas = 8
				updated := must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Update(ctx(t), v1, metav1.UpdateOptions{FieldManager: "v1-client"}))
				if updated.Generation != 2 || ptr.Deref(updated.Spec.TargetCPUUtilizationPercentage, 0) != 70 || updated.Annotations[hpaMetricsAnnotation] == "" {
					t.Errorf("update response: generation %d, target %v, annotations %v", updated.Generation, updated.Spec.TargetCPUUtilizationPercentage, updated.Annotations)
				}

				got := must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Get(ctx(t), "web", metav1.GetOptions{}))
				if cpuTarget(got) != 70 || memoryTarget(got) != "200Mi" || got.Spec.MaxReplicas != 8 || len(got.Spec.Metrics) != 2 {
					t.Errorf("v2 after the v1 update: cpu %d, memory %q, maxReplicas %d, %d metrics", cpuTarget(got), memoryTarget(got), got.Spec.MaxReplicas, len(got.Spec.Metrics))
				}
				if got.ResourceVersion != updated.ResourceVersion || got.UID != created.UID || got.Generation != 2 {
					t.Errorf("v2 rv=%s uid=%s generation=%d, want rv=%s uid=%s generation=2", got.ResourceVersion, got.UID, got.Generation, updated.ResourceVersion, created.UID)
				}
				if _, ok := got.Annotations[hpaMetricsAnnotation]; ok {
					t.Errorf("v2 object carries the v1 round-trip annotation: %v", got.Annotations)
				}
				m := managers(got)
				if m["creator/Update"] != "autoscaling/v2" || m["v1-client/Update"] != "autoscaling/v1" {
					t.Errorf("managed fields after the v1 update = %v, want creator (autoscaling/v2) and v1-client (autoscaling/v1)", m)
				}
			})
		}
	})

	t.Run("status via v2 is visible via v1", func(t *testing.T) {
		ns := c.namespace(t)
		v2c, v1c := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns), c.Client.AutoscalingV1().HorizontalPodAutoscalers(ns)
		h := must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Create(ctx(t), hpaV2("web"), metav1.CreateOptions{}))
		avg, mem := resource.MustParse("120m"), resource.MustParse("150Mi")
		h.Status = autoscalingv2.HorizontalPodAutoscalerStatus{
			CurrentReplicas: 2, DesiredReplicas: 3,
			CurrentMetrics: []autoscalingv2.MetricStatus{
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceCPU, Current: autoscalingv2.MetricValueStatus{AverageUtilization: ptr.To[int32](40), AverageValue: &avg}}},
				{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricStatus{Name: corev1.ResourceMemory, Current: autoscalingv2.MetricValueStatus{AverageValue: &mem}}},
			},
			Conditions: []autoscalingv2.HorizontalPodAutoscalerCondition{{Type: autoscalingv2.AbleToScale, Status: corev1.ConditionTrue, Reason: "ReadyForNewScale", LastTransitionTime: metav1.Now().Rfc3339Copy()}},
		}
		must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.UpdateStatus(ctx(t), h, metav1.UpdateOptions{}))

		v1 := must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Get(ctx(t), "web", metav1.GetOptions{}))
		if ptr.Deref(v1.Status.CurrentCPUUtilizationPercentage, 0) != 40 || v1.Status.DesiredReplicas != 3 {
			t.Errorf("v1 status = %+v", v1.Status)
		}
		if want := `[{"type":"Resource","resource":{"name":"cpu","currentAverageUtilization":40,"currentAverageValue":"120m"}},{"type":"Resource","resource":{"name":"memory","currentAverageValue":"150Mi"}}]`; v1.Annotations[hpaCurrentMetricsAnnotation] != want {
			t.Errorf("current-metrics annotation = %s, want %s", v1.Annotations[hpaCurrentMetricsAnnotation], want)
		}
		if v1.Annotations[hpaConditionsAnnotation] == "" {
			t.Errorf("no conditions annotation: %v", v1.Annotations)
		}

		// A v1 spec update that keeps the annotations keeps the v2 status.
		v1.Spec.MaxReplicas = 12
		must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Update(ctx(t), v1, metav1.UpdateOptions{}))
		got := must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Get(ctx(t), "web", metav1.GetOptions{}))
		if len(got.Status.CurrentMetrics) != 2 || len(got.Status.Conditions) != 1 || got.Spec.MaxReplicas != 12 {
			t.Errorf("v2 after a v1 spec update: %d current metrics, %d conditions, maxReplicas %d", len(got.Status.CurrentMetrics), len(got.Status.Conditions), got.Spec.MaxReplicas)
		}
	})

	t.Run("created, patched and deleted via v1", func(t *testing.T) {
		ns := c.namespace(t)
		v2c, v1c := c.Client.AutoscalingV2().HorizontalPodAutoscalers(ns), c.Client.AutoscalingV1().HorizontalPodAutoscalers(ns)
		must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Create(ctx(t), &autoscalingv1.HorizontalPodAutoscaler{
			ObjectMeta: metav1.ObjectMeta{Name: "api"},
			Spec: autoscalingv1.HorizontalPodAutoscalerSpec{
				ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "api"},
				MaxReplicas:    3, TargetCPUUtilizationPercentage: ptr.To[int32](60),
			},
		}, metav1.CreateOptions{}))
		got := must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Get(ctx(t), "api", metav1.GetOptions{}))
		if cpuTarget(got) != 60 || len(got.Spec.Metrics) != 1 || ptr.Deref(got.Spec.MinReplicas, 0) != 1 {
			t.Errorf("v2 view of a v1 object: %+v", got.Spec)
		}

		patched := must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Patch(ctx(t), "api", types.MergePatchType,
			[]byte(`{"spec":{"targetCPUUtilizationPercentage":65}}`), metav1.PatchOptions{}))
		got = must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Get(ctx(t), "api", metav1.GetOptions{}))
		if cpuTarget(got) != 65 || got.ResourceVersion != patched.ResourceVersion {
			t.Errorf("v2 after a v1 patch: cpu %d rv %s, want 65 rv %s", cpuTarget(got), got.ResourceVersion, patched.ResourceVersion)
		}

		// Server-side apply through v2 of an object created through v1.
		applied := must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Patch(ctx(t), "api", types.ApplyYAMLPatchType,
			[]byte(`{"apiVersion":"autoscaling/v2","kind":"HorizontalPodAutoscaler","metadata":{"name":"api"},"spec":{"maxReplicas":7}}`),
			metav1.PatchOptions{FieldManager: "applier", Force: ptr.To(true)}))
		if applied.Spec.MaxReplicas != 7 || cpuTarget(applied) != 65 {
			t.Errorf("apply via v2: %+v", applied.Spec)
		}
		v1 := must[*autoscalingv1.HorizontalPodAutoscaler](t)(v1c.Get(ctx(t), "api", metav1.GetOptions{}))
		if v1.Spec.MaxReplicas != 7 || managers(v1)["applier/Apply"] != "autoscaling/v2" {
			t.Errorf("v1 after apply via v2: maxReplicas %d, managers %v", v1.Spec.MaxReplicas, managers(v1))
		}

		must[struct{}](t)(struct{}{}, v1c.Delete(ctx(t), "api", metav1.DeleteOptions{}))
		if _, err := v2c.Get(ctx(t), "api", metav1.GetOptions{}); !apierrors.IsNotFound(err) {
			t.Errorf("v2 get after the v1 delete: err = %v, want NotFound", err)
		}
	})

	t.Run("list and watch via v1 see objects written via v2", func(t *testing.T) {
		ns := c.namespace(t)
		v2c, v1c := c.Proto.AutoscalingV2().HorizontalPodAutoscalers(ns), c.Proto.AutoscalingV1().HorizontalPodAutoscalers(ns)
		must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Create(ctx(t), hpaV2("a"), metav1.CreateOptions{}))
		// Listed as v2 first, so the server's list item cache holds the
		// v2 encoding of the same stored value that v1 then lists.
		if l2 := must[*autoscalingv2.HorizontalPodAutoscalerList](t)(v2c.List(ctx(t), metav1.ListOptions{})); len(l2.Items) != 1 || l2.Items[0].Spec.MaxReplicas != 10 {
			t.Fatalf("v2 list = %+v", l2.Items)
		}
		list := must[*autoscalingv1.HorizontalPodAutoscalerList](t)(v1c.List(ctx(t), metav1.ListOptions{}))
		if len(list.Items) != 1 || list.Items[0].Name != "a" || ptr.Deref(list.Items[0].Spec.TargetCPUUtilizationPercentage, 0) != 50 {
			t.Fatalf("v1 list = %+v", list.Items)
		}

		w := must[watch.Interface](t)(v1c.Watch(ctx(t), metav1.ListOptions{ResourceVersion: list.ResourceVersion, LabelSelector: "tier=web"}))
		defer w.Stop()
		b := hpaV2("b")
		b.Labels = map[string]string{"tier": "web"}
		must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Create(ctx(t), b, metav1.CreateOptions{}))
		// "a" starts matching: ADDED, judged on its previous (converted) value.
		must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Patch(ctx(t), "a", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":"web"}}}`), metav1.PatchOptions{}))
		must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Patch(ctx(t), "b", types.MergePatchType, []byte(`{"spec":{"maxReplicas":4}}`), metav1.PatchOptions{}))
		must[*autoscalingv2.HorizontalPodAutoscaler](t)(v2c.Patch(ctx(t), "a", types.MergePatchType, []byte(`{"metadata":{"labels":{"tier":null}}}`), metav1.PatchOptions{}))
		must[struct{}](t)(struct{}{}, v2c.Delete(ctx(t), "b", metav1.DeleteOptions{}))
		want := []string{"ADDED b 10", "ADDED a 10", "MODIFIED b 4", "DELETED a 10", "DELETED b 4"}
		for i, wnt := range want {
			ev := nextNonBookmark(t, w)
			h, ok := ev.Object.(*autoscalingv1.HorizontalPodAutoscaler)
			if !ok {
				t.Fatalf("event %d: %s %T, want an autoscaling/v1 HPA", i, ev.Type, ev.Object)
			}
			if got := fmt.Sprintf("%s %s %d", ev.Type, h.Name, h.Spec.MaxReplicas); got != wnt {
				t.Fatalf("event %d = %s, want %s", i, got, wnt)
			}
			if ptr.Deref(h.Spec.TargetCPUUtilizationPercentage, 0) != 50 || h.Annotations[hpaMetricsAnnotation] == "" {
				t.Errorf("event %d object not converted: %+v %v", i, h.Spec, h.Annotations)
			}
		}
	})
}

// eventV1 is an events.k8s.io/v1 Event about pod.
func eventV1(name, pod string) *eventsv1.Event {
	return &eventsv1.Event{
		ObjectMeta:          metav1.ObjectMeta{Name: name},
		EventTime:           metav1.NewMicroTime(time.Now().Truncate(time.Microsecond)),
		ReportingController: "gantry.dev/agent", ReportingInstance: "agent-node-1",
		Action: "Pulling", Reason: "Pulled", Type: corev1.EventTypeNormal,
		Regarding: corev1.ObjectReference{Kind: "Pod", Name: pod, APIVersion: "v1", FieldPath: "spec.containers{app}"},
		Note:      "Successfully pulled image",
	}
}

func TestSharedStorageEvents(t *testing.T) {
	c := startCluster(t)

	t.Run("events.k8s.io event is a core event", func(t *testing.T) {
		ns := c.namespace(t)
		evc, core := c.Client.EventsV1().Events(ns), c.Client.CoreV1().Events(ns)
		e := eventV1("pulled", "web-1")
		e.Regarding.Namespace = ns
		created := must[*eventsv1.Event](t)(evc.Create(ctx(t), e, metav1.CreateOptions{FieldManager: "recorder"}))

		got := must[*corev1.Event](t)(core.Get(ctx(t), "pulled", metav1.GetOptions{}))
		if got.InvolvedObject != created.Regarding || got.Message != created.Note || got.Reason != "Pulled" || got.Type != corev1.EventTypeNormal ||
			got.ReportingController != "gantry.dev/agent" || got.ReportingInstance != "agent-node-1" || got.Action != "Pulling" ||
			!got.EventTime.Equal(&created.EventTime) {
			t.Errorf("core view = %+v", got)
		}
		if got.UID != created.UID || got.ResourceVersion != created.ResourceVersion {
			t.Errorf("core uid=%s rv=%s, want uid=%s rv=%s", got.UID, got.ResourceVersion, created.UID, created.ResourceVersion)
		}
		got.Labels = map[string]string{"seen": "yes"}
		got = must[*corev1.Event](t)(core.Update(ctx(t), got, metav1.UpdateOptions{FieldManager: "core-client"}))
		if m := managers(got); m["recorder/Update"] != "events.k8s.io/v1" || m["core-client/Update"] != "v1" {
			t.Errorf("managed fields after a core update = %v, want recorder (events.k8s.io/v1) and core-client (v1)", m)
		}

		// kubectl get events --field-selector involvedObject.name=web-1
		for _, sel := range []struct {
			selector string
			want     int
		}{
			{"involvedObject.name=web-1", 1}, {"involvedObject.name=web-2", 0},
			{"involvedObject.kind=Pod,reason=Pulled", 1}, {"reportingComponent=gantry.dev/agent", 1},
			{"source=gantry.dev/agent", 1}, {"type=Warning", 0},
		} {
			list := must[*corev1.EventList](t)(core.List(ctx(t), metav1.ListOptions{FieldSelector: sel.selector}))
			if len(list.Items) != sel.want {
				t.Errorf("core events with %s: %d, want %d", sel.selector, len(list.Items), sel.want)
			}
		}
		list := must[*eventsv1.EventList](t)(evc.List(ctx(t), metav1.ListOptions{FieldSelector: "regarding.name=web-1"}))
		if len(list.Items) != 1 || list.Items[0].Note != "Successfully pulled image" {
			t.Errorf("events.k8s.io list by regarding.name = %+v", list.Items)
		}
	})

	t.Run("core event is an events.k8s.io event", func(t *testing.T) {
		ns := c.namespace(t)
		evc, core := c.Proto.EventsV1().Events(ns), c.Proto.CoreV1().Events(ns)
		now := metav1.Now().Rfc3339Copy()
		must[*corev1.Event](t)(core.Create(ctx(t), &corev1.Event{
			ObjectMeta:     metav1.ObjectMeta{Name: "web.1"},
			InvolvedObject: corev1.ObjectReference{Kind: "Deployment", Namespace: ns, Name: "web"},
			Reason:         "ScalingReplicaSet", Message: "Scaled up replica set web-1 to 3", Type: corev1.EventTypeNormal,
			Source: corev1.EventSource{Component: "deployment-controller"}, FirstTimestamp: now, LastTimestamp: now, Count: 1,
		}, metav1.CreateOptions{}))
		got := must[*eventsv1.Event](t)(evc.Get(ctx(t), "web.1", metav1.GetOptions{}))
		if got.Regarding.Name != "web" || got.Note != "Scaled up replica set web-1 to 3" || got.DeprecatedSource.Component != "deployment-controller" ||
			got.DeprecatedCount != 1 || !got.DeprecatedFirstTimestamp.Equal(&now) {
			t.Errorf("events.k8s.io view = %+v", got)
		}
	})

	t.Run("core watch with a field selector sees events.k8s.io writes", func(t *testing.T) {
		ns := c.namespace(t)
		evc, core := c.Client.EventsV1().Events(ns), c.Client.CoreV1().Events(ns)
		w := must[watch.Interface](t)(core.Watch(ctx(t), metav1.ListOptions{FieldSelector: "involvedObject.name=web-1"}))
		defer w.Stop()
		for _, pod := range []string{"web-2", "web-1"} {
			e := eventV1("pulled-"+pod, pod)
			e.Regarding.Namespace = ns
			must[*eventsv1.Event](t)(evc.Create(ctx(t), e, metav1.CreateOptions{}))
		}
		e := must[*eventsv1.Event](t)(evc.Get(ctx(t), "pulled-web-1", metav1.GetOptions{}))
		e.Series = &eventsv1.EventSeries{Count: 2, LastObservedTime: metav1.NewMicroTime(time.Now().Truncate(time.Microsecond))}
		must[*eventsv1.Event](t)(evc.Update(ctx(t), e, metav1.UpdateOptions{}))
		for i, want := range []string{"ADDED pulled-web-1 0", "MODIFIED pulled-web-1 2"} {
			ev := nextNonBookmark(t, w)
			ce, ok := ev.Object.(*corev1.Event)
			if !ok {
				t.Fatalf("event %d: %s %T, want a core/v1 Event", i, ev.Type, ev.Object)
			}
			count := int32(0)
			if ce.Series != nil {
				count = ce.Series.Count
			}
			if got := fmt.Sprintf("%s %s %d", ev.Type, ce.Name, count); got != want || ce.InvolvedObject.Name != "web-1" {
				t.Fatalf("event %d = %s (involvedObject %s), want %s", i, got, ce.InvolvedObject.Name, want)
			}
		}
	})
}
