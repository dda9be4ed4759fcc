package auth_test

import (
	"context"
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/auth"
)

func newIssuer(t testing.TB, dir string) *auth.ServiceAccountIssuer {
	t.Helper()
	key, err := auth.LoadOrCreateServiceAccountKey(filepath.Join(dir, auth.ServiceAccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	iss, err := auth.NewServiceAccountIssuer(key, auth.DefaultServiceAccountIssuer, nil)
	if err != nil {
		t.Fatal(err)
	}
	return iss
}

func claims(exp time.Duration) auth.ServiceAccountClaims {
	return auth.ServiceAccountClaims{
		Namespace: "apps", Name: "builder", UID: "sa-uid",
		Pod:       &auth.BoundObject{Name: "web-0", UID: "pod-uid"},
		Audiences: []string{auth.DefaultServiceAccountIssuer},
		Expiry:    time.Now().Add(exp),
	}
}

func TestServiceAccountTokenRoundTrip(t *testing.T) {
	iss := newIssuer(t, t.TempDir())
	tok, err := iss.Issue(claims(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	got, err := iss.Verify(tok)
	if err != nil {
		t.Fatal(err)
	}
	if got.Namespace != "apps" || got.Name != "builder" || got.UID != "sa-uid" || got.Pod == nil || got.Pod.UID != "pod-uid" || got.ID == "" {
		t.Fatalf("claims %+v", got)
	}
	if got.Username() != "system:serviceaccount:apps:builder" {
		t.Fatalf("username %q", got.Username())
	}
	if d := time.Until(got.Expiry); d < 59*time.Minute || d > time.Hour {
		t.Fatalf("expiry in %v", d)
	}
}

func TestServiceAccountTokenRejected(t *testing.T) {
	dir := t.TempDir()
	iss := newIssuer(t, dir)
	good, err := iss.Issue(claims(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	expired, err := iss.Issue(claims(-2 * time.Minute))
	if err != nil {
		t.Fatal(err)
	}
	other := claims(time.Hour)
	other.Audiences = []string{"vault"}
	wrongAudience, err := iss.Issue(other)
	if err != nil {
		t.Fatal(err)
	}
	// Same issuer name, another key: a forged token.
	forger := newIssuer(t, t.TempDir())
	forged, err := forger.Issue(claims(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(good, ".")
	tampered := parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2]))

	for name, tc := range map[string]struct {
		token string
		want  error
	}{
		"expired":        {expired, auth.ErrInvalidCredentials},
		"wrong audience": {wrongAudience, auth.ErrInvalidCredentials},
		"other key":      {forged, auth.ErrInvalidCredentials},
		"bad signature":  {tampered, auth.ErrInvalidCredentials},
		"not a JWT":      {"0123456789abcdef", auth.ErrUnauthenticated},
		"other issuer":   {"eyJhbGciOiJIUzI1NiJ9.eyJpc3MiOiJodHRwczovL2V4YW1wbGUuY29tIn0.c2ln", auth.ErrUnauthenticated},
	} {
		t.Run(name, func(t *testing.T) {
			_, err := iss.Verify(tc.token)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify: %v, want %v", err, tc.want)
			}
		})
	}

	// The key is kept: a second load verifies the first one's tokens.
	again := newIssuer(t, dir)
	if _, err := again.Verify(good); err != nil {
		t.Fatalf("reloaded key: %v", err)
	}
	fi, err := os.Stat(filepath.Join(dir, auth.ServiceAccountKeyFile))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key mode %v", fi.Mode().Perm())
	}
}

func TestServiceAccountAuthenticator(t *testing.T) {
	iss := newIssuer(t, t.TempDir())
	tok, err := iss.Issue(claims(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	gone := errors.New(`pods "web-0" not found`)
	var validateErr error
	authn := auth.ServiceAccountAuthenticator(iss, func(_ context.Context, c *auth.ServiceAccountClaims) error {
		if c.Pod == nil || c.Pod.Name != "web-0" {
			t.Errorf("validator got %+v", c)
		}
		return validateErr
	})
	req := httptest.NewRequest("GET", "/api", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	u, err := authn.Authenticate(req)
	if err != nil {
		t.Fatal(err)
	}
	if u.Name != "system:serviceaccount:apps:builder" || u.UID != "sa-uid" ||
		!slices.Equal(u.Groups, []string{"system:serviceaccounts", "system:serviceaccounts:apps", auth.GroupAuthenticated}) {
		t.Fatalf("user %+v", u)
	}
	validateErr = gone
	if _, err := authn.Authenticate(req); !errors.Is(err, auth.ErrInvalidCredentials) || !strings.Contains(err.Error(), "web-0") {
		t.Fatalf("bound pod gone: %v", err)
	}
	req.Header.Set("Authorization", "Bearer some-static-token")
	if _, err := authn.Authenticate(req); !errors.Is(err, auth.ErrUnauthenticated) {
		t.Fatalf("static token: %v, want ErrUnauthenticated so the token store is asked", err)
	}
}

// FuzzServiceAccountVerify: any bearer token is refused with one of the
// two error classes, or accepted only if it is a token the issuer signed
// (a valid token with one byte changed never verifies).
func FuzzServiceAccountVerify(f *testing.F) {
	iss := newIssuer(f, f.TempDir())
	valid, err := iss.Issue(claims(time.Hour))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(valid, 0, byte(0))
	f.Add(valid, 40, byte('A'))
	f.Add("eyJhbGciOiJub25lIn0.eyJpc3MiOiJodHRwczovL2t1YmVybmV0ZXMuZGVmYXVsdC5zdmMuY2x1c3Rlci5sb2NhbCJ9.", 0, byte(0))
	f.Add("a.b.c", 1, byte('.'))
	f.Fuzz(func(t *testing.T, token string, at int, b byte) {
		if len(token) > 0 && b != 0 {
			i := (at%len(token) + len(token)) % len(token)
			token = token[:i] + string([]byte{b}) + token[i+1:]
		}
		c, err := iss.Verify(token)
		if err != nil {
			if !errors.Is(err, auth.ErrUnauthenticated) && !errors.Is(err, auth.ErrInvalidCredentials) {
				t.Fatalf("unexpected error class: %v", err)
			}
			return
		}
		if token != valid {
			// Any other text changes the signed input or the signature
			// (strict decoding: no second encoding of the same bytes).
			t.Fatalf("a token the issuer did not sign verified: %q -> %+v", token, c)
		}
	})
}
