package agent_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/kubernetes/scheme"
	"k8s.io/client-go/rest"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// apiTokenPath is where ServiceAccount admission mounts the pod's token.
const apiTokenPath = "/var/run/secrets/kubernetes.io/serviceaccount/token"

// fileReader is a fake program that keeps reading files and remembers
// what each held last.
type fileReader struct {
	files sync.Map // path → string
}

func (r *fileReader) program(paths ...string) fake.Program {
	return func(ctx context.Context, p *fake.Process) int {
		for {
			for _, path := range paths {
				if b, err := p.ReadFile(path); err == nil {
					r.files.Store(path, string(b))
				}
			}
			select {
			case <-ctx.Done():
				return 0
			case <-p.Signals():
				return 0
			case <-time.After(20 * time.Millisecond):
			}
		}
	}
}

func (r *fileReader) read(path string) string {
	v, _ := r.files.Load(path)
	s, _ := v.(string)
	return s
}

// tokenClaims decodes the claims of a JWT without verifying it.
func tokenClaims(t *testing.T, token string) (aud []string, podUID string) {
	t.Helper()
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		t.Fatalf("token %q is not a JWT", token)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var c struct {
		Aud        []string `json:"aud"`
		Kubernetes struct {
			Pod struct {
				UID string `json:"uid"`
			} `json:"pod"`
		} `json:"kubernetes.io"`
	}
	if err := json.Unmarshal(b, &c); err != nil {
		t.Fatalf("claims %s: %v", b, err)
	}
	return c.Aud, c.Kubernetes.Pod.UID
}

// authenticates reports whether the API server accepts token.
func (e *env) authenticates(t *testing.T, token string) bool {
	t.Helper()
	cfg := rest.AnonymousClientConfig(e.c.Config)
	cfg.BearerToken = token
	cs, err := kubernetes.NewForConfig(cfg)
	if err != nil {
		t.Fatal(err)
	}
	_, err = cs.CoreV1().Namespaces().Get(t.Context(), e.ns, metav1.GetOptions{})
	return !apierrors.IsUnauthorized(err)
}

