package auth

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// Well-known identities.
const (
	// UserAdmin is the common name of the stored admin client certificate.
	UserAdmin = "system:admin"
	// GroupMasters is the group that RBAC treats as cluster-admin.
	GroupMasters = "system:masters"
	// GroupAuthenticated is added to every authenticated user.
	GroupAuthenticated = "system:authenticated"
)

// File names inside the PKI directory.
const (
	CACertFile      = "ca.crt"
	CAKeyFile       = "ca.key"
	ServingCertFile = "serving.crt"
	ServingKeyFile  = "serving.key"
	AdminCertFile   = "admin.crt"
	AdminKeyFile    = "admin.key"
)

const (
	// DefaultCAValidity is the lifetime of a newly created CA.
	DefaultCAValidity = 10 * 365 * 24 * time.Hour
	// DefaultLeafValidity is the lifetime of newly issued serving, admin and
	// client certificates unless the caller asks for another.
	DefaultLeafValidity = 365 * 24 * time.Hour
	// RenewBefore is how long before expiry a stored leaf certificate is
	// reissued at start.
	RenewBefore = 30 * 24 * time.Hour
)

const (
	certMode = 0o644
	keyMode  = 0o600
)

// servingCommonName is the subject of the API server's serving certificate.
const servingCommonName = "gantry-apiserver"

// defaultServingHosts are always in the serving certificate, so that
// in-cluster clients (KUBERNETES_SERVICE_HOST) and local clients verify it.
var defaultServingHosts = []string{
	"localhost",
	"kubernetes",
	"kubernetes.default",
	"kubernetes.default.svc",
	"kubernetes.default.svc.cluster.local",
}

// PKIOptions says what the serving certificate must cover.
type PKIOptions struct {
	// ServingHosts are DNS names for the serving certificate in addition to
	// localhost, the machine's hostname and the kubernetes.default service
	// names. Entries that parse as IP addresses are treated as ServingIPs.
	ServingHosts []string
	// ServingIPs are addresses for the serving certificate in addition to
	// 127.0.0.1 and ::1. Pass the first service IP (e.g. 10.43.0.1) and the
	// node addresses here.
	ServingIPs []net.IP
	// LeafValidity is the lifetime of serving and admin certificates issued
	// by this call. Zero means DefaultLeafValidity. A value below RenewBefore
	// makes every start reissue them.
	LeafValidity time.Duration
}

// PKI is the cluster's certificate authority and the certificates the server
// keeps on disk. It is immutable after LoadOrCreatePKI and safe for
// concurrent use.
type PKI struct {
	dir          string
	ca           *x509.Certificate
	caKey        crypto.Signer
	caPEM        []byte
	pool         *x509.CertPool
	serving      tls.Certificate
	adminCert    []byte
	adminKey     []byte
	leafValidity time.Duration
}

// LoadOrCreatePKI loads the PKI kept in dir, creating what is missing.
//
// The CA (ca.crt, ca.key) is created only when ca.crt does not exist; an
// existing but unusable CA is an error wrapping ErrInvalidCA and is left
// untouched. The serving and admin certificates are reused when they chain to
// the CA, match their key, stay valid for more than RenewBefore and (for the
// serving certificate) cover every requested name; otherwise they are
// reissued. Files are replaced atomically; keys get mode 0600, certificates
// 0644, a newly created dir 0700.
func LoadOrCreatePKI(dir string, opts PKIOptions) (*PKI, error) {
	if dir == "" {
		return nil, errors.New("auth: PKI directory is empty")
	}
	if err := ensureDir(dir); err != nil {
		return nil, err
	}
	validity := opts.LeafValidity
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	now := time.Now()
	p := &PKI{dir: dir, leafValidity: validity}
	if err := p.loadOrCreateCA(now); err != nil {
		return nil, err
	}

	hosts, ips := servingNames(opts)
	serving := leafSpec{
		subject:  pkix.Name{CommonName: servingCommonName},
		usage:    x509.ExtKeyUsageServerAuth,
		dnsNames: hosts,
		ips:      ips,
	}
	pair, _, _, err := p.loadOrIssueLeaf(ServingCertFile, ServingKeyFile, serving, now)
	if err != nil {
		return nil, err
	}
	p.serving = pair

	admin := leafSpec{
		subject: pkix.Name{CommonName: UserAdmin, Organization: []string{GroupMasters}},
		usage:   x509.ExtKeyUsageClientAuth,
	}
	_, p.adminCert, p.adminKey, err = p.loadOrIssueLeaf(AdminCertFile, AdminKeyFile, admin, now)
	if err != nil {
		return nil, err
	}
	return p, nil
}

