package apiserver_test

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/server"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestProfiling checks who may read /debug/pprof: cluster admins only, and
// nobody when profiling is off.
func TestProfiling(t *testing.T) {
	on := testcluster.Start(t, testcluster.Options{DisableControllers: true})
	off := testcluster.Start(t, testcluster.Options{DisableControllers: true, Configure: func(c *server.Config) { c.Profiling = false }})
	nodeCert := joinNode(t, on, "worker-1")

	tests := []struct {
		name    string
		c       *testcluster.Cluster
		path    string
		bearer  string
		cert    *tls.Certificate
		want    int
		wantSub string // in the body
	}{
		{"admin reads the index", on, "/debug/pprof/", on.Config.BearerToken, nil, http.StatusOK, "heap"},
		{"admin reads a heap profile", on, "/debug/pprof/heap?debug=1", on.Config.BearerToken, nil, http.StatusOK, "heap profile"},
		{"admin reads goroutines", on, "/debug/pprof/goroutine?debug=1", on.Config.BearerToken, nil, http.StatusOK, "goroutine profile"},
		{"a node is forbidden", on, "/debug/pprof/heap", "", &nodeCert, http.StatusForbidden, `"reason":"Forbidden"`},
		{"anonymous is unauthorized", on, "/debug/pprof/heap", "", nil, http.StatusUnauthorized, `"reason":"Unauthorized"`},
		{"profiling off: not found", off, "/debug/pprof/heap", off.Config.BearerToken, nil, http.StatusNotFound, "404 page not found"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, body := request(t, tt.c, http.MethodGet, tt.path, tt.bearer, tt.cert, "")
			if code != tt.want || !strings.Contains(string(body), tt.wantSub) {
				t.Errorf("GET %s: %d %.200s, want %d with %q", tt.path, code, body, tt.want, tt.wantSub)
			}
		})
	}
}

// request sends method path (with body, if any) to c's API server with a
// bearer token or a client certificate and returns the status code and
// body.
func request(t *testing.T, c *testcluster.Cluster, method, path, bearer string, cert *tls.Certificate, body string) (int, []byte) {
	t.Helper()
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(c.Config.CAData) {
		t.Fatal("no CA in the loopback config")
	}
	tc := &tls.Config{RootCAs: roots}
	if cert != nil {
		tc.Certificates = []tls.Certificate{*cert}
	}
	tr := &http.Transport{TLSClientConfig: tc}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Timeout: 10 * time.Second, Transport: tr}
	req, err := http.NewRequestWithContext(t.Context(), method, c.URL+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := hc.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// joinNode joins node through the join endpoint and returns its client
// certificate (system:node:<node>, a user that is not an admin).
func joinNode(t *testing.T, c *testcluster.Cluster, node string) tls.Certificate {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(c.DataDir, "join-token"))
	if err != nil {
		t.Fatal(err)
	}
	tok, err := auth.ParseJoinToken(string(raw))
	if err != nil {
		t.Fatal(err)
	}
	code, body := request(t, c, http.MethodPost, apiserver.JoinPath, tok.Secret, nil, `{"nodeName":"`+node+`"}`)
	if code != http.StatusOK {
		t.Fatalf("join: %d %s", code, body)
	}
	var jr apiserver.JoinResponse
	if err := json.Unmarshal(body, &jr); err != nil {
		t.Fatal(err)
	}
	cert, err := tls.X509KeyPair([]byte(jr.Certificate), []byte(jr.Key))
	if err != nil {
		t.Fatal(err)
	}
	return cert
}
