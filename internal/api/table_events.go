package api

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// Events of both core/v1 and events.k8s.io/v1 print like `kubectl get
// events`: LAST SEEN, TYPE, REASON, OBJECT, MESSAGE, with the rest wide.
// Unlike every other table, Name is the last (wide) column, as in Kubernetes.

// printEventColumns are Kubernetes' event columns; both event APIs share them.
func printEventColumns() []metav1.TableColumnDefinition {
	doc := corev1.Event{}.SwaggerDoc()
	return []metav1.TableColumnDefinition{
		printCol("Last Seen", "string", doc["lastTimestamp"]),
		printCol("Type", "string", doc["type"]),
		printCol("Reason", "string", doc["reason"]),
		printCol("Object", "string", doc["involvedObject"]),
		printWideCol("Subobject", "string", corev1.ObjectReference{}.SwaggerDoc()["fieldPath"]),
		printWideCol("Source", "string", doc["source"]),
		printCol("Message", "string", doc["message"]),
		printWideCol("First Seen", "string", doc["firstTimestamp"]),
		printWideCol("Count", "string", doc["count"]),
		{Name: "Name", Type: "string", Format: "name", Priority: 1, Description: printObjectMetaDocs["name"]},
	}
}

// printEventFields is what the event row is computed from: the core/v1
// field names, to which events.k8s.io/v1 events are converted first.
type printEventFields struct {
	name                               string
	eventType, reason, message         string
	involved                           corev1.ObjectReference
	source                             corev1.EventSource
	reportingController, reportingInst string
	firstTimestamp, lastTimestamp      metav1.Time
	eventTime                          metav1.MicroTime
	count                              int32
	hasSeries                          bool
	seriesCount                        int32
	seriesLastObserved                 metav1.MicroTime
}

func printCoreEventTable() *TableConvertor {
	return printTableFor(printEventColumns(), func(e *corev1.Event, now time.Time) []interface{} {
		f := printEventFields{
			name: e.Name, eventType: e.Type, reason: e.Reason, message: e.Message,
			involved: e.InvolvedObject, source: e.Source,
			reportingController: e.ReportingController, reportingInst: e.ReportingInstance,
			firstTimestamp: e.FirstTimestamp, lastTimestamp: e.LastTimestamp, eventTime: e.EventTime,
			count: e.Count,
		}
		if e.Series != nil {
			f.hasSeries, f.seriesCount, f.seriesLastObserved = true, e.Series.Count, e.Series.LastObservedTime
		}
		return printEventRow(f, now)
	})
}

func printEventsV1Table() *TableConvertor {
	return printTableFor(printEventColumns(), func(e *eventsv1.Event, now time.Time) []interface{} {
		f := printEventFields{
			name: e.Name, eventType: e.Type, reason: e.Reason, message: e.Note,
			involved: e.Regarding, source: e.DeprecatedSource,
			reportingController: e.ReportingController, reportingInst: e.ReportingInstance,
			firstTimestamp: e.DeprecatedFirstTimestamp, lastTimestamp: e.DeprecatedLastTimestamp, eventTime: e.EventTime,
			count: e.DeprecatedCount,
		}
		if e.Series != nil {
			f.hasSeries, f.seriesCount, f.seriesLastObserved = true, e.Series.Count, e.Series.LastObservedTime
		}
		return printEventRow(f, now)
	})
}

func printEventRow(e printEventFields, now time.Time) []interface{} {
	first := printAge(e.firstTimestamp, now)
	if e.firstTimestamp.IsZero() {
		first = printMicroAge(e.eventTime, now)
	}
	last := printAge(e.lastTimestamp, now)
	if e.lastTimestamp.IsZero() {
		last = first
	}
	count := e.count
	if e.hasSeries {
		last = printMicroAge(e.seriesLastObserved, now)
		count = e.seriesCount
	} else if count == 0 {
		// Singleton events of the new API have no count.
		count = 1
	}

	target := strings.ToLower(e.involved.Kind)
	if e.involved.Name != "" {
		target = fmt.Sprintf("%s/%s", target, e.involved.Name)
	}
	return []interface{}{
		last, e.eventType, e.reason, target, e.involved.FieldPath,
		printEventSource(e.source, e.reportingController, e.reportingInst),
		strings.TrimSpace(e.message), first, int64(count), e.name,
	}
}

// printEventSource renders "component, host", falling back to the reporting
// controller and instance; the host part is left out when empty.
func printEventSource(src corev1.EventSource, controller, instance string) string {
	component := src.Component
	if component == "" {
		component = controller
	}
	host := src.Host
	if host == "" {
		host = instance
	}
	if host == "" {
		return component
	}
	return component + ", " + host
}
