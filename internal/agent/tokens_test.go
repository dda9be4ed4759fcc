package agent

import (
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"reflect"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes/fake"
	listerscorev1 "k8s.io/client-go/listers/core/v1"
	k8stesting "k8s.io/client-go/testing"
	"k8s.io/client-go/tools/cache"
	clocktesting "k8s.io/utils/clock/testing"
	"k8s.io/utils/ptr"
)

// tokenServer plays the API server's serviceaccounts/token subresource
// for a fake clientset: it records each request and answers with a new
// token ("token-1", "token-2" …) valid for the requested lifetime from
// the test's clock, or with err when that is set.
type tokenServer struct {
	clock *clocktesting.FakePassiveClock

	mu       sync.Mutex
	err      error
	requests []tokenRequest
}

type tokenRequest struct {
	namespace, serviceAccount string
	spec                      authenticationv1.TokenRequestSpec
}

func (s *tokenServer) react(action k8stesting.Action) (bool, runtime.Object, error) {
	if action.GetSubresource() != "token" {
		return false, nil, nil
	}
	create := action.(k8stesting.CreateActionImpl)
	tr := create.GetObject().(*authenticationv1.TokenRequest)
	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests = append(s.requests, tokenRequest{create.GetNamespace(), create.Name, *tr.Spec.DeepCopy()})
	if s.err != nil {
		return true, nil, s.err
	}
	out := tr.DeepCopy()
	out.Status.Token = fmt.Sprintf("token-%d", len(s.requests))
	out.Status.ExpirationTimestamp = metav1.NewTime(s.clock.Now().Add(time.Duration(*tr.Spec.ExpirationSeconds) * time.Second))
	return true, out, nil
}

func (s *tokenServer) fail(err error) {
	s.mu.Lock()
	s.err = err
	s.mu.Unlock()
}

func (s *tokenServer) calls() []tokenRequest {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]tokenRequest(nil), s.requests...)
}

// newVolumeAgent returns an agent that can set up volumes: a fake
// clientset whose token requests srv answers, the kube-root-ca.crt
// ConfigMap of namespace "apps" in its cache, and srv's clock.
func newVolumeAgent(t *testing.T, srv *tokenServer) *Agent {
	t.Helper()
	client := fake.NewClientset()
	client.PrependReactor("create", "serviceaccounts", srv.react)
	log := slog.New(slog.NewTextHandler(testLog{t}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	dir := t.TempDir()
	t.Cleanup(func() {
		if err := UnmountUnder(dir); err != nil {
			t.Error(err)
		}
	})
	a := New(Config{NodeName: "node-a", StateDir: dir}, client, nil, log)
	a.tokens.now = srv.clock.Now
	cms := cache.NewIndexer(cache.MetaNamespaceKeyFunc, cache.Indexers{cache.NamespaceIndex: cache.MetaNamespaceIndexFunc})
	if err := cms.Add(&corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "kube-root-ca.crt", Namespace: "apps"}, Data: map[string]string{"ca.crt": "CA"}}); err != nil {
		t.Fatal(err)
	}
	a.configMaps = listerscorev1.NewConfigMapLister(cms)
	return a
}

type testLog struct{ t *testing.T }

func (w testLog) Write(p []byte) (int, error) {
	w.t.Log(string(p))
	return len(p), nil
}

// tokenPod is pod apps/web of account "builder" with the projected volume
// "api": a token at "token", the cluster CA and the namespace, as
// ServiceAccount admission mounts them.
func tokenPod(tp corev1.ServiceAccountTokenProjection, defaultMode *int32) *corev1.Pod {
	tp.Path = "token"
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "apps", UID: "uid-web"},
		Spec: corev1.PodSpec{
			ServiceAccountName: "builder",
			Volumes: []corev1.Volume{{Name: "api", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
				DefaultMode: defaultMode,
				Sources: []corev1.VolumeProjection{
					{ServiceAccountToken: &tp},
					{ConfigMap: &corev1.ConfigMapProjection{
						LocalObjectReference: corev1.LocalObjectReference{Name: "kube-root-ca.crt"},
						Items:                []corev1.KeyToPath{{Key: "ca.crt", Path: "ca.crt"}},
					}},
					{DownwardAPI: &corev1.DownwardAPIProjection{Items: []corev1.DownwardAPIVolumeFile{{
						Path: "namespace", FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.namespace"},
					}}}},
				},
			}}}},
		},
	}
}

