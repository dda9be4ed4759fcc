package replicaset

import (
	"context"
	"fmt"
	"log/slog"
	"testing"
	"time"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/informers"
	"k8s.io/client-go/kubernetes/fake"
	k8stesting "k8s.io/client-go/testing"
)

type tWriter struct{ t *testing.T }

func (w tWriter) Write(p []byte) (int, error) { w.t.Log(string(p)); return len(p), nil }

// TestReplicaFailureCondition: a pod create refused by the API (a quota)
// shows as ReplicaFailure/FailedCreate, and the condition goes once
// creates succeed again.
func TestReplicaFailureCondition(t *testing.T) {
	replicas := int32(3)
	labels := map[string]string{"app": "q"}
	rs := &appsv1.ReplicaSet{
		ObjectMeta: metav1.ObjectMeta{Name: "q", Namespace: "ns", UID: "rs-uid", Generation: 1},
		Spec: appsv1.ReplicaSetSpec{
			Replicas: &replicas,
			Selector: &metav1.LabelSelector{MatchLabels: labels},
			Template: corev1.PodTemplateSpec{
				ObjectMeta: metav1.ObjectMeta{Labels: labels},
				Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "c", Image: "img"}}},
			},
		},
	}
	kube := fake.NewClientset(rs)
	var refuse = true
	var mu = make(chan struct{}, 1)
	mu <- struct{}{}
	names := 0
	kube.PrependReactor("create", "pods", func(a k8stesting.Action) (bool, runtime.Object, error) {
		<-mu
		defer func() { mu <- struct{}{} }()
		if refuse {
			return true, nil, apierrors.NewForbidden(schema.GroupResource{Resource: "pods"}, "", errQuota{})
		}
		// The fake tracker does not implement generateName.
		p := a.(k8stesting.CreateAction).GetObject().(*corev1.Pod)
		names++
		p.Name = fmt.Sprintf("%s%d", p.GenerateName, names)
		return false, nil, nil
	})
	factory := informers.NewSharedInformerFactory(kube, 0)
	log := slog.New(slog.NewTextHandler(tWriter{t}, nil))
	c, err := New(Config{ExpectationsTimeout: time.Minute}, kube, factory, log)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	c.ctrl.Enqueue("ns/q")

	condition := func(ctx context.Context) (*appsv1.ReplicaSetCondition, int32, error) {
		got, err := kube.AppsV1().ReplicaSets("ns").Get(ctx, "q", metav1.GetOptions{})
		if err != nil {
			return nil, 0, err
		}
		return replicaFailure(got.Status.Conditions), got.Status.Replicas, nil
	}
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		cond, _, err := condition(ctx)
		return cond != nil, err
	})
	if err != nil {
		t.Fatalf("no ReplicaFailure condition: %v", err)
	}
	cond, _, _ := condition(t.Context())
	if cond.Status != corev1.ConditionTrue || cond.Reason != "FailedCreate" {
		t.Fatalf("condition = %+v, want True/FailedCreate", cond)
	}

	<-mu
	refuse = false
	mu <- struct{}{}
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 20*time.Second, true, func(ctx context.Context) (bool, error) {
		cond, n, err := condition(ctx)
		return cond == nil && n == replicas, err
	})
	if err != nil {
		cond, n, _ := condition(t.Context())
		t.Fatalf("after quota lifted: condition %+v, replicas %d: %v", cond, n, err)
	}
}

type errQuota struct{}

func (errQuota) Error() string { return "exceeded quota: pods" }
