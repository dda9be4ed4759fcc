package auth

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestLoadOrCreatePKIFirstStart(t *testing.T) {
	opts := PKIOptions{
		ServingHosts: []string{"Gantry.Example.com", "192.168.1.10"},
		ServingIPs:   []net.IP{net.ParseIP("10.43.0.1")},
	}
	p, dir := newTestPKI(t, opts)

	if got := fileMode(t, dir); got != 0o700 {
		t.Errorf("dir mode = %o, want 700", got)
	}
	for name, want := range pkiFiles {
		if got := fileMode(t, filepath.Join(dir, name)); got != want {
			t.Errorf("%s mode = %o, want %o", name, got, want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != len(pkiFiles) {
		t.Errorf("dir has %d entries (temp files left?), want %d", len(entries), len(pkiFiles))
	}

	ca := readCert(t, filepath.Join(dir, CACertFile))
	if !ca.IsCA {
		t.Error("ca.crt is not a CA")
	}
	if pub, ok := ca.PublicKey.(*ecdsa.PublicKey); !ok || pub.Curve != elliptic.P256() {
		t.Errorf("CA key is %T, want ECDSA P-256", ca.PublicKey)
	}
	if !bytes.Equal(p.CAPEM(), readFiles(t, dir)[CACertFile]) {
		t.Error("CAPEM differs from ca.crt")
	}
	roots := p.CertPool()

	serving := readCert(t, filepath.Join(dir, ServingCertFile))
	if _, err := serving.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err != nil {
		t.Errorf("serving cert does not verify: %v", err)
	}
	hostname, _ := os.Hostname()
	for _, name := range []string{"localhost", "kubernetes", "kubernetes.default", "kubernetes.default.svc",
		"kubernetes.default.svc.cluster.local", "gantry.example.com", strings.ToLower(hostname)} {
		if !slices.Contains(serving.DNSNames, name) {
			t.Errorf("serving DNS names %v miss %q", serving.DNSNames, name)
		}
	}
	for _, ip := range []string{"127.0.0.1", "::1", "10.43.0.1", "192.168.1.10"} {
		if !slices.ContainsFunc(serving.IPAddresses, net.ParseIP(ip).Equal) {
			t.Errorf("serving IPs %v miss %s", serving.IPAddresses, ip)
		}
	}
	if slices.Contains(serving.DNSNames, "192.168.1.10") {
		t.Error("IP given in ServingHosts ended up as a DNS name")
	}

	admin := readCert(t, filepath.Join(dir, AdminCertFile))
	if admin.Subject.CommonName != UserAdmin || !slices.Equal(admin.Subject.Organization, []string{GroupMasters}) {
		t.Errorf("admin subject = %v", admin.Subject)
	}
	if _, err := admin.Verify(x509.VerifyOptions{Roots: roots, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
		t.Errorf("admin cert does not verify for client auth: %v", err)
	}
	certPEM, keyPEM := p.AdminCredentials()
	files := readFiles(t, dir)
	if !bytes.Equal(certPEM, files[AdminCertFile]) || !bytes.Equal(keyPEM, files[AdminKeyFile]) {
		t.Error("AdminCredentials differ from admin.crt/admin.key")
	}
	if got := p.CAFingerprint(); !strings.HasPrefix(got, "sha256:") || len(got) != len("sha256:")+64 {
		t.Errorf("CAFingerprint = %q", got)
	}
}

func TestLoadOrCreatePKIRestart(t *testing.T) {
	base := PKIOptions{ServingHosts: []string{"a.example.com", "b.example.com"}, ServingIPs: []net.IP{net.ParseIP("10.43.0.1")}}
	_, foreignDir := newTestPKI(t, base)
	foreignFiles := readFiles(t, foreignDir)

	tests := []struct {
		name        string
		first       PKIOptions
		mutate      func(t *testing.T, dir string)
		second      PKIOptions
		wantServing bool // serving cert reissued
		wantAdmin   bool // admin cert reissued
	}{
		{name: "same options", first: base, second: base},
		{name: "subset of names", first: base, second: PKIOptions{ServingHosts: []string{"B.example.com"}}},
		{name: "IP moved between fields", first: base, second: PKIOptions{ServingHosts: []string{"10.43.0.1", "a.example.com"}}},
		{name: "new host", first: base, second: PKIOptions{ServingHosts: []string{"c.example.com"}}, wantServing: true},
		{name: "new IP", first: base, second: PKIOptions{ServingIPs: []net.IP{net.ParseIP("fd00::1")}}, wantServing: true},
		{
			name:  "expires within 30 days",
			first: PKIOptions{ServingHosts: base.ServingHosts, LeafValidity: 10 * 24 * time.Hour}, second: base,
			wantServing: true, wantAdmin: true,
		},
		{
			name: "corrupt serving key", first: base, second: base, wantServing: true,
			mutate: func(t *testing.T, dir string) { writeFile(t, filepath.Join(dir, ServingKeyFile), []byte("garbage")) },
		},
		{
			name: "serving key of another cert", first: base, second: base, wantServing: true,
			mutate: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ServingKeyFile), readFiles(t, dir)[AdminKeyFile])
			},
		},
		{
			name: "serving cert from another CA", first: base, second: base, wantServing: true,
			mutate: func(t *testing.T, dir string) {
				writeFile(t, filepath.Join(dir, ServingCertFile), foreignFiles[ServingCertFile])
				writeFile(t, filepath.Join(dir, ServingKeyFile), foreignFiles[ServingKeyFile])
			},
		},
		{
			name: "admin cert missing", first: base, second: base, wantAdmin: true,
			mutate: func(t *testing.T, dir string) {
				if err := os.Remove(filepath.Join(dir, AdminCertFile)); err != nil {
					t.Fatal(err)
				}
			},
		},
		{
			name: "admin cert with wrong subject", first: base, second: base, wantAdmin: true,
			mutate: func(t *testing.T, dir string) {
				p, err := LoadOrCreatePKI(dir, base)
				if err != nil {
					t.Fatal(err)
				}
				c, k, err := p.IssueClientCert("bob", []string{"system:masters"}, 0)
				if err != nil {
					t.Fatal(err)
				}
				writeFile(t, filepath.Join(dir, AdminCertFile), c)
				writeFile(t, filepath.Join(dir, AdminKeyFile), k)
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := newTestPKI(t, tt.first)
			if tt.mutate != nil {
				tt.mutate(t, dir)
			}
			before := readFiles(t, dir)
			p, err := LoadOrCreatePKI(dir, tt.second)
			if err != nil {
				t.Fatalf("second LoadOrCreatePKI: %v", err)
			}
			after := readFiles(t, dir)

			for _, name := range []string{CACertFile, CAKeyFile} {
				if !bytes.Equal(before[name], after[name]) {
					t.Errorf("%s changed", name)
				}
			}
			for _, c := range []struct {
				crt, key string
				want     bool
			}{{ServingCertFile, ServingKeyFile, tt.wantServing}, {AdminCertFile, AdminKeyFile, tt.wantAdmin}} {
				changed := !bytes.Equal(before[c.crt], after[c.crt])
				if changed != c.want {
					t.Errorf("%s reissued = %v, want %v", c.crt, changed, c.want)
				}
				if changed == bytes.Equal(before[c.key], after[c.key]) {
					t.Errorf("%s changed = %v but %s changed = %v", c.crt, changed, c.key, !changed)
				}
			}

			// Whatever was issued now covers what was asked for and is stable.
			hosts, ips := servingNames(tt.second)
			srv := p.ServingCertificate().Leaf
			for _, h := range hosts {
				if srv.VerifyHostname(h) != nil {
					t.Errorf("serving cert does not cover %s", h)
				}
			}
			for _, ip := range ips {
				if srv.VerifyHostname(ip.String()) != nil {
					t.Errorf("serving cert does not cover %s", ip)
				}
			}
			if _, err := LoadOrCreatePKI(dir, tt.second); err != nil {
				t.Fatal(err)
			}
			for name, b := range readFiles(t, dir) {
				if !bytes.Equal(b, after[name]) {
					t.Errorf("third start changed %s", name)
				}
			}
		})
	}
}

func TestLoadOrCreatePKIInvalidCA(t *testing.T) {
	_, otherDir := newTestPKI(t, PKIOptions{})
	other := readFiles(t, otherDir)
	now := time.Now()
	expiredCert, expiredKey, err := newCA(now.Add(-48*time.Hour), time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	tests := []struct {
		name   string
		mutate func(t *testing.T, dir string)
	}{
		{"key missing", func(t *testing.T, dir string) {
			if err := os.Remove(filepath.Join(dir, CAKeyFile)); err != nil {
				t.Fatal(err)
			}
		}},
		{"corrupt certificate", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, CACertFile), []byte("not PEM"))
		}},
		{"key of another CA", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, CAKeyFile), other[CAKeyFile])
		}},
		{"not a CA", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, CACertFile), other[ServingCertFile])
			writeFile(t, filepath.Join(dir, CAKeyFile), other[ServingKeyFile])
		}},
		{"expired", func(t *testing.T, dir string) {
			writeFile(t, filepath.Join(dir, CACertFile), expiredCert)
			writeFile(t, filepath.Join(dir, CAKeyFile), expiredKey)
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, dir := newTestPKI(t, PKIOptions{})
			tt.mutate(t, dir)
			caBefore, _ := os.ReadFile(filepath.Join(dir, CACertFile))
			keyBefore, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))

			_, err := LoadOrCreatePKI(dir, PKIOptions{})
			if !errors.Is(err, ErrInvalidCA) {
				t.Fatalf("err = %v, want ErrInvalidCA", err)
			}
			caAfter, _ := os.ReadFile(filepath.Join(dir, CACertFile))
			keyAfter, _ := os.ReadFile(filepath.Join(dir, CAKeyFile))
			if !bytes.Equal(caBefore, caAfter) || !bytes.Equal(keyBefore, keyAfter) {
				t.Error("CA files were modified")
			}
		})
	}
}

