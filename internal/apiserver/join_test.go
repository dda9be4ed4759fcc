package apiserver_test

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"net/http"
	"os"
	"path/filepath"
	"testing"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestJoin drives the join endpoint of a real server (internal/server
// wires the join secret, the token file and the certificate issuer).
func TestJoin(t *testing.T) {
	c := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	raw, err := os.ReadFile(filepath.Join(c.DataDir, "join-token"))
	if err != nil {
		t.Fatalf("join token file: %v", err)
	}
	if fi, err := os.Stat(filepath.Join(c.DataDir, "join-token")); err != nil || fi.Mode().Perm() != 0o600 {
		t.Errorf("join-token mode: %v %v, want 0600", fi.Mode().Perm(), err)
	}
	tok, err := auth.ParseJoinToken(string(raw))
	if err != nil {
		t.Fatalf("join token %q: %v", raw, err)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.Config.CAData) {
		t.Fatal("no CA in the loopback config")
	}
	do := func(t *testing.T, method, path, bearer string, cert *tls.Certificate, body string) (int, []byte) {
		t.Helper()
		return request(t, c, method, path, bearer, cert, body)
	}

	var nodeCert tls.Certificate
	t.Run("the join secret gets a node certificate signed by the CA", func(t *testing.T) {
		code, body := do(t, "POST", apiserver.JoinPath, tok.Secret, nil, `{"nodeName":"worker-1"}`)
		if code != http.StatusOK {
			t.Fatalf("join: %d %s", code, body)
		}
		var resp apiserver.JoinResponse
		if err := json.Unmarshal(body, &resp); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal([]byte(resp.CA), c.Config.CAData) {
			t.Error("join returned another CA than the server's")
		}
		block, _ := pem.Decode([]byte(resp.CA))
		ca, err := x509.ParseCertificate(block.Bytes)
		if err != nil || !tok.MatchesCA(ca) {
			t.Errorf("the join token does not pin the returned CA (%v)", err)
		}
		nodeCert, err = tls.X509KeyPair([]byte(resp.Certificate), []byte(resp.Key))
		if err != nil {
			t.Fatalf("certificate and key: %v", err)
		}
		leaf, err := x509.ParseCertificate(nodeCert.Certificate[0])
		if err != nil {
			t.Fatal(err)
		}
		if leaf.Subject.CommonName != "system:node:worker-1" || len(leaf.Subject.Organization) != 1 || leaf.Subject.Organization[0] != "system:nodes" {
			t.Errorf("subject %v, want CN=system:node:worker-1 O=system:nodes", leaf.Subject)
		}
		if _, err := leaf.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
			t.Errorf("node certificate does not verify against the CA: %v", err)
		}
		// The API server accepts it (no RBAC yet: any authenticated user may).
		if code, body := do(t, "GET", "/api/v1/nodes", "", &nodeCert, ""); code != http.StatusOK {
			t.Errorf("GET nodes as the node: %d %s", code, body)
		}
	})

	tests := []struct {
		name, method, path, bearer, body string
		want                             int
	}{
		{"a wrong secret is refused", "POST", apiserver.JoinPath, "not-the-secret", `{"nodeName":"worker-2"}`, http.StatusUnauthorized},
		{"no credentials are refused", "POST", apiserver.JoinPath, "", `{"nodeName":"worker-2"}`, http.StatusUnauthorized},
		{"the join identity cannot list pods", "GET", "/api/v1/pods", tok.Secret, "", http.StatusForbidden},
		{"the join identity cannot create namespaces", "POST", "/api/v1/namespaces", tok.Secret, `{"metadata":{"name":"x"}}`, http.StatusForbidden},
		{"the join identity cannot read discovery", "GET", "/apis", tok.Secret, "", http.StatusForbidden},
		{"the join identity cannot read /version", "GET", "/version", tok.Secret, "", http.StatusForbidden},
		{"join takes POST", "GET", apiserver.JoinPath, tok.Secret, "", http.StatusMethodNotAllowed},
		{"an invalid node name is refused", "POST", apiserver.JoinPath, tok.Secret, `{"nodeName":"Not_A_Name"}`, http.StatusBadRequest},
		{"a missing node name is refused", "POST", apiserver.JoinPath, tok.Secret, `{}`, http.StatusBadRequest},
		{"admin may join a node", "POST", apiserver.JoinPath, c.Config.BearerToken, `{"nodeName":"worker-3"}`, http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if code, body := do(t, tt.method, tt.path, tt.bearer, nil, tt.body); code != tt.want {
				t.Errorf("%s %s: %d %s, want %d", tt.method, tt.path, code, body, tt.want)
			}
		})
	}
	t.Run("a node identity cannot join other nodes", func(t *testing.T) {
		if nodeCert.Certificate == nil {
			t.Skip("no node certificate")
		}
		if code, body := do(t, "POST", apiserver.JoinPath, "", &nodeCert, `{"nodeName":"worker-4"}`); code != http.StatusForbidden {
			t.Errorf("join as a node: %d %s, want 403", code, body)
		}
	})
}
