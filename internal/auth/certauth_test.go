package auth

import (
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

func TestCertAuthenticator(t *testing.T) {
	p, _ := newTestPKI(t, PKIOptions{})
	other, _ := newTestPKI(t, PKIOptions{})
	a := NewCertAuthenticator(p.CACertificate())

	issue := func(p *PKI, spec leafSpec, now time.Time, validity time.Duration) *x509.Certificate {
		t.Helper()
		certPEM, _, err := issueLeaf(p.ca, p.caKey, spec, now, validity)
		if err != nil {
			t.Fatal(err)
		}
		return parseCertPEM(t, certPEM)
	}
	client := func(cn string, groups ...string) leafSpec {
		return leafSpec{subject: pkix.Name{CommonName: cn, Organization: groups}, usage: x509.ExtKeyUsageClientAuth}
	}
	now := time.Now()
	alice := issue(p, client("alice", "dev", "dev"), now, time.Hour)
	expired := issue(p, client("old"), now.Add(-2*time.Hour), time.Minute)
	noCN := issue(p, client(""), now, time.Hour)
	serverOnly := p.ServingCertificate().Leaf
	stranger := issue(other, client("system:admin", GroupMasters), now, time.Hour)

	tests := []struct {
		name    string
		state   *tls.ConnectionState
		want    *User
		wantErr error
	}{
		{name: "plain HTTP", wantErr: ErrUnauthenticated},
		{name: "TLS without certificate", state: &tls.ConnectionState{}, wantErr: ErrUnauthenticated},
		{
			name:  "verified by handshake",
			state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{alice}, VerifiedChains: [][]*x509.Certificate{{alice, p.ca}}},
			want:  &User{Name: "alice", Groups: []string{"dev", GroupAuthenticated}},
		},
		{
			name:  "requested but not verified by handshake",
			state: &tls.ConnectionState{PeerCertificates: []*x509.Certificate{alice}},
			want:  &User{Name: "alice", Groups: []string{"dev", GroupAuthenticated}},
		},
		{
			name:    "other CA",
			state:   &tls.ConnectionState{PeerCertificates: []*x509.Certificate{stranger}},
			wantErr: ErrInvalidCredentials,
		},
		{
			name:    "other CA verified by a listener that trusts it",
			state:   &tls.ConnectionState{PeerCertificates: []*x509.Certificate{stranger}, VerifiedChains: [][]*x509.Certificate{{stranger, other.ca}}},
			wantErr: ErrInvalidCredentials,
		},
		{
			name:    "expired, chain from an old handshake",
			state:   &tls.ConnectionState{PeerCertificates: []*x509.Certificate{expired}, VerifiedChains: [][]*x509.Certificate{{expired, p.ca}}},
			wantErr: ErrInvalidCredentials,
		},
		{
			name:    "expired",
			state:   &tls.ConnectionState{PeerCertificates: []*x509.Certificate{expired}},
			wantErr: ErrInvalidCredentials,
		},
		{
			name:    "server certificate",
			state:   &tls.ConnectionState{PeerCertificates: []*x509.Certificate{serverOnly}},
			wantErr: ErrInvalidCredentials,
		},
		{
			name:    "no common name",
			state:   &tls.ConnectionState{PeerCertificates: []*x509.Certificate{noCN}, VerifiedChains: [][]*x509.Certificate{{noCN, p.ca}}},
			wantErr: ErrInvalidCredentials,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api", nil)
			r.TLS = tt.state
			u, err := a.Authenticate(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || u != nil {
					t.Fatalf("got %+v, %v; want error %v", u, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Name != tt.want.Name || !slices.Equal(u.Groups, tt.want.Groups) {
				t.Errorf("user = %+v, want %+v", u, tt.want)
			}
		})
	}
}
