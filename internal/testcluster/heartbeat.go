package testcluster

import (
	"context"
	"sync"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// HeartbeatInterval is how often Heartbeat renews a node's Lease.
const HeartbeatInterval = time.Second

// Heartbeat creates and renews the Lease of the node named node (in
// kube-node-lease) every HeartbeatInterval, as an agent does, so that the
// node lifecycle controller keeps a node without a real agent healthy. It
// returns a function that stops the heartbeat (a node "dies"); the heartbeat
// also stops when the test ends.
func (c *Cluster) Heartbeat(t testing.TB, node string) (stop func()) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	leases := c.Client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	renew := func() {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, node, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			seconds := int32(4 * HeartbeatInterval / time.Second)
			_, _ = leases.Create(ctx, &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: node},
				Spec:       coordinationv1.LeaseSpec{HolderIdentity: &node, LeaseDurationSeconds: &seconds, RenewTime: &now},
			}, metav1.CreateOptions{})
			return
		}
		if err != nil {
			return
		}
		l.Spec.RenewTime = &now
		_, _ = leases.Update(ctx, l, metav1.UpdateOptions{})
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(HeartbeatInterval)
		defer tick.Stop()
		for {
			renew()
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	})
	var once sync.Once
	stop = func() { once.Do(func() { cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	return stop
}
