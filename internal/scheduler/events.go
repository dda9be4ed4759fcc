package scheduler

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
)

// eventSink writes core/v1 Events about pods in the background, so that
// scheduling never waits for them. When the buffer is full, events are
// dropped (and counted).
type eventSink struct {
	client    kubernetes.Interface
	component string
	metrics   *metrics
	ch        chan *corev1.Event
}

const (
	eventBuffer  = 4096
	eventWorkers = 4
)

func newEventSink(client kubernetes.Interface, component string, m *metrics) *eventSink {
	return &eventSink{client: client, component: component, metrics: m, ch: make(chan *corev1.Event, eventBuffer)}
}

// emit queues an event about pod.
func (e *eventSink) emit(pod *corev1.Pod, eventType, reason, msg string) {
	now := metav1.Now()
	ev := &corev1.Event{
		ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("%s.%x", pod.Name, now.UnixNano()), Namespace: pod.Namespace},
		InvolvedObject: corev1.ObjectReference{
			Kind: "Pod", APIVersion: "v1", Namespace: pod.Namespace, Name: pod.Name, UID: pod.UID, ResourceVersion: pod.ResourceVersion,
		},
		Reason: reason, Message: msg, Type: eventType,
		Source:         corev1.EventSource{Component: e.component},
		FirstTimestamp: now, LastTimestamp: now, Count: 1,
	}
	select {
	case e.ch <- ev:
	default:
		e.metrics.eventsDropped.Inc()
	}
}

// run writes queued events until ctx ends.
func (e *eventSink) run(ctx context.Context) {
	var wg sync.WaitGroup
	for range eventWorkers {
		wg.Go(func() {
			for {
				select {
				case <-ctx.Done():
					return
				case ev := <-e.ch:
					wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
					_, err := e.client.CoreV1().Events(ev.Namespace).Create(wctx, ev, metav1.CreateOptions{})
					cancel()
					if err != nil && !apierrors.IsAlreadyExists(err) {
						e.metrics.eventsDropped.Inc()
					}
				}
			}
		})
	}
	wg.Wait()
}