// TestServiceAccountTokenVolume runs on the API server's own
// serviceaccounts/token (internal/apiserver/tokenrequest.go).
func TestServiceAccountTokenVolume(t *testing.T) {
	e := newEnv(t)
	ctx := t.Context()
	rt := e.agent.Runtime
	var reader fileReader
	rt.AddImage("tokens:1", fake.Image{Program: reader.program(apiTokenPath, "/var/run/secrets/vault/token")})

	t.Run("projected tokens are the pod's, for their audience", func(t *testing.T) {
		if _, err := e.cs.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "builder"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		c := ctr("app", "tokens:1")
		c.VolumeMounts = []corev1.VolumeMount{{Name: "vault", MountPath: "/var/run/secrets/vault"}}
		p := pod("tokens", c)
		p.Spec.ServiceAccountName = "builder"
		p.Spec.Volumes = []corev1.Volume{{Name: "vault", VolumeSource: corev1.VolumeSource{Projected: &corev1.ProjectedVolumeSource{
			Sources: []corev1.VolumeProjection{{ServiceAccountToken: &corev1.ServiceAccountTokenProjection{
				Audience: "vault", ExpirationSeconds: ptr.To[int64](600), Path: "token",
			}}},
		}}}}
		created := e.createPod(t, p)
		e.waitPod(t, "tokens", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		poll(t, 10*time.Second, "both tokens read in the container", func() bool {
			return reader.read(apiTokenPath) != "" && reader.read("/var/run/secrets/vault/token") != ""
		})
		api, vault := reader.read(apiTokenPath), reader.read("/var/run/secrets/vault/token")

		aud, uid := tokenClaims(t, vault)
		if !reflect.DeepEqual(aud, []string{"vault"}) || uid != string(created.UID) {
			t.Errorf("vault token for %v bound to pod %q, want [vault] and %q", aud, uid, created.UID)
		}
		if !e.authenticates(t, api) {
			t.Error("the API server refuses the pod's own token")
		}
		if e.authenticates(t, vault) {
			t.Error("the API server accepts a token for audience vault")
		}
		if e.authenticates(t, "not-a-token") {
			t.Fatal("the API server accepts any bearer token: the checks above prove nothing")
		}

		// The tokens are bound to the pod: they end with it.
		if err := e.cs.CoreV1().Pods(e.ns).Delete(ctx, "tokens", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "pod object removed", func() bool {
			_, err := e.cs.CoreV1().Pods(e.ns).Get(ctx, "tokens", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		if e.authenticates(t, api) {
			t.Error("the API server accepts the token of a deleted pod")
		}
	})

	t.Run("a failed token request is a FailedMount until it succeeds", func(t *testing.T) {
		// The account exists when the pod is created (ServiceAccount
		// admission requires it) and is gone when a node first syncs it.
		sa, err := e.cs.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{})
		if err != nil {
			t.Fatal(err)
		}
		p := pod("doomed", ctr("app", "tokens:1"))
		p.Namespace = e.ns
		p.Spec.ServiceAccountName = sa.Name
		p.Spec.NodeName = "node-late"
		if _, err := e.cs.CoreV1().Pods(e.ns).Create(ctx, p, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		if err := e.cs.CoreV1().ServiceAccounts(e.ns).Delete(ctx, sa.Name, metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		late := e.c.AddAgent(t, "node-late", nil)
		late.Runtime.AddImage("tokens:1", fake.Image{Program: (&fileReader{}).program(apiTokenPath)})

		want := `failed to fetch token: serviceaccounts "doomed" not found`
		var event corev1.Event
		poll(t, 30*time.Second, "a FailedMount event", func() bool {
			list, err := e.cs.CoreV1().Events(e.ns).List(ctx, metav1.ListOptions{FieldSelector: "involvedObject.name=doomed"})
			if err != nil {
				return false
			}
			for _, ev := range list.Items {
				if ev.Reason == "FailedMount" {
					event = ev
					return true
				}
			}
			return false
		})
		if event.Type != corev1.EventTypeWarning || !strings.Contains(event.Message, want) {
			t.Errorf("event %s %q, want a Warning with %q", event.Type, event.Message, want)
		}
		got := e.waitPod(t, "doomed", "reported by node-late", func(p *corev1.Pod) bool { return len(p.Status.ContainerStatuses) == 1 })
		if w := got.Status.ContainerStatuses[0].State.Waiting; w == nil || w.Reason != "ContainerCreating" || got.Status.Phase != corev1.PodPending {
			t.Errorf("phase %s, container state %+v; want Pending and ContainerCreating", got.Status.Phase, got.Status.ContainerStatuses[0].State)
		}

		if _, err := e.cs.CoreV1().ServiceAccounts(e.ns).Create(ctx, &corev1.ServiceAccount{ObjectMeta: metav1.ObjectMeta{Name: "doomed"}}, metav1.CreateOptions{}); err != nil {
			t.Fatal(err)
		}
		e.waitPod(t, "doomed", "Running once the account exists again", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	})
}

// shortTokens stands in for the API server's serviceaccounts/token in
// front of one agent: it issues tokens ("short-1", "short-2" …) that live
// only lifetime, as a server may shorten what is asked, so that refreshes
// happen within a test. Every other request goes to the real server.
type shortTokens struct {
	next     http.RoundTripper
	lifetime time.Duration

	mu     sync.Mutex
	issued []issuedToken
}

type issuedToken struct {
	path    string
	spec    authenticationv1.TokenRequestSpec
	at, exp time.Time
}

func (s *shortTokens) RoundTrip(r *http.Request) (*http.Response, error) {
	if r.Method != http.MethodPost || !strings.Contains(r.URL.Path, "/serviceaccounts/") || !strings.HasSuffix(r.URL.Path, "/token") {
		return s.next.RoundTrip(r)
	}
	body, err := io.ReadAll(r.Body)
	if err != nil {
		return nil, err
	}
	tr := &authenticationv1.TokenRequest{}
	gvk := authenticationv1.SchemeGroupVersion.WithKind("TokenRequest")
	if _, _, err := scheme.Codecs.UniversalDeserializer().Decode(body, &gvk, tr); err != nil {
		return nil, err
	}
	now := time.Now()
	// The wire format keeps whole seconds.
	exp := now.Add(s.lifetime).Truncate(time.Second)
	s.mu.Lock()
	s.issued = append(s.issued, issuedToken{path: r.URL.Path, spec: *tr.Spec.DeepCopy(), at: now, exp: exp})
	n := len(s.issued)
	s.mu.Unlock()
	tr.APIVersion, tr.Kind = gvk.GroupVersion().String(), gvk.Kind
	tr.Status = authenticationv1.TokenRequestStatus{Token: fmt.Sprintf("short-%d", n), ExpirationTimestamp: metav1.NewTime(exp)}
	out, err := json.Marshal(tr)
	if err != nil {
		return nil, err
	}
	return &http.Response{
		StatusCode: http.StatusCreated, Status: "201 Created", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": []string{"application/json"}},
		Body:          io.NopCloser(bytes.NewReader(out)),
		ContentLength: int64(len(out)),
		Request:       r,
	}, nil
}

func (s *shortTokens) tokens() []issuedToken {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]issuedToken(nil), s.issued...)
}

// A token is replaced in the running container after 80% of its lifetime
// with nothing else about the pod changing: the pod is looked at again by
// its token's refresh time.
func TestServiceAccountTokenRefresh(t *testing.T) {
	c := testcluster.Start(t)
	issuer := &shortTokens{lifetime: 3 * time.Second}
	agentCluster := *c
	agentCluster.Config = rest.CopyConfig(c.Config)
	agentCluster.Config.Wrap(func(rt http.RoundTripper) http.RoundTripper {
		issuer.next = rt
		return issuer
	})
	a := agentCluster.AddAgent(t, "node-tok", nil)
	e := &env{c: c, agent: a, cs: c.Client, ns: "default"}
	e.waitNode(t)
	var reader fileReader
	a.Runtime.AddImage("tokens:1", fake.Image{Program: reader.program(apiTokenPath)})
	created := e.createPod(t, pod("refreshed", ctr("app", "tokens:1")))

	poll(t, 30*time.Second, "the first token read in the container", func() bool { return reader.read(apiTokenPath) == "short-1" })
	poll(t, 10*time.Second, "the refreshed token read in the container", func() bool { return reader.read(apiTokenPath) == "short-2" })

	issued := issuer.tokens()
	first, second := issued[0], issued[1]
	if earliest := first.at.Add(first.exp.Sub(first.at) * 8 / 10); second.at.Before(earliest) {
		t.Errorf("refreshed at %v, before 80%% of the token's lifetime (%v)", second.at.Sub(first.at), earliest.Sub(first.at))
	}
	wantSpec := authenticationv1.TokenRequestSpec{
		ExpirationSeconds: ptr.To[int64](3607), // what ServiceAccount admission asks for
		BoundObjectRef:    &authenticationv1.BoundObjectReference{Kind: "Pod", APIVersion: "v1", Name: "refreshed", UID: created.UID},
	}
	for _, tok := range issued[:2] {
		if tok.path != "/api/v1/namespaces/default/serviceaccounts/default/token" || !reflect.DeepEqual(tok.spec, wantSpec) {
			t.Errorf("token request to %s with %+v, want the default account's with %+v", tok.path, tok.spec, wantSpec)
		}
	}
	p := e.waitPod(t, "refreshed", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	if n := p.Status.ContainerStatuses[0].RestartCount; n != 0 {
		t.Errorf("container restarted %d times for a token refresh", n)
	}
}