// volumeFile reads a file of the pod's "api" volume on the node.
func volumeFile(t *testing.T, a *Agent, pod *corev1.Pod, name string) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(a.podDir(pod.UID), "volumes", "api", name))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestProjectedTokenFile(t *testing.T) {
	tests := []struct {
		name          string
		projection    corev1.ServiceAccountTokenProjection
		account       string
		defaultMode   *int32
		wantAudiences []string
		wantSeconds   int64
		wantMode      os.FileMode
	}{
		{
			name:          "audience, lifetime and mode given",
			projection:    corev1.ServiceAccountTokenProjection{Audience: "vault", ExpirationSeconds: ptr.To[int64](7200)},
			account:       "builder",
			defaultMode:   ptr.To[int32](0o640),
			wantAudiences: []string{"vault"},
			wantSeconds:   7200,
			wantMode:      0o640,
		},
		{
			name:        "defaults: the server's audience, an hour, 0644, the default account",
			wantSeconds: 3600,
			wantMode:    0o644,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := &tokenServer{clock: clocktesting.NewFakePassiveClock(time.Now())}
			a := newVolumeAgent(t, srv)
			pod := tokenPod(tt.projection, tt.defaultMode)
			pod.Spec.ServiceAccountName = tt.account
			if _, err := a.setupVolumes(t.Context(), pod); err != nil {
				t.Fatal(err)
			}
			if got := volumeFile(t, a, pod, "token"); got != "token-1" {
				t.Errorf("token file holds %q, want token-1", got)
			}
			st, err := os.Stat(filepath.Join(a.podDir(pod.UID), "volumes", "api", "token"))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != tt.wantMode {
				t.Errorf("token file mode %v, want %v", st.Mode().Perm(), tt.wantMode)
			}
			// The other sources' files are written with it.
			if got := volumeFile(t, a, pod, "ca.crt") + " " + volumeFile(t, a, pod, "namespace"); got != "CA apps" {
				t.Errorf("ca.crt and namespace files hold %q", got)
			}

			account := tt.account
			if account == "" {
				account = "default"
			}
			want := []tokenRequest{{namespace: "apps", serviceAccount: account, spec: authenticationv1.TokenRequestSpec{
				Audiences:         tt.wantAudiences,
				ExpirationSeconds: ptr.To(tt.wantSeconds),
				BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "web", UID: "uid-web"},
			}}}
			if got := srv.calls(); !reflect.DeepEqual(got, want) {
				t.Errorf("token requests\n%+v\nwant\n%+v", got, want)
			}

			// A second setup uses the cached token.
			if _, err := a.setupVolumes(t.Context(), pod); err != nil {
				t.Fatal(err)
			}
			if n := len(srv.calls()); n != 1 {
				t.Errorf("%d token requests after a second setup, want 1", n)
			}
		})
	}
}

func TestTokenRefreshTime(t *testing.T) {
	tests := []struct {
		name      string
		seconds   int64
		refreshIn time.Duration // after the token was obtained
	}{
		{"after 80% of its lifetime", 3600, 48 * time.Minute},
		{"at 24 h when that comes first", 3 * 24 * 3600, 24 * time.Hour},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			srv := &tokenServer{clock: clocktesting.NewFakePassiveClock(start)}
			a := newVolumeAgent(t, srv)
			pod := tokenPod(corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To(tt.seconds)}, nil)
			setup := func() {
				t.Helper()
				if _, err := a.setupVolumes(t.Context(), pod); err != nil {
					t.Fatal(err)
				}
			}
			setup()
			if at, ok := a.tokens.nextRefresh(pod.UID); !ok || !at.Equal(start.Add(tt.refreshIn)) {
				t.Fatalf("next refresh at %v (%v), want %v", at, ok, start.Add(tt.refreshIn))
			}

			srv.clock.SetTime(start.Add(tt.refreshIn - time.Second))
			setup()
			if got, n := volumeFile(t, a, pod, "token"), len(srv.calls()); got != "token-1" || n != 1 {
				t.Fatalf("just before the refresh time: file %q after %d requests, want token-1 after 1", got, n)
			}

			refreshed := start.Add(tt.refreshIn)
			srv.clock.SetTime(refreshed)
			setup()
			if got, n := volumeFile(t, a, pod, "token"), len(srv.calls()); got != "token-2" || n != 2 {
				t.Fatalf("at the refresh time: file %q after %d requests, want token-2 after 2", got, n)
			}
			if at, ok := a.tokens.nextRefresh(pod.UID); !ok || !at.Equal(refreshed.Add(tt.refreshIn)) {
				t.Errorf("next refresh at %v (%v), want %v", at, ok, refreshed.Add(tt.refreshIn))
			}
		})
	}
}