// loadOrCreateCA loads ca.crt and ca.key, or creates both if ca.crt is
// absent. The key is written first, so a crash between the two writes leaves
// no ca.crt and the next start creates a fresh CA that nothing trusts yet.
func (p *PKI) loadOrCreateCA(now time.Time) error {
	certPath := filepath.Join(p.dir, CACertFile)
	keyPath := filepath.Join(p.dir, CAKeyFile)
	certPEM, err := os.ReadFile(certPath)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		var keyPEM []byte
		certPEM, keyPEM, err = newCA(now, DefaultCAValidity)
		if err != nil {
			return err
		}
		if err := writeFileAtomic(keyPath, keyPEM, keyMode); err != nil {
			return err
		}
		if err := writeFileAtomic(certPath, certPEM, certMode); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("auth: read CA certificate: %w", err)
	}

	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return fmt.Errorf("%w: %s exists but its key cannot be read: %w", ErrInvalidCA, certPath, err)
	}
	pair, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrInvalidCA, p.dir, err)
	}
	ca := pair.Leaf
	if !ca.IsCA || ca.KeyUsage&x509.KeyUsageCertSign == 0 {
		return fmt.Errorf("%w: %s is not a CA certificate", ErrInvalidCA, certPath)
	}
	if now.After(ca.NotAfter) {
		return fmt.Errorf("%w: %s expired at %s", ErrInvalidCA, certPath, ca.NotAfter.Format(time.RFC3339))
	}
	signer, ok := pair.PrivateKey.(crypto.Signer)
	if !ok {
		return fmt.Errorf("%w: %s: unsupported key type %T", ErrInvalidCA, keyPath, pair.PrivateKey)
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca)
	p.ca, p.caKey, p.caPEM, p.pool = ca, signer, certPEM, pool
	return nil
}

// loadOrIssueLeaf returns the leaf stored under certName/keyName if it is
// still good for spec, and otherwise issues, stores and returns a new one.
func (p *PKI) loadOrIssueLeaf(certName, keyName string, spec leafSpec, now time.Time) (tls.Certificate, []byte, []byte, error) {
	certPath := filepath.Join(p.dir, certName)
	keyPath := filepath.Join(p.dir, keyName)
	certPEM, certErr := os.ReadFile(certPath)
	keyPEM, keyErr := os.ReadFile(keyPath)
	for _, err := range []error{certErr, keyErr} {
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			return tls.Certificate{}, nil, nil, fmt.Errorf("auth: read %s: %w", certName, err)
		}
	}
	if certErr == nil && keyErr == nil {
		if pair, err := parseKeyPair(certPEM, keyPEM); err == nil &&
			leafProblem(pair, p.pool, spec, now, RenewBefore) == "" {
			return pair, certPEM, keyPEM, nil
		}
	}

	certPEM, keyPEM, err := issueLeaf(p.ca, p.caKey, spec, now, p.leafValidity)
	if err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	// Key first: a crash in between leaves a mismatched pair, which the next
	// start detects and reissues.
	if err := writeFileAtomic(keyPath, keyPEM, keyMode); err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	if err := writeFileAtomic(certPath, certPEM, certMode); err != nil {
		return tls.Certificate{}, nil, nil, err
	}
	pair, err := parseKeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, nil, nil, fmt.Errorf("auth: parse new %s: %w", certName, err)
	}
	return pair, certPEM, keyPEM, nil
}

