package server

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

// TestSharedFactoryResync: a handler that asks the shared factory's
// informer for a resync period gets its resyncs (client-go ignores the
// period on an informer made without a default one), and cached objects
// carry no managed fields.
func TestSharedFactoryResync(t *testing.T) {
	client := fake.NewClientset(&corev1.Pod{ObjectMeta: metav1.ObjectMeta{
		Namespace: "default", Name: "p", ResourceVersion: "1",
		ManagedFields: []metav1.ManagedFieldsEntry{{Manager: "kubectl"}},
	}})
	factory := newSharedFactory(client)
	inf := factory.Core().V1().Pods().Informer()
	resynced := make(chan struct{}, 1)
	if _, err := inf.AddEventHandlerWithResyncPeriod(cache.ResourceEventHandlerFuncs{
		UpdateFunc: func(oldObj, newObj any) {
			// A resync hands the same object as old and new.
			if oldObj.(*corev1.Pod).ResourceVersion == newObj.(*corev1.Pod).ResourceVersion {
				select {
				case resynced <- struct{}{}:
				default:
				}
			}
		},
	}, time.Second); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	factory.Start(ctx.Done())
	defer factory.Shutdown() // after cancel: Shutdown waits for the informers to stop
	defer cancel()
	if !cache.WaitForCacheSync(ctx.Done(), inf.HasSynced) {
		t.Fatal("cache did not sync")
	}
	obj, ok, err := inf.GetIndexer().GetByKey("default/p")
	if err != nil || !ok {
		t.Fatalf("pod not cached: %v", err)
	}
	if mf := obj.(*corev1.Pod).ManagedFields; len(mf) != 0 {
		t.Errorf("cached pod has managed fields %v", mf)
	}
	select {
	case <-resynced:
	case <-time.After(30 * time.Second):
		t.Fatal("no resync within 30 s of a handler asking for one every second")
	}
}
