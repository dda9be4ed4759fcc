package auth

import (
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"testing"
)

// pkiFiles are the files LoadOrCreatePKI keeps, with their modes.
var pkiFiles = map[string]fs.FileMode{
	CACertFile:      0o644,
	CAKeyFile:       0o600,
	ServingCertFile: 0o644,
	ServingKeyFile:  0o600,
	AdminCertFile:   0o644,
	AdminKeyFile:    0o600,
}

func newTestPKI(t *testing.T, opts PKIOptions) (*PKI, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "tls")
	p, err := LoadOrCreatePKI(dir, opts)
	if err != nil {
		t.Fatalf("LoadOrCreatePKI: %v", err)
	}
	return p, dir
}

// readFiles returns the contents of the PKI files in dir; missing files are
// nil.
func readFiles(t *testing.T, dir string) map[string][]byte {
	t.Helper()
	out := map[string][]byte{}
	for name := range pkiFiles {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil && !errors.Is(err, fs.ErrNotExist) {
			t.Fatalf("read %s: %v", name, err)
		}
		out[name] = b
	}
	return out
}

func fileMode(t *testing.T, path string) fs.FileMode {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatalf("stat: %v", err)
	}
	return fi.Mode().Perm()
}

func parseCertPEM(t *testing.T, data []byte) *x509.Certificate {
	t.Helper()
	block, _ := pem.Decode(data)
	if block == nil || block.Type != "CERTIFICATE" {
		t.Fatalf("no CERTIFICATE PEM block in %q", data)
	}
	c, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatalf("parse certificate: %v", err)
	}
	return c
}

func readCert(t *testing.T, path string) *x509.Certificate {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return parseCertPEM(t, b)
}

func writeFile(t *testing.T, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}
