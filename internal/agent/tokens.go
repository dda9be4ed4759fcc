package agent

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/kubernetes"
)

// Token lifetimes, as the kubelet's token manager
// (pkg/kubelet/token/token_manager.go) keeps them.
const (
	// defaultTokenSeconds is the lifetime asked for when a projection
	// names none (what Kubernetes' defaulting sets).
	defaultTokenSeconds = 60 * 60
	// tokenMaxAge is the age after which a token is refreshed whatever
	// its lifetime.
	tokenMaxAge = 24 * time.Hour
	// tokenRetry is how long a pod waits to ask again after a refresh
	// failed while its token is still valid.
	tokenRetry = 10 * time.Second
)

// tokenManager obtains the service account tokens of projected volumes
// through the TokenRequest API and caches them per pod, as the kubelet's
// token manager does. A token is reused until 80% of its lifetime (from
// when it was obtained to its expiration) has passed or it is 24 h old;
// then the next volume setup of its pod asks for a new one. If that fails
// while the old token is still valid, the old one is kept and the request
// is tried again after tokenRetry.
//
// Tokens are bound to their pod, so each pod has its own; nextRefresh
// tells the pod's sync when to look again, and forgetPod drops them when
// the pod leaves the node. Safe for concurrent use; requests are made
// without the lock held (the work queue never syncs one pod twice at once).
type tokenManager struct {
	client kubernetes.Interface
	log    *slog.Logger
	now    func() time.Time

	mu     sync.Mutex
	tokens map[tokenKey]*podToken
}

// tokenKey is what a token is cached by: its pod, account, audience and
// requested lifetime.
type tokenKey struct {
	podUID            types.UID
	serviceAccount    string
	audience          string
	expirationSeconds int64
}

// podToken is one cached token.
type podToken struct {
	namespace, pod string // whose it is, to drop tokens of pods gone
	token          string
	obtained       time.Time
	expires        time.Time
	// retryAt, after a failed refresh, is when to ask again.
	retryAt time.Time
}

// refreshAt is when the token should be replaced: after 80% of its
// lifetime, or at 24 h of age, whichever comes first.
func (t *podToken) refreshAt() time.Time {
	at := t.obtained.Add(t.expires.Sub(t.obtained) * 8 / 10)
	if limit := t.obtained.Add(tokenMaxAge); limit.Before(at) {
		at = limit
	}
	return at
}

func newTokenManager(client kubernetes.Interface, log *slog.Logger) *tokenManager {
	return &tokenManager{client: client, log: log, now: time.Now, tokens: map[tokenKey]*podToken{}}
}

// token returns a token of pod's service account for the projection p:
// the cached one while it is fresh, else a new one from the API server.
// The error of a failed request is returned only when there is no cached
// token that is still valid.
func (m *tokenManager) token(ctx context.Context, pod *corev1.Pod, p *corev1.ServiceAccountTokenProjection) (string, error) {
	sa := pod.Spec.ServiceAccountName
	if sa == "" {
		sa = "default" // what ServiceAccount admission sets
	}
	seconds := int64(defaultTokenSeconds)
	if p.ExpirationSeconds != nil {
		seconds = *p.ExpirationSeconds
	}
	key := tokenKey{podUID: pod.UID, serviceAccount: sa, audience: p.Audience, expirationSeconds: seconds}

	m.mu.Lock()
	cached := m.tokens[key]
	var old podToken
	if cached != nil {
		old = *cached
	}
	m.mu.Unlock()
	now := m.now()
	if cached != nil && now.Before(old.refreshAt()) {
		return old.token, nil
	}

	var audiences []string // none: the API server's
	if p.Audience != "" {
		audiences = []string{p.Audience}
	}
	tr, err := m.client.CoreV1().ServiceAccounts(pod.Namespace).CreateToken(ctx, sa, &authenticationv1.TokenRequest{
		Spec: authenticationv1.TokenRequestSpec{
			Audiences:         audiences,
			ExpirationSeconds: &seconds,
			BoundObjectRef: &authenticationv1.BoundObjectReference{
				Kind: "Pod", APIVersion: "v1", Name: pod.Name, UID: pod.UID,
			},
		},
	}, metav1.CreateOptions{})
	now = m.now()
	if err != nil {
		if cached == nil || !now.Before(old.expires) {
			return "", fmt.Errorf("failed to fetch token: %w", err)
		}
		m.log.Warn("cannot refresh service account token, keeping the current one",
			"pod", pod.Namespace+"/"+pod.Name, "serviceAccount", sa, "expires", old.expires, "err", err)
		retry := now.Add(tokenRetry)
		if old.expires.Before(retry) {
			retry = old.expires
		}
		m.mu.Lock()
		if t := m.tokens[key]; t != nil {
			t.retryAt = retry
		}
		m.mu.Unlock()
		return old.token, nil
	}
	t := &podToken{namespace: pod.Namespace, pod: pod.Name, token: tr.Status.Token, obtained: now, expires: tr.Status.ExpirationTimestamp.Time}
	if tr.Status.ExpirationTimestamp.IsZero() {
		t.expires = now.Add(time.Duration(seconds) * time.Second)
	}
	m.mu.Lock()
	m.tokens[key] = t
	m.mu.Unlock()
	return t.token, nil
}

// nextRefresh returns when the pod's tokens must be looked at again: the
// earliest refresh time of its tokens, or the retry time of one whose
// refresh failed. ok is false when the pod has no tokens.
func (m *tokenManager) nextRefresh(uid types.UID) (at time.Time, ok bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.tokens {
		if k.podUID != uid {
			continue
		}
		next := t.refreshAt()
		if next.Before(t.retryAt) {
			next = t.retryAt
		}
		if !ok || next.Before(at) {
			at, ok = next, true
		}
	}
	return at, ok
}

// forgetPod drops the tokens of the pod with uid.
func (m *tokenManager) forgetPod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k := range m.tokens {
		if k.podUID == uid {
			delete(m.tokens, k)
		}
	}
}

// prune drops the tokens of pods for which bound(namespace, name, uid)
// is false.
func (m *tokenManager) prune(bound func(namespace, name string, uid types.UID) bool) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, t := range m.tokens {
		if !bound(t.namespace, t.pod, k.podUID) {
			delete(m.tokens, k)
		}
	}
}
