package ingress

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// testCert returns a self-signed certificate and key (PEM) whose common
// name is cn, for names.
func testCert(t *testing.T, cn string, names ...string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder})
}

func tlsSecret(t *testing.T, ns, name, rv, cn string, names ...string) *corev1.Secret {
	crt, key := testCert(t, cn, names...)
	return &corev1.Secret{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, ResourceVersion: rv},
		Type:       corev1.SecretTypeTLS,
		Data:       map[string][]byte{corev1.TLSCertKey: crt, corev1.TLSPrivateKeyKey: key},
	}
}

// handshakeCN completes a TLS handshake with server name sni against a
// server using store and returns the served certificate's common name.
func handshakeCN(t *testing.T, store *certStore, sni string) string {
	t.Helper()
	cli, srv := net.Pipe()
	defer cli.Close()
	go func() {
		s := tls.Server(srv, &tls.Config{GetCertificate: store.getCertificate})
		_ = s.Handshake()
		s.Close()
	}()
	c := tls.Client(cli, &tls.Config{ServerName: sni, InsecureSkipVerify: true})
	if err := c.Handshake(); err != nil {
		t.Fatalf("handshake for %q: %v", sni, err)
	}
	return c.ConnectionState().PeerCertificates[0].Subject.CommonName
}

func TestCertificateBySNI(t *testing.T) {
	fallback, err := selfSigned(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	src := fakeSource{secrets: map[string]*corev1.Secret{
		"ns/a":      tlsSecret(t, "ns", "a", "1", "cert-a", "a.example"),
		"ns/wild":   tlsSecret(t, "ns", "wild", "1", "cert-wild", "*.example"),
		"ns/newer":  tlsSecret(t, "ns", "newer", "1", "cert-newer", "a.example"),
		"other/a":   tlsSecret(t, "other", "a", "1", "cert-other-ns", "x.test"),
		"ns/broken": {ObjectMeta: metav1.ObjectMeta{Namespace: "ns", Name: "broken"}, Data: map[string][]byte{corev1.TLSCertKey: []byte("junk")}},
	}}
	older := newIngress("ns", "older", 0)
	older.Spec.TLS = []networkingv1.IngressTLS{
		{Hosts: []string{"a.example"}, SecretName: "a"},
		{Hosts: []string{"*.example"}, SecretName: "wild"},
		{Hosts: []string{"broken.test"}, SecretName: "broken"},
		{Hosts: []string{"missing.test"}, SecretName: "missing"},
	}
	newer := newIngress("ns", "newer", 10)
	newer.Spec.TLS = []networkingv1.IngressTLS{{Hosts: []string{"a.example", "b.test"}, SecretName: "newer"}}
	store := &certStore{fallback: fallback}
	problems := store.build([]*networkingv1.Ingress{newer, older}, src)
	if len(problems) != 2 {
		t.Errorf("problems = %v, want the broken and the missing secret", problems)
	}
	tests := []struct{ sni, want string }{
		{"a.example", "cert-a"},    // exact; the older Ingress wins
		{"A.Example", "cert-a"},    // names are case-insensitive
		{"c.example", "cert-wild"}, // wildcard
		{"x.c.example", fallbackCommonName},
		{"b.test", "cert-newer"},
		{"broken.test", fallbackCommonName},
		{"missing.test", fallbackCommonName},
		{"x.test", fallbackCommonName}, // a secret of another namespace is not used
		{"", fallbackCommonName},       // no SNI
	}
	for _, tt := range tests {
		t.Run(tt.sni, func(t *testing.T) {
			if got := handshakeCN(t, store, tt.sni); got != tt.want {
				t.Errorf("SNI %q got certificate %q, want %q", tt.sni, got, tt.want)
			}
		})
	}

	// A Secret update (new resourceVersion) replaces the certificate.
	src.secrets["ns/a"] = tlsSecret(t, "ns", "a", "2", "cert-a-renewed", "a.example")
	store.build([]*networkingv1.Ingress{newer, older}, src)
	if got := handshakeCN(t, store, "a.example"); got != "cert-a-renewed" {
		t.Errorf("after the secret changed: %q, want cert-a-renewed", got)
	}
	// An entry without hosts serves names without a certificate of their own.
	catchAll := newIngress("ns", "catchall", 20)
	catchAll.Spec.TLS = []networkingv1.IngressTLS{{SecretName: "newer"}}
	store.build([]*networkingv1.Ingress{catchAll}, src)
	if got := handshakeCN(t, store, "anything.test"); got != "cert-newer" {
		t.Errorf("entry without hosts: %q, want cert-newer", got)
	}
}