// servingNames returns the DNS names and IPs of the serving certificate:
// the defaults, the hostname, then opts, without duplicates.
func servingNames(opts PKIOptions) ([]string, []net.IP) {
	var hosts []string
	seenHost := map[string]bool{}
	addHost := func(h string) {
		h = strings.ToLower(strings.TrimSpace(h))
		if h == "" || seenHost[h] {
			return
		}
		seenHost[h] = true
		hosts = append(hosts, h)
	}
	var ips []net.IP
	seenIP := map[string]bool{}
	addIP := func(ip net.IP) {
		if ip == nil {
			return
		}
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		}
		if seenIP[string(ip)] {
			return
		}
		seenIP[string(ip)] = true
		ips = append(ips, ip)
	}

	for _, h := range defaultServingHosts {
		addHost(h)
	}
	if name, err := os.Hostname(); err == nil {
		addHost(name)
	}
	addIP(net.IPv4(127, 0, 0, 1))
	addIP(net.IPv6loopback)
	for _, h := range opts.ServingHosts {
		if ip := net.ParseIP(strings.TrimSpace(h)); ip != nil {
			addIP(ip)
			continue
		}
		addHost(h)
	}
	for _, ip := range opts.ServingIPs {
		addIP(ip)
	}
	return hosts, ips
}

// Dir returns the directory the PKI is kept in.
func (p *PKI) Dir() string { return p.dir }

// CAPEM returns the CA certificate in PEM form, for kubeconfigs and for
// clients that verify the server.
func (p *PKI) CAPEM() []byte { return bytes.Clone(p.caPEM) }

// CACertificate returns the parsed CA certificate. Callers must not modify it.
func (p *PKI) CACertificate() *x509.Certificate { return p.ca }

// CertPool returns a new pool holding the CA, for RootCAs or ClientCAs.
func (p *PKI) CertPool() *x509.CertPool { return p.pool.Clone() }

// CAFingerprint returns "sha256:" and the hex SHA-256 of the CA certificate's
// DER bytes, so that a joining agent can pin the CA it was told about.
func (p *PKI) CAFingerprint() string {
	sum := sha256.Sum256(p.ca.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// AdminCredentials returns the stored admin client certificate
// (CN system:admin, O system:masters) and its key, in PEM form.
func (p *PKI) AdminCredentials() (certPEM, keyPEM []byte) {
	return bytes.Clone(p.adminCert), bytes.Clone(p.adminKey)
}

// ServingCertificate returns the API server's serving certificate and key.
func (p *PKI) ServingCertificate() tls.Certificate { return p.serving }

// IssueClientCert signs a new client certificate with CN commonName and O
// groups, valid for validity (zero means DefaultLeafValidity, capped at the
// CA's expiry). It does not store anything on disk.
func (p *PKI) IssueClientCert(commonName string, groups []string, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	if strings.TrimSpace(commonName) == "" {
		return nil, nil, errors.New("auth: client certificate needs a common name")
	}
	if validity <= 0 {
		validity = DefaultLeafValidity
	}
	spec := leafSpec{
		subject: pkix.Name{CommonName: commonName, Organization: groups},
		usage:   x509.ExtKeyUsageClientAuth,
	}
	return issueLeaf(p.ca, p.caKey, spec, time.Now(), validity)
}

// ServerTLSConfig returns a new TLS configuration for the API server: TLS 1.2
// or later, the serving certificate, h2 and http/1.1 by ALPN, and client
// certificates verified against the CA when a client offers one. Requests
// without a client certificate still complete the handshake so that bearer
// tokens and health checks work.
func (p *PKI) ServerTLSConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.serving},
		ClientAuth:   tls.VerifyClientCertIfGiven,
		ClientCAs:    p.pool.Clone(),
		NextProtos:   []string{"h2", "http/1.1"},
	}
}
