package api

import (
	"errors"
	"reflect"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/dump"
)

func TestSharedStorageResources(t *testing.T) {
	reg := NewRegistry()
	want := map[schema.GroupVersionResource]schema.GroupVersionResource{
		gvr("autoscaling", "v1", "horizontalpodautoscalers"): gvr("autoscaling", "v2", "horizontalpodautoscalers"),
		gvr("events.k8s.io", "v1", "events"):                 gvr("", "v1", "events"),
	}
	got := map[schema.GroupVersionResource]schema.GroupVersionResource{}
	for _, r := range reg.All() {
		if r.StorageResource == nil {
			if r.ToStorage != nil || r.FromStorage != nil {
				t.Errorf("%v has conversion hooks but its own storage", r.GVR)
			}
			continue
		}
		got[r.GVR] = *r.StorageResource
		t.Run(r.GVR.String(), func(t *testing.T) {
			st := reg.Get(*r.StorageResource)
			switch {
			case st == nil:
				t.Fatalf("storage resource %v is not served", *r.StorageResource)
			case st.StorageResource != nil:
				t.Fatalf("storage resource %v is itself stored elsewhere", st.GVR)
			case r.ToStorage == nil || r.FromStorage == nil:
				t.Fatal("ToStorage or FromStorage is nil")
			case st.Kind != r.Kind || st.Namespaced != r.Namespaced || st.GVR.Resource != r.GVR.Resource:
				t.Fatalf("%v (%s) and its storage %v (%s) differ in kind, scope or name", r.GVR, r.Kind, st.GVR, st.Kind)
			}
			stored, err := r.ToStorage(r.New())
			if err != nil || reflect.TypeOf(stored) != reflect.TypeOf(st.New()) {
				t.Errorf("ToStorage(new) = %T, %v; want %T", stored, err, st.New())
			}
			served, err := r.FromStorage(st.New())
			if err != nil || reflect.TypeOf(served) != reflect.TypeOf(r.New()) {
				t.Errorf("FromStorage(new) = %T, %v; want %T", served, err, r.New())
			}
			if _, err := r.ToStorage(st.New()); !errors.Is(err, ErrWrongType) {
				t.Errorf("ToStorage(storage object) err = %v, want ErrWrongType", err)
			}
			if _, err := r.FromStorage(r.New()); !errors.Is(err, ErrWrongType) {
				t.Errorf("FromStorage(served object) err = %v, want ErrWrongType", err)
			}
		})
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("shared storage = %v, want %v", got, want)
	}
}

// convertTime is a fixed time with second precision (what JSON keeps of
// metav1.Time) and a MicroTime of the same instant with microseconds.
var convertTime = time.Date(2026, 11, 22, 3, 4, 5, 0, time.UTC)

func convertTestEvents() (*eventsv1.Event, *corev1.Event) {
	meta := metav1.ObjectMeta{
		Name: "web-1.18a", Namespace: "prod", UID: "e1", ResourceVersion: "42",
		Labels: map[string]string{"a": "b"}, CreationTimestamp: metav1.NewTime(convertTime),
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubelet", Operation: metav1.ManagedFieldsOperationUpdate, APIVersion: "events.k8s.io/v1"}},
	}
	regarding := corev1.ObjectReference{Kind: "Pod", Namespace: "prod", Name: "web-1", UID: "p1", APIVersion: "v1", ResourceVersion: "7", FieldPath: "spec.containers{web}"}
	related := &corev1.ObjectReference{Kind: "Node", Name: "n1"}
	source := corev1.EventSource{Component: "kubelet", Host: "n1"}
	eventTime := metav1.NewMicroTime(convertTime.Add(123456 * time.Microsecond))
	first, last := metav1.NewTime(convertTime), metav1.NewTime(convertTime.Add(time.Minute))
	observed := metav1.NewMicroTime(convertTime.Add(2 * time.Minute))
	ev := &eventsv1.Event{
		ObjectMeta: *meta.DeepCopy(), EventTime: eventTime,
		Series:              &eventsv1.EventSeries{Count: 3, LastObservedTime: observed},
		ReportingController: "gantry.dev/agent", ReportingInstance: "agent-n1",
		Action: "Pulling", Reason: "Pulled", Regarding: regarding, Related: related.DeepCopy(),
		Note: "Successfully pulled image", Type: corev1.EventTypeNormal,
		DeprecatedSource: source, DeprecatedFirstTimestamp: first, DeprecatedLastTimestamp: last, DeprecatedCount: 5,
	}
	core := &corev1.Event{
		ObjectMeta: *meta.DeepCopy(), InvolvedObject: regarding, Reason: "Pulled",
		Message: "Successfully pulled image", Source: source, FirstTimestamp: first, LastTimestamp: last, Count: 5,
		Type: corev1.EventTypeNormal, EventTime: eventTime,
		Series: &corev1.EventSeries{Count: 3, LastObservedTime: observed},
		Action: "Pulling", Related: related.DeepCopy(),
		ReportingController: "gantry.dev/agent", ReportingInstance: "agent-n1",
	}
	return ev, core
}

func TestConvertEvents(t *testing.T) {
	full, fullCore := convertTestEvents()
	tests := []struct {
		name string
		ev   *eventsv1.Event
		core *corev1.Event
	}{
		{"every field", full, fullCore},
		{"empty", &eventsv1.Event{}, &corev1.Event{}},
		{
			"a few fields",
			&eventsv1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}, Regarding: corev1.ObjectReference{Name: "p"}, Note: "m", DeprecatedCount: 2},
			&corev1.Event{ObjectMeta: metav1.ObjectMeta{Name: "x"}, InvolvedObject: corev1.ObjectReference{Name: "p"}, Message: "m", Count: 2},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			evIn, coreIn := tt.ev.DeepCopy(), tt.core.DeepCopy()
			core := convertEventsV1ToCore(evIn)
			if !apiequality.Semantic.DeepEqual(core, tt.core) {
				t.Errorf("to core:\n%s\nwant\n%s", dump.Pretty(core), dump.Pretty(tt.core))
			}
			ev := convertCoreEventToEventsV1(coreIn)
			if !apiequality.Semantic.DeepEqual(ev, tt.ev) {
				t.Errorf("to events.k8s.io:\n%s\nwant\n%s", dump.Pretty(ev), dump.Pretty(tt.ev))
			}
			if back := convertCoreEventToEventsV1(core); !reflect.DeepEqual(back, tt.ev) {
				t.Errorf("events.k8s.io -> core -> events.k8s.io lost something:\n%s", dump.Pretty(back))
			}
			if back := convertEventsV1ToCore(ev); !reflect.DeepEqual(back, tt.core) {
				t.Errorf("core -> events.k8s.io -> core lost something:\n%s", dump.Pretty(back))
			}
			// The results share no memory with the arguments.
			convertScribble(core, ev)
			if !reflect.DeepEqual(evIn, tt.ev) || !reflect.DeepEqual(coreIn, tt.core) {
				t.Error("changing a result changed the converted object")
			}
		})
	}
}

// convertScribble changes every reference field of the events it is given.
func convertScribble(core *corev1.Event, ev *eventsv1.Event) {
	for _, m := range []*metav1.ObjectMeta{&core.ObjectMeta, &ev.ObjectMeta} {
		if m.Labels != nil {
			m.Labels["a"] = "changed"
		}
		for i := range m.ManagedFields {
			m.ManagedFields[i].Manager = "changed"
		}
	}
	if core.Series != nil {
		core.Series.Count = 99
		ev.Series.Count = 99
	}
	if core.Related != nil {
		core.Related.Name = "changed"
		ev.Related.Name = "changed"
	}
}
