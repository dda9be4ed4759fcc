package auth

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"

	"k8s.io/client-go/tools/clientcmd"
)

func TestWriteKubeconfig(t *testing.T) {
	p, _ := newTestPKI(t, PKIOptions{})
	certPEM, keyPEM := p.AdminCredentials()
	const server = "https://127.0.0.1:6443"

	tests := []struct {
		name     string
		existing []byte // file content before the write, with mode 0644
		write    func(path string) error
		check    func(t *testing.T, path string)
	}{
		{
			name:  "client certificate",
			write: func(path string) error { return WriteKubeconfig(path, server, p.CAPEM(), certPEM, keyPEM) },
			check: func(t *testing.T, path string) {
				cfg, err := clientcmd.LoadFromFile(path)
				if err != nil {
					t.Fatal(err)
				}
				ai := cfg.AuthInfos["gantry"]
				if ai == nil || !bytes.Equal(ai.ClientCertificateData, certPEM) || !bytes.Equal(ai.ClientKeyData, keyPEM) {
					t.Errorf("user gantry = %+v", ai)
				}
			},
		},
		{
			name:     "token replaces a world-readable file",
			existing: []byte("old content"),
			write:    func(path string) error { return WriteTokenKubeconfig(path, server, p.CAPEM(), "tok123") },
			check: func(t *testing.T, path string) {
				rc, err := clientcmd.BuildConfigFromFlags("", path)
				if err != nil {
					t.Fatal(err)
				}
				if rc.BearerToken != "tok123" || rc.Host != server || !bytes.Equal(rc.CAData, p.CAPEM()) {
					t.Errorf("rest config = host %q token %q", rc.Host, rc.BearerToken)
				}
			},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := filepath.Join(t.TempDir(), "nested", "dir")
			path := filepath.Join(dir, "admin.kubeconfig")
			if tt.existing != nil {
				if err := os.MkdirAll(dir, 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(path, tt.existing, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			if err := tt.write(path); err != nil {
				t.Fatal(err)
			}
			if got := fileMode(t, path); got != 0o600 {
				t.Errorf("mode = %o, want 600", got)
			}
			cfg, err := clientcmd.LoadFromFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if cfg.CurrentContext != "gantry" {
				t.Errorf("current-context = %q", cfg.CurrentContext)
			}
			ctx := cfg.Contexts["gantry"]
			if ctx == nil || ctx.Cluster != "gantry" || ctx.AuthInfo != "gantry" {
				t.Errorf("context gantry = %+v", ctx)
			}
			cl := cfg.Clusters["gantry"]
			if cl == nil || cl.Server != server || !bytes.Equal(cl.CertificateAuthorityData, p.CAPEM()) {
				t.Errorf("cluster gantry = %+v", cl)
			}
			if err := clientcmd.Validate(*cfg); err != nil {
				t.Errorf("validate: %v", err)
			}
			tt.check(t, path)
			entries, _ := os.ReadDir(dir)
			if len(entries) != 1 {
				t.Errorf("directory holds %d files, want 1 (temp file left?)", len(entries))
			}
		})
	}
}

func TestWriteKubeconfigErrors(t *testing.T) {
	p, _ := newTestPKI(t, PKIOptions{})
	certPEM, keyPEM := p.AdminCredentials()
	ca := p.CAPEM()
	path := filepath.Join(t.TempDir(), "kubeconfig")
	tests := []struct {
		name  string
		write func() error
	}{
		{"no server", func() error { return WriteKubeconfig(path, "", ca, certPEM, keyPEM) }},
		{"no CA", func() error { return WriteKubeconfig(path, "https://x", nil, certPEM, keyPEM) }},
		{"no key", func() error { return WriteKubeconfig(path, "https://x", ca, certPEM, nil) }},
		{"no path", func() error { return WriteTokenKubeconfig("", "https://x", ca, "t") }},
		{"empty token", func() error { return WriteTokenKubeconfig(path, "https://x", ca, "") }},
		{"token with newline", func() error { return WriteTokenKubeconfig(path, "https://x", ca, "a\nb") }},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := tt.write(); err == nil {
				t.Fatal("want error")
			}
			if _, err := os.Stat(path); err == nil {
				t.Fatal("file written despite error")
			}
		})
	}
}