func TestTokenRequestFails(t *testing.T) {
	notFound := apierrors.NewNotFound(corev1.Resource("serviceaccounts"), "builder")

	t.Run("without a token the volume setup fails", func(t *testing.T) {
		srv := &tokenServer{clock: clocktesting.NewFakePassiveClock(time.Now())}
		srv.fail(notFound)
		a := newVolumeAgent(t, srv)
		pod := tokenPod(corev1.ServiceAccountTokenProjection{}, nil)
		_, err := a.setupVolumes(t.Context(), pod)
		want := `MountVolume.SetUp failed for volume "api" : failed to fetch token: serviceaccounts "builder" not found`
		if err == nil || err.Error() != want {
			t.Fatalf("error %v, want %s", err, want)
		}
		if !apierrors.IsNotFound(err) {
			t.Errorf("the server's error is not wrapped: %#v", err)
		}
		if _, err := os.Lstat(filepath.Join(a.podDir(pod.UID), "volumes", "api", "ca.crt")); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("files written although the token is missing: %v", err)
		}
	})

	t.Run("a valid token is kept until it expires", func(t *testing.T) {
		start := time.Now()
		srv := &tokenServer{clock: clocktesting.NewFakePassiveClock(start)}
		a := newVolumeAgent(t, srv)
		pod := tokenPod(corev1.ServiceAccountTokenProjection{ExpirationSeconds: ptr.To[int64](3600)}, nil)
		if _, err := a.setupVolumes(t.Context(), pod); err != nil {
			t.Fatal(err)
		}

		srv.fail(apierrors.NewServiceUnavailable("etcd is down"))
		due := start.Add(50 * time.Minute)
		srv.clock.SetTime(due)
		if _, err := a.setupVolumes(t.Context(), pod); err != nil {
			t.Fatalf("refresh failure with a valid token: %v", err)
		}
		if got := volumeFile(t, a, pod, "token"); got != "token-1" {
			t.Errorf("file %q, want the old token-1", got)
		}
		if at, ok := a.tokens.nextRefresh(pod.UID); !ok || !at.Equal(due.Add(tokenRetry)) {
			t.Errorf("next look at %v (%v), want the retry at %v", at, ok, due.Add(tokenRetry))
		}

		srv.clock.SetTime(start.Add(time.Hour))
		_, err := a.setupVolumes(t.Context(), pod)
		want := `MountVolume.SetUp failed for volume "api" : failed to fetch token: etcd is down`
		if err == nil || err.Error() != want || !apierrors.IsServiceUnavailable(err) {
			t.Fatalf("refresh failure with an expired token: error %v, want %s", err, want)
		}

		srv.fail(nil)
		if _, err := a.setupVolumes(t.Context(), pod); err != nil {
			t.Fatal(err)
		}
		if got := volumeFile(t, a, pod, "token"); got != "token-4" {
			t.Errorf("file %q once the server answers again, want token-4", got)
		}
	})
}

func TestTokensDropped(t *testing.T) {
	srv := &tokenServer{clock: clocktesting.NewFakePassiveClock(time.Now())}
	a := newVolumeAgent(t, srv)
	web := tokenPod(corev1.ServiceAccountTokenProjection{}, nil)
	db := tokenPod(corev1.ServiceAccountTokenProjection{}, nil)
	db.Name, db.UID = "db", "uid-db"
	for _, p := range []*corev1.Pod{web, db} {
		if _, err := a.setupVolumes(t.Context(), p); err != nil {
			t.Fatal(err)
		}
	}

	a.tokens.forgetPod(web.UID)
	if _, ok := a.tokens.nextRefresh(web.UID); ok {
		t.Error("forgetPod kept the pod's token")
	}
	if _, ok := a.tokens.nextRefresh(db.UID); !ok {
		t.Error("forgetPod dropped another pod's token")
	}

	a.tokens.prune(func(ns, name string, uid types.UID) bool { return name != "db" })
	if _, ok := a.tokens.nextRefresh(db.UID); ok {
		t.Error("prune kept the token of a pod no longer bound")
	}
	// A pod whose tokens were dropped gets a new one.
	if _, err := a.setupVolumes(t.Context(), web); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.calls()); n != 3 {
		t.Errorf("%d token requests, want 3", n)
	}
}
