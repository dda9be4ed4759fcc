package apiserver_test

// Tier-2 tests of the API server: a real control plane in the test process
// (testcluster: embedded etcd, the API server over TLS) driven with
// client-go. Each top-level test starts its own cluster (about a second)
// and its subtests share it, each in its own namespace.

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/watch"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/testcluster"
)

// waitTimeout bounds every poll and every wait for a watch event.
const waitTimeout = 20 * time.Second

// cluster is a running control plane with its admin clients.
type cluster struct {
	*testcluster.Cluster
	// Proto is a clientset speaking protobuf.
	Proto kubernetes.Interface
}

// startCluster starts an API server without controllers, so that nothing
// but the test changes objects.
func startCluster(t *testing.T) *cluster {
	t.Helper()
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	return &cluster{Cluster: c, Proto: protoClient(t, c.Config)}
}

func protoClient(t *testing.T, cfg *rest.Config) kubernetes.Interface {
	t.Helper()
	cfg = rest.CopyConfig(cfg)
	cfg.ContentType = "application/vnd.kubernetes.protobuf"
	cfg.AcceptContentTypes = "application/vnd.kubernetes.protobuf"
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return cs
}

// namespace creates a namespace named after the running (sub)test.
func (c *cluster) namespace(t *testing.T) string {
	t.Helper()
	name := dnsName(t.Name())
	_, err := c.Client.CoreV1().Namespaces().Create(ctx(t), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
	if err != nil {
		t.Fatalf("create namespace %s: %v", name, err)
	}
	return name
}

var (
	nameMu   sync.Mutex
	nameSeen = map[string]int{}
)

// dnsName turns a test name into a unique DNS label.
func dnsName(s string) string {
	s = strings.ToLower(s)
	var b strings.Builder
	for _, r := range s {
		switch {
		case r >= 'a' && r <= 'z', r >= '0' && r <= '9':
			b.WriteRune(r)
		default:
			b.WriteByte('-')
		}
	}
	out := strings.Trim(b.String(), "-")
	for strings.Contains(out, "--") {
		out = strings.ReplaceAll(out, "--", "-")
	}
	if len(out) > 50 {
		out = strings.Trim(out[len(out)-50:], "-")
	}
	nameMu.Lock()
	defer nameMu.Unlock()
	nameSeen[out]++
	if n := nameSeen[out]; n > 1 {
		out = fmt.Sprintf("%s-%d", out, n)
	}
	return out
}

// ctx returns a context bounded by waitTimeout that ends with the test.
func ctx(t *testing.T) context.Context {
	c, cancel := context.WithTimeout(t.Context(), 2*waitTimeout)
	t.Cleanup(cancel)
	return c
}

// must fails the test on err and returns v.
func must[T any](t *testing.T) func(v T, err error) T {
	return func(v T, err error) T {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
}

// eventually polls cond until it reports true or the deadline passes.
func eventually(t *testing.T, what string, cond func() (bool, error)) {
	t.Helper()
	deadline := time.Now().Add(waitTimeout)
	var lastErr error
	for {
		ok, err := cond()
		if ok {
			return
		}
		lastErr = err
		if time.Now().After(deadline) {
			t.Fatalf("%s: not true after %v (last error: %v)", what, waitTimeout, lastErr)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// wantAPIError checks that err is a Kubernetes API error with the given
// HTTP code and reason whose message contains every one of msgs.
func wantAPIError(t *testing.T, err error, code int32, reason metav1.StatusReason, msgs ...string) {
	t.Helper()
	if err == nil {
		t.Fatalf("err = nil, want %d %s", code, reason)
	}
	var se apierrors.APIStatus
	if !errors.As(err, &se) {
		t.Fatalf("err = %v (%T), want an API status error %d %s", err, err, code, reason)
	}
	st := se.Status()
	if st.Code != code || (reason != "" && st.Reason != reason) {
		t.Fatalf("err = %d %s %q, want %d %s", st.Code, st.Reason, st.Message, code, reason)
	}
	for _, m := range msgs {
		if !strings.Contains(st.Message, m) {
			t.Fatalf("error message %q does not contain %q", st.Message, m)
		}
	}
}

// nextEvent returns the next watch event, failing after waitTimeout.
func nextEvent(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	select {
	case ev, ok := <-w.ResultChan():
		if !ok {
			t.Fatal("watch closed, want an event")
		}
		return ev
	case <-time.After(waitTimeout):
		t.Fatalf("no watch event within %v", waitTimeout)
	}
	return watch.Event{}
}

// nextNonBookmark skips bookmarks.
func nextNonBookmark(t *testing.T, w watch.Interface) watch.Event {
	t.Helper()
	for {
		if ev := nextEvent(t, w); ev.Type != watch.Bookmark {
			return ev
		}
	}
}

func labelsOf(kv ...string) map[string]string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}
