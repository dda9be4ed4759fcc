package api

import (
	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
)

// events.k8s.io/v1 Events are stored as core/v1 Events. The two carry the
// same information under different names (Kubernetes'
// pkg/apis/events/v1/conversion.go), so both directions are lossless:
//
//	events.k8s.io/v1          core/v1
//	regarding                 involvedObject
//	note                      message
//	reportingController       reportingComponent
//	reportingInstance         reportingInstance
//	deprecatedSource          source
//	deprecatedFirstTimestamp  firstTimestamp
//	deprecatedLastTimestamp   lastTimestamp
//	deprecatedCount           count
//	eventTime, series, action, related, reason, type: same names
//
// As in Kubernetes, source is not derived from reportingController (the
// core field selector "source" and the core table fall back to it instead).

// convertEventsV1ToCore converts an events.k8s.io/v1 Event to core/v1.
func convertEventsV1ToCore(in *eventsv1.Event) *corev1.Event {
	in = in.DeepCopy()
	out := &corev1.Event{
		ObjectMeta:          in.ObjectMeta,
		InvolvedObject:      in.Regarding,
		Reason:              in.Reason,
		Message:             in.Note,
		Source:              in.DeprecatedSource,
		FirstTimestamp:      in.DeprecatedFirstTimestamp,
		LastTimestamp:       in.DeprecatedLastTimestamp,
		Count:               in.DeprecatedCount,
		Type:                in.Type,
		EventTime:           in.EventTime,
		Action:              in.Action,
		Related:             in.Related,
		ReportingController: in.ReportingController,
		ReportingInstance:   in.ReportingInstance,
	}
	if s := in.Series; s != nil {
		out.Series = &corev1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}

// convertCoreEventToEventsV1 converts a core/v1 Event to events.k8s.io/v1.
func convertCoreEventToEventsV1(in *corev1.Event) *eventsv1.Event {
	in = in.DeepCopy()
	out := &eventsv1.Event{
		ObjectMeta:               in.ObjectMeta,
		EventTime:                in.EventTime,
		ReportingController:      in.ReportingController,
		ReportingInstance:        in.ReportingInstance,
		Action:                   in.Action,
		Reason:                   in.Reason,
		Regarding:                in.InvolvedObject,
		Related:                  in.Related,
		Note:                     in.Message,
		Type:                     in.Type,
		DeprecatedSource:         in.Source,
		DeprecatedFirstTimestamp: in.FirstTimestamp,
		DeprecatedLastTimestamp:  in.LastTimestamp,
		DeprecatedCount:          in.Count,
	}
	if s := in.Series; s != nil {
		out.Series = &eventsv1.EventSeries{Count: s.Count, LastObservedTime: s.LastObservedTime}
	}
	return out
}
