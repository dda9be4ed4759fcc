package node

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// joinToken returns the join token the test cluster wrote.
func joinToken(t *testing.T, c *testcluster.Cluster) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(c.DataDir, "join-token"))
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(b))
}

func TestJoin(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	token := joinToken(t, c)
	tok, err := auth.ParseJoinToken(token)
	if err != nil {
		t.Fatal(err)
	}

	t.Run("a good token joins and the credentials work", func(t *testing.T) {
		dir := t.TempDir()
		n := New(Config{Server: c.URL, Token: token}, nil, nil)
		rc, err := n.joinedConfig(t.Context(), "joiner", dir)
		if err != nil {
			t.Fatal(err)
		}
		fi, err := os.Stat(kubeconfigPath(dir, "joiner"))
		if err != nil || fi.Mode().Perm() != 0o600 {
			t.Fatalf("kubeconfig: %v, mode %v; want 0600", err, fi.Mode().Perm())
		}
		cs := kubernetes.NewForConfigOrDie(rc)
		if _, err := cs.CoreV1().Nodes().List(t.Context(), metav1.ListOptions{}); err != nil {
			t.Errorf("list nodes with the joined credentials: %v", err)
		}
		// A second start reuses the kubeconfig: the token no longer matters.
		n2 := New(Config{Server: c.URL, Token: "garbage"}, nil, nil)
		rc2, err := n2.joinedConfig(t.Context(), "joiner", dir)
		if err != nil {
			t.Fatalf("second start: %v", err)
		}
		if string(rc2.CertData) != string(rc.CertData) {
			t.Error("second start did not reuse the certificate of the first")
		}
	})

	tests := []struct {
		name    string
		token   string
		wantErr error
	}{
		{"a wrong secret is refused", tok.CAHash + "::wrong-secret", ErrJoinRefused},
		{"another CA's fingerprint is refused", strings.Repeat("ab", 32) + "::" + tok.Secret, ErrCAMismatch},
		{"a token without a fingerprint is refused", tok.Secret, auth.ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			n := New(Config{Server: c.URL, Token: tt.token}, nil, nil)
			_, err := n.joinedConfig(t.Context(), "joiner", dir)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Errorf("error is not one line: %q", err)
			}
			if _, err := os.Stat(kubeconfigPath(dir, "joiner")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a kubeconfig was written after a failed join: %v", err)
			}
		})
	}
}

// TestJoinSendsNoSecretToAnotherServer checks the pinning: a server whose
// chain lacks the pinned CA never gets a request, so never sees the secret.
func TestJoinSendsNoSecretToAnotherServer(t *testing.T) {
	var requests atomic.Int32
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		requests.Add(1)
		w.WriteHeader(http.StatusOK)
	}))
	defer srv.Close()
	// The token pins a CA, but not the one this server presents (its
	// self-signed certificate is in the chain and is a CA).
	other := srv.Certificate()
	if !other.IsCA {
		t.Fatal("httptest's certificate is expected to be a CA")
	}
	token := strings.Repeat("cd", 32) + "::s3cret"
	_, err := Join(t.Context(), srv.URL, token, "n1")
	if !errors.Is(err, ErrCAMismatch) {
		t.Fatalf("err = %v, want ErrCAMismatch", err)
	}
	if n := requests.Load(); n != 0 {
		t.Errorf("%d requests reached the server", n)
	}
	// The same server pinned correctly gets the request.
	_, err = Join(t.Context(), srv.URL, auth.NewJoinToken(fingerprint(other), "s3cret").String(), "n1")
	if err == nil || requests.Load() != 1 {
		t.Errorf("pinned server: err %v, %d requests; want an error (bad response) after one request", err, requests.Load())
	}
}

func fingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return hex.EncodeToString(sum[:])
}
