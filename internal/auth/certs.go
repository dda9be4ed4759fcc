package auth

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"slices"
	"strings"
	"time"
)

// clockSkew backdates NotBefore so that certificates issued on one machine
// are accepted at once on machines whose clocks are slightly behind.
const clockSkew = time.Hour

// leafSpec describes a certificate signed by the CA.
type leafSpec struct {
	subject  pkix.Name
	usage    x509.ExtKeyUsage
	dnsNames []string
	ips      []net.IP
}

// newSerial returns a random positive 128-bit serial number.
func newSerial() (*big.Int, error) {
	limit := new(big.Int).Lsh(big.NewInt(1), 128)
	n, err := rand.Int(rand.Reader, limit)
	if err != nil {
		return nil, fmt.Errorf("auth: serial number: %w", err)
	}
	return n.Add(n, big.NewInt(1)), nil
}

func newKey() (*ecdsa.PrivateKey, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("auth: generate key: %w", err)
	}
	return key, nil
}

func encodeKey(key *ecdsa.PrivateKey) ([]byte, error) {
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("auth: marshal key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), nil
}

func encodeCert(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// newCA creates a self-signed CA certificate and its key.
func newCA(now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: fmt.Sprintf("gantry-ca@%d", now.Unix())},
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: create CA certificate: %w", err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// issueLeaf signs a new certificate for spec with a fresh key. The validity
// never extends past the CA's own expiry.
func issueLeaf(ca *x509.Certificate, caKey crypto.Signer, spec leafSpec, now time.Time, validity time.Duration) (certPEM, keyPEM []byte, err error) {
	key, err := newKey()
	if err != nil {
		return nil, nil, err
	}
	serial, err := newSerial()
	if err != nil {
		return nil, nil, err
	}
	notAfter := now.Add(validity)
	if notAfter.After(ca.NotAfter) {
		notAfter = ca.NotAfter
	}
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               spec.subject,
		NotBefore:             now.Add(-clockSkew),
		NotAfter:              notAfter,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{spec.usage},
		BasicConstraintsValid: true,
		DNSNames:              spec.dnsNames,
		IPAddresses:           spec.ips,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, nil, fmt.Errorf("auth: sign certificate for %q: %w", spec.subject.CommonName, err)
	}
	keyPEM, err = encodeKey(key)
	if err != nil {
		return nil, nil, err
	}
	return encodeCert(der), keyPEM, nil
}

// parseKeyPair parses a PEM certificate (the first block is the leaf) and its
// private key and checks that they belong together.
func parseKeyPair(certPEM, keyPEM []byte) (tls.Certificate, error) {
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return tls.Certificate{}, err
	}
	if pair.Leaf == nil {
		leaf, err := x509.ParseCertificate(pair.Certificate[0])
		if err != nil {
			return tls.Certificate{}, err
		}
		pair.Leaf = leaf
	}
	return pair, nil
}

// leafProblem returns why the leaf in pair cannot be reused for spec at now,
// or "" if it can: it must chain to roots for spec.usage, stay valid for at
// least renewBefore, carry spec's subject and cover every requested name.
func leafProblem(pair tls.Certificate, roots *x509.CertPool, spec leafSpec, now time.Time, renewBefore time.Duration) string {
	leaf := pair.Leaf
	opts := x509.VerifyOptions{Roots: roots, CurrentTime: now, KeyUsages: []x509.ExtKeyUsage{spec.usage}}
	if _, err := leaf.Verify(opts); err != nil {
		return err.Error()
	}
	if now.Add(renewBefore).After(leaf.NotAfter) {
		return "expires " + leaf.NotAfter.Format(time.RFC3339)
	}
	if leaf.Subject.CommonName != spec.subject.CommonName {
		return "common name " + leaf.Subject.CommonName
	}
	for _, o := range spec.subject.Organization {
		if !slices.Contains(leaf.Subject.Organization, o) {
			return "missing organization " + o
		}
	}
	for _, name := range spec.dnsNames {
		if !coversName(leaf, name) {
			return "missing DNS name " + name
		}
	}
	for _, ip := range spec.ips {
		if !slices.ContainsFunc(leaf.IPAddresses, ip.Equal) {
			return "missing IP " + ip.String()
		}
	}
	return ""
}

// coversName reports whether leaf is valid for the DNS name. An exact
// (case-insensitive) SAN match counts even for names Go's hostname
// verification would reject, such as ones with underscores.
func coversName(leaf *x509.Certificate, name string) bool {
	if slices.ContainsFunc(leaf.DNSNames, func(s string) bool { return strings.EqualFold(s, name) }) {
		return true
	}
	return leaf.VerifyHostname(name) == nil
}
