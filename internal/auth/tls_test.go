package auth

import (
	"encoding/json"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"
)

// whoami is what the test server answers.
type whoami struct {
	User  *User  `json:"user,omitempty"`
	Error string `json:"error,omitempty"`
	Proto string `json:"proto"`
}

// TestTLSAuthentication runs a real TLS server with ServerTLSConfig and the
// cert+token chain, and reaches it with client-go configs built from
// kubeconfig files written by this package.
func TestTLSAuthentication(t *testing.T) {
	dir := t.TempDir()
	p, err := LoadOrCreatePKI(filepath.Join(dir, "tls"), PKIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	other, err := LoadOrCreatePKI(filepath.Join(dir, "other"), PKIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	tokens, err := OpenTokenStore(filepath.Join(dir, "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	joinToken, err := GenerateToken()
	if err != nil {
		t.Fatal(err)
	}
	if err := tokens.Add(joinToken, User{Name: "system:node:n1", UID: "n1", Groups: []string{"system:nodes"}}); err != nil {
		t.Fatal(err)
	}
	authn := Chain{NewCertAuthenticator(p.CACertificate()), tokens}

	var hits atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		resp := whoami{Proto: r.Proto}
		u, err := authn.Authenticate(r)
		switch {
		case err == nil:
			resp.User = u
		case errors.Is(err, ErrUnauthenticated):
			resp.Error = "unauthenticated"
			w.WriteHeader(http.StatusUnauthorized)
		case errors.Is(err, ErrInvalidCredentials):
			resp.Error = "invalid"
			w.WriteHeader(http.StatusUnauthorized)
		default:
			resp.Error = err.Error()
			w.WriteHeader(http.StatusInternalServerError)
		}
		_ = json.NewEncoder(w).Encode(resp)
	}))
	srv.TLS = p.ServerTLSConfig()
	srv.Config.ErrorLog = log.New(t.Output(), "server: ", 0) // handshake refusals
	srv.StartTLS()
	t.Cleanup(srv.Close)
	u, _ := url.Parse(srv.URL)
	localhostURL := "https://localhost:" + u.Port()

	kubeconfig := func(t *testing.T, server string, certPEM, keyPEM []byte) *rest.Config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := WriteKubeconfig(path, server, p.CAPEM(), certPEM, keyPEM); err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	tokenKubeconfig := func(t *testing.T, token string) *rest.Config {
		t.Helper()
		path := filepath.Join(t.TempDir(), "kubeconfig")
		if err := WriteTokenKubeconfig(path, srv.URL, p.CAPEM(), token); err != nil {
			t.Fatal(err)
		}
		cfg, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			t.Fatal(err)
		}
		return cfg
	}
	issued := func(t *testing.T, p *PKI, cn string, groups []string, validity time.Duration) *rest.Config {
		t.Helper()
		c, k, err := p.IssueClientCert(cn, groups, validity)
		if err != nil {
			t.Fatal(err)
		}
		return kubeconfig(t, srv.URL, c, k)
	}

	tests := []struct {
		name       string
		config     func(t *testing.T) *rest.Config
		wantRefuse bool // the TLS handshake fails; the handler never runs
		wantStatus int
		wantUser   *User
		wantError  string
	}{
		{
			name: "admin certificate",
			config: func(t *testing.T) *rest.Config {
				c, k := p.AdminCredentials()
				return kubeconfig(t, srv.URL, c, k)
			},
			wantStatus: http.StatusOK,
			wantUser:   &User{Name: UserAdmin, Groups: []string{GroupMasters, GroupAuthenticated}},
		},
		{
			name: "admin certificate via localhost",
			config: func(t *testing.T) *rest.Config {
				c, k := p.AdminCredentials()
				return kubeconfig(t, localhostURL, c, k)
			},
			wantStatus: http.StatusOK,
			wantUser:   &User{Name: UserAdmin, Groups: []string{GroupMasters, GroupAuthenticated}},
		},
		{
			name:       "issued client certificate",
			config:     func(t *testing.T) *rest.Config { return issued(t, p, "alice", []string{"dev"}, time.Hour) },
			wantStatus: http.StatusOK,
			wantUser:   &User{Name: "alice", Groups: []string{"dev", GroupAuthenticated}},
		},
		{
			name:       "certificate from another CA",
			config:     func(t *testing.T) *rest.Config { return issued(t, other, UserAdmin, []string{GroupMasters}, time.Hour) },
			wantRefuse: true,
		},
		{
			name:       "expired client certificate",
			config:     func(t *testing.T) *rest.Config { return issued(t, p, "late", nil, time.Nanosecond) },
			wantRefuse: true,
		},
		{
			name:       "good bearer token",
			config:     func(t *testing.T) *rest.Config { return tokenKubeconfig(t, joinToken) },
			wantStatus: http.StatusOK,
			wantUser:   &User{Name: "system:node:n1", UID: "n1", Groups: []string{"system:nodes", GroupAuthenticated}},
		},
		{
			name:       "bad bearer token",
			config:     func(t *testing.T) *rest.Config { return tokenKubeconfig(t, strings.Repeat("0", 64)) },
			wantStatus: http.StatusUnauthorized,
			wantError:  "invalid",
		},
		{
			name: "no credentials",
			config: func(t *testing.T) *rest.Config {
				return &rest.Config{Host: srv.URL, TLSClientConfig: rest.TLSClientConfig{CAData: p.CAPEM()}}
			},
			wantStatus: http.StatusUnauthorized,
			wantError:  "unauthenticated",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := tt.config(t)
			client, err := rest.HTTPClientFor(cfg)
			if err != nil {
				t.Fatal(err)
			}
			defer client.CloseIdleConnections()
			before := hits.Load()
			resp, err := client.Get(cfg.Host + "/whoami")
			if tt.wantRefuse {
				if err == nil {
					resp.Body.Close()
					t.Fatalf("request succeeded with status %d, want a refused handshake", resp.StatusCode)
				}
				if hits.Load() != before {
					t.Error("handler ran for a refused client")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			body, _ := io.ReadAll(resp.Body)
			if resp.StatusCode != tt.wantStatus {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.wantStatus, body)
			}
			var got whoami
			if err := json.Unmarshal(body, &got); err != nil {
				t.Fatalf("decode %s: %v", body, err)
			}
			if got.Proto != "HTTP/2.0" {
				t.Errorf("protocol = %s, want HTTP/2.0 (ALPN h2)", got.Proto)
			}
			if got.Error != tt.wantError {
				t.Errorf("error = %q, want %q", got.Error, tt.wantError)
			}
			if tt.wantUser != nil {
				if got.User == nil || got.User.Name != tt.wantUser.Name || got.User.UID != tt.wantUser.UID ||
					!slices.Equal(got.User.Groups, tt.wantUser.Groups) {
					t.Errorf("user = %+v, want %+v", got.User, tt.wantUser)
				}
			}
		})
	}
}
