package auth

import (
	"bytes"
	"crypto/x509"
	"fmt"
	"net/http"
	"time"
)

// CertAuthenticator authenticates requests by their TLS client certificate:
// the user name is the subject's common name, the groups its organizations.
// It is immutable and safe for concurrent use.
type CertAuthenticator struct {
	roots []*x509.Certificate
	pool  *x509.CertPool
}

var _ Authenticator = (*CertAuthenticator)(nil)

// NewCertAuthenticator returns an authenticator that trusts client
// certificates issued by any of cas (normally PKI.CACertificate()).
func NewCertAuthenticator(cas ...*x509.Certificate) *CertAuthenticator {
	pool := x509.NewCertPool()
	for _, ca := range cas {
		pool.AddCert(ca)
	}
	return &CertAuthenticator{roots: cas, pool: pool}
}

// Authenticate implements Authenticator. A chain the TLS handshake already
// verified up to one of the trusted CAs is accepted as is (plus an expiry
// check, since connections outlive certificates); otherwise, for example when
// the server only requested certificates, the peer chain is verified here.
func (a *CertAuthenticator) Authenticate(r *http.Request) (*User, error) {
	if r.TLS == nil || len(r.TLS.PeerCertificates) == 0 {
		return nil, ErrUnauthenticated
	}
	leaf := r.TLS.PeerCertificates[0]
	now := time.Now()
	if a.verifiedByTrustedCA(leaf, r.TLS.VerifiedChains) {
		if now.Before(leaf.NotBefore) || now.After(leaf.NotAfter) {
			return nil, fmt.Errorf("%w: client certificate %q is not valid at %s", ErrInvalidCredentials,
				leaf.Subject.CommonName, now.UTC().Format(time.RFC3339))
		}
	} else {
		inter := x509.NewCertPool()
		for _, c := range r.TLS.PeerCertificates[1:] {
			inter.AddCert(c)
		}
		opts := x509.VerifyOptions{
			Roots:         a.pool,
			Intermediates: inter,
			CurrentTime:   now,
			KeyUsages:     []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
		}
		if _, err := leaf.Verify(opts); err != nil {
			return nil, fmt.Errorf("%w: client certificate %q: %w", ErrInvalidCredentials, leaf.Subject.CommonName, err)
		}
	}
	if leaf.Subject.CommonName == "" {
		return nil, fmt.Errorf("%w: client certificate has no common name", ErrInvalidCredentials)
	}
	return &User{Name: leaf.Subject.CommonName, Groups: withAuthenticated(leaf.Subject.Organization)}, nil
}

// verifiedByTrustedCA reports whether one of the handshake's verified chains
// starts at leaf and ends at one of a's CAs. Chains verified against some
// other pool configured on the listener do not count.
func (a *CertAuthenticator) verifiedByTrustedCA(leaf *x509.Certificate, chains [][]*x509.Certificate) bool {
	for _, chain := range chains {
		if len(chain) == 0 || !bytes.Equal(chain[0].Raw, leaf.Raw) {
			continue
		}
		root := chain[len(chain)-1]
		for _, ca := range a.roots {
			if bytes.Equal(root.Raw, ca.Raw) {
				return true
			}
		}
	}
	return false
}
