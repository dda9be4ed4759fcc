package serviceaccount

import (
	"context"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func TestReconcile(t *testing.T) {
	now := metav1.NewTime(time.Now())
	tests := []struct {
		name     string
		ns       *corev1.Namespace
		existing bool
		want     bool // a default account exists afterwards
	}{
		{"active namespace gets one", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, false, true},
		{"existing one is kept", &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: "a"}}, true, true},
		{"terminating namespace gets none", &corev1.Namespace{
			ObjectMeta: metav1.ObjectMeta{Name: "a", DeletionTimestamp: &now},
			Status:     corev1.NamespaceStatus{Phase: corev1.NamespaceTerminating},
		}, false, false},
		{"missing namespace gets none", nil, false, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var objs []runtime.Object
			if tt.ns != nil {
				objs = append(objs, tt.ns)
			}
			if tt.existing {
				objs = append(objs, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: DefaultName, Namespace: "a"}})
			}
			kube := fake.NewClientset(objs...)
			c, err := New(DefaultConfig(), kube, nil, nil)
			if err != nil {
				t.Fatal(err)
			}
			ctx, cancel := context.WithCancel(t.Context())
			c.factory.Start(ctx.Done())
			defer c.factory.Shutdown() // after cancel: Shutdown waits for the informers
			defer cancel()
			if !cache.WaitForCacheSync(ctx.Done(), c.synced...) {
				t.Fatal("caches not synced")
			}
			if _, err := c.Reconcile(t.Context(), "a"); err != nil {
				t.Fatal(err)
			}
			list, err := kube.CoreV1().ServiceAccounts("a").List(t.Context(), metav1.ListOptions{})
			if err != nil {
				t.Fatal(err)
			}
			if got := len(list.Items) == 1; got != tt.want {
				t.Fatalf("default account exists = %v (%d accounts), want %v", got, len(list.Items), tt.want)
			}
		})
	}
}
