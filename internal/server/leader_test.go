package server

import (
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/fake"

	"github.com/gantry-dev/gantry/internal/fixture"
)

// fastTimings keep the tests short; the protocol is the same.
var fastTimings = leaderTimings{lease: 6 * time.Second, renew: 3 * time.Second, retry: 100 * time.Millisecond}

// candidate runs runElected in the background and records its terms.
type candidate struct {
	cancel  context.CancelFunc
	done    chan struct{} // closed when runElected returned
	leading atomic.Bool
	terms   atomic.Int32
	release chan struct{} // a term's lead returns only once this is closed
	stopped atomic.Bool   // set by lead just before it returns
}

func campaign(t *testing.T, client kubernetes.Interface, identity string) *candidate {
	ctx, cancel := context.WithCancel(t.Context())
	c := &candidate{cancel: cancel, done: make(chan struct{}), release: make(chan struct{})}
	close(c.release)
	go func() {
		defer close(c.done)
		err := runElected(ctx, client, identity, fastTimings, slog.New(slog.DiscardHandler), func(lctx context.Context) {
			c.terms.Add(1)
			c.leading.Store(true)
			<-lctx.Done()
			c.leading.Store(false)
			<-c.release
			c.stopped.Store(true)
		})
		if err != nil {
			t.Errorf("runElected(%s): %v", identity, err)
		}
	}()
	t.Cleanup(func() { cancel(); <-c.done })
	return c
}

func holder(t *testing.T, client kubernetes.Interface) (string, time.Time) {
	l, err := client.CoordinationV1().Leases(leaderLeaseNamespace).Get(t.Context(), leaderLeaseName, metav1.GetOptions{})
	if err != nil || l.Spec.HolderIdentity == nil || l.Spec.RenewTime == nil {
		return "", time.Time{}
	}
	return *l.Spec.HolderIdentity, l.Spec.RenewTime.Time
}

func TestLeaderElection(t *testing.T) {
	client := fake.NewClientset()
	a := campaign(t, client, "a")
	fixture.Eventually(t, 10*time.Second, "a leads", a.leading.Load)

	b := campaign(t, client, "b")
	// While a renews, b does not lead: watch a renew its lease twice.
	_, first := holder(t, client)
	renewals := 0
	last := first
	fixture.Eventually(t, 10*time.Second, "a renews its lease twice", func() bool {
		h, at := holder(t, client)
		if h != "a" {
			t.Fatalf("lease holder %q while a leads", h)
		}
		if at.After(last) {
			renewals++
			last = at
		}
		return renewals >= 2
	})
	if b.terms.Load() != 0 {
		t.Fatal("b led while a held the lease")
	}

	// a stops: it releases the lease, and b takes over without waiting
	// for the lease to expire.
	a.cancel()
	<-a.done
	if !a.stopped.Load() {
		t.Fatal("runElected returned before its term's lead did")
	}
	fixture.Eventually(t, fastTimings.lease/2, "b leads after a released the lease", b.leading.Load)
}

func TestLeaderElectionSameIdentityRetakesItsLease(t *testing.T) {
	// A server that stopped without releasing (killed) left its lease
	// valid for 15 s; started again with the same identity, it leads at
	// once.
	now := metav1.NewMicroTime(time.Now())
	id, secs := "server_1", int32(15)
	client := fake.NewClientset(&coordinationv1.Lease{
		ObjectMeta: metav1.ObjectMeta{Namespace: leaderLeaseNamespace, Name: leaderLeaseName},
		Spec: coordinationv1.LeaseSpec{
			HolderIdentity: &id, LeaseDurationSeconds: &secs, AcquireTime: &now, RenewTime: &now,
		},
	})
	s := campaign(t, client, id)
	fixture.Eventually(t, 5*time.Second, "the restarted server leads within 5 s of its 15-s lease", s.leading.Load)
}

func TestServerIdentityIsKept(t *testing.T) {
	dir := t.TempDir()
	first, err := serverIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	second, err := serverIdentity(dir)
	if err != nil {
		t.Fatal(err)
	}
	host, _ := os.Hostname()
	if first != second || !strings.HasPrefix(first, host+"_") {
		t.Fatalf("identities %q and %q; want one, starting with %q", first, second, host+"_")
	}
	other, err := serverIdentity(filepath.Join(t.TempDir()))
	if err != nil || other == first {
		t.Fatalf("another data directory's identity %q (%v); want a different one", other, err)
	}
}
