package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
)

// fallbackCommonName is the subject of the self-signed certificate served
// for names no Ingress has a certificate for (as ingress-nginx's "Kubernetes
// Ingress Controller Fake Certificate").
const fallbackCommonName = "Gantry Ingress Fake Certificate"

// certTable maps server names to certificates. Immutable once built.
type certTable struct {
	exact    map[string]*tls.Certificate
	wildcard map[string]*tls.Certificate // "*.example.com" by "example.com"
	// any is the certificate of a spec.tls entry without hosts, served
	// for names that have none of their own.
	any *tls.Certificate
}

// secretSource reads Secrets (an informer cache in the controller).
type secretSource interface {
	secret(namespace, name string) (*corev1.Secret, bool)
}

// certStore chooses the certificate of a TLS handshake by SNI. lookup is
// safe for concurrent use; build is called by one goroutine at a time.
type certStore struct {
	fallback *tls.Certificate
	table    atomic.Pointer[certTable]

	mu     sync.Mutex
	parsed map[string]parsedCert // by namespace/name
}

type parsedCert struct {
	resourceVersion string
	cert            *tls.Certificate
	err             error
}

// build makes the table from the spec.tls entries of ings (served ones)
// and the Secrets they name, in the Ingress's namespace. The oldest
// Ingress wins a host claimed twice. It returns the problems found (a
// missing or unparsable Secret), one per Secret.
func (s *certStore) build(ings []*networkingv1.Ingress, src secretSource) []error {
	s.mu.Lock()
	defer s.mu.Unlock()
	t := &certTable{exact: map[string]*tls.Certificate{}, wildcard: map[string]*tls.Certificate{}}
	used := map[string]parsedCert{}
	var problems []error
	for _, ing := range sortedByAge(ings) {
		for _, entry := range ing.Spec.TLS {
			if entry.SecretName == "" {
				continue
			}
			key := ing.Namespace + "/" + entry.SecretName
			pc, seen := used[key]
			if !seen {
				pc = s.parse(key, ing.Namespace, entry.SecretName, src)
				used[key] = pc
				if pc.err != nil {
					problems = append(problems, pc.err)
				}
			}
			if pc.cert == nil {
				continue
			}
			if len(entry.Hosts) == 0 && t.any == nil {
				t.any = pc.cert
			}
			for _, h := range entry.Hosts {
				h = strings.ToLower(h)
				m, name := t.exact, h
				if strings.HasPrefix(h, "*.") {
					m, name = t.wildcard, h[2:]
				}
				if _, ok := m[name]; !ok {
					m[name] = pc.cert
				}
			}
		}
	}
	s.parsed = used
	s.table.Store(t)
	return problems
}

// parse returns the certificate of a Secret, reusing the last parse while
// the Secret's resourceVersion is unchanged. Called with s.mu held.
func (s *certStore) parse(key, namespace, name string, src secretSource) parsedCert {
	sec, ok := src.secret(namespace, name)
	if !ok {
		return parsedCert{err: fmt.Errorf("ingress: TLS secret %s not found", key)}
	}
	if pc, ok := s.parsed[key]; ok && pc.resourceVersion == sec.ResourceVersion && sec.ResourceVersion != "" {
		return pc
	}
	pc := parsedCert{resourceVersion: sec.ResourceVersion}
	cert, err := tls.X509KeyPair(sec.Data[corev1.TLSCertKey], sec.Data[corev1.TLSPrivateKeyKey])
	if err != nil {
		pc.err = fmt.Errorf("ingress: TLS secret %s: %w", key, err)
	} else {
		pc.cert = &cert
	}
	return pc
}

// lookup returns the certificate for a server name: the exact host's, the
// wildcard's covering it, that of an entry without hosts, or the fallback.
func (s *certStore) lookup(serverName string) *tls.Certificate {
	if t := s.table.Load(); t != nil {
		name := normalizeHost(serverName)
		if c, ok := t.exact[name]; ok {
			return c
		}
		if label, rest, ok := strings.Cut(name, "."); ok && label != "" {
			if c, ok := t.wildcard[rest]; ok {
				return c
			}
		}
		if t.any != nil {
			return t.any
		}
	}
	return s.fallback
}

// getCertificate is crypto/tls's Config.GetCertificate.
func (s *certStore) getCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if c := s.lookup(hello.ServerName); c != nil {
		return c, nil
	}
	return nil, fmt.Errorf("ingress: no certificate for %q", hello.ServerName)
}

// selfSigned makes the fallback certificate: ECDSA P-256, valid for ten
// years, for the name ingress.local.
func selfSigned(now time.Time) (*tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fallbackCommonName, Organization: []string{"Gantry"}},
		DNSNames:              []string{"ingress.local"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(10 * 365 * 24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("ingress: fallback certificate: %w", err)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, nil
}