func TestLoadOrCreatePKIAdoptsProvidedCA(t *testing.T) {
	dir := t.TempDir()
	certPEM, keyPEM, err := newCA(time.Now(), 24*time.Hour*400)
	if err != nil {
		t.Fatal(err)
	}
	writeFile(t, filepath.Join(dir, CACertFile), certPEM)
	writeFile(t, filepath.Join(dir, CAKeyFile), keyPEM)

	p, err := LoadOrCreatePKI(dir, PKIOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(p.CAPEM(), certPEM) {
		t.Fatal("provided CA was replaced")
	}
	// Leaves never outlive the CA.
	if got := p.ServingCertificate().Leaf.NotAfter; got.After(p.CACertificate().NotAfter) {
		t.Errorf("serving cert expires %v, after the CA (%v)", got, p.CACertificate().NotAfter)
	}
}

func TestIssueClientCert(t *testing.T) {
	p, _ := newTestPKI(t, PKIOptions{})
	tests := []struct {
		name     string
		cn       string
		groups   []string
		validity time.Duration
		wantErr  bool
		wantLife time.Duration
	}{
		{name: "agent", cn: "system:node:n1", groups: []string{"system:nodes"}, validity: time.Hour, wantLife: time.Hour},
		{name: "no groups, default validity", cn: "alice", wantLife: DefaultLeafValidity},
		{name: "empty common name", cn: " ", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			start := time.Now()
			certPEM, keyPEM, err := p.IssueClientCert(tt.cn, tt.groups, tt.validity)
			if tt.wantErr {
				if err == nil {
					t.Fatal("want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
				t.Fatalf("key pair: %v", err)
			}
			c := parseCertPEM(t, certPEM)
			if c.Subject.CommonName != tt.cn || !slices.Equal(c.Subject.Organization, tt.groups) {
				t.Errorf("subject = %v", c.Subject)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: p.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth}}); err != nil {
				t.Errorf("verify: %v", err)
			}
			if _, err := c.Verify(x509.VerifyOptions{Roots: p.CertPool(), KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth}}); err == nil {
				t.Error("client certificate is valid for server auth")
			}
			if life := c.NotAfter.Sub(start); life < tt.wantLife-time.Minute || life > tt.wantLife+time.Minute {
				t.Errorf("lifetime = %v, want %v", life, tt.wantLife)
			}
		})
	}
}

func TestServerTLSConfig(t *testing.T) {
	p, _ := newTestPKI(t, PKIOptions{})
	cfg := p.ServerTLSConfig()
	if cfg.MinVersion != tls.VersionTLS12 {
		t.Errorf("MinVersion = %x", cfg.MinVersion)
	}
	if cfg.ClientAuth != tls.VerifyClientCertIfGiven {
		t.Errorf("ClientAuth = %v", cfg.ClientAuth)
	}
	if !slices.Equal(cfg.NextProtos, []string{"h2", "http/1.1"}) {
		t.Errorf("NextProtos = %v", cfg.NextProtos)
	}
	if len(cfg.Certificates) != 1 || !bytes.Equal(cfg.Certificates[0].Certificate[0], p.ServingCertificate().Certificate[0]) {
		t.Error("Certificates is not the serving certificate")
	}
	if !cfg.ClientCAs.Equal(p.CertPool()) {
		t.Error("ClientCAs is not the CA")
	}
	cfg.NextProtos[0] = "changed"
	if p.ServerTLSConfig().NextProtos[0] != "h2" {
		t.Error("configs share state")
	}
}
