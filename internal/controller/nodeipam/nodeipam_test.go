package nodeipam

import (
	"context"
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/client-go/kubernetes/fake"
)

// TestRunRebuildsBeforeAllocating starts the controller over many nodes
// that already hold ranges and one that has none: the new node must get a
// free range whatever order the nodes are processed in.
func TestRunRebuildsBeforeAllocating(t *testing.T) {
	var objs []runtime.Object
	held := map[string]bool{}
	for i := range 20 {
		cidr := fmt.Sprintf("10.42.%d.0/24", i)
		held[cidr] = true
		objs = append(objs, &corev1.Node{
			ObjectMeta: metav1.ObjectMeta{Name: fmt.Sprintf("old-%02d", i)},
			Spec:       corev1.NodeSpec{PodCIDR: cidr, PodCIDRs: []string{cidr}},
		})
	}
	objs = append(objs, &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: "new"}})
	kube := fake.NewClientset(objs...)
	c, err := New(Config{ClusterCIDR: "10.42.0.0/16", MaskSize: 24, Workers: 1}, kube, nil, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- c.Run(ctx) }()
	defer func() { cancel(); <-done }()
	var got string
	err = wait.PollUntilContextTimeout(t.Context(), 10*time.Millisecond, 10*time.Second, true, func(ctx context.Context) (bool, error) {
		n, err := kube.CoreV1().Nodes().Get(ctx, "new", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		got = n.Spec.PodCIDR
		return got != "", nil
	})
	if err != nil {
		t.Fatalf("new node got no range: %v", err)
	}
	if held[got] {
		t.Fatalf("new node got %s, already held by another node", got)
	}
}
