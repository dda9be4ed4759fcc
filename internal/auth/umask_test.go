//go:build unix

package auth

import (
	"io/fs"
	"path/filepath"
	"syscall"
	"testing"
)

// TestFileModesIgnoreUmask checks that every file this package writes gets
// its documented mode whatever the umask. The umask is process-wide, so this
// test must not run in parallel with others.
func TestFileModesIgnoreUmask(t *testing.T) {
	for _, umask := range []int{0o000, 0o022, 0o077} {
		t.Run(fs.FileMode(umask).String(), func(t *testing.T) {
			old := syscall.Umask(umask)
			defer syscall.Umask(old)

			dir := t.TempDir()
			p, err := LoadOrCreatePKI(filepath.Join(dir, "tls"), PKIOptions{})
			if err != nil {
				t.Fatal(err)
			}
			c, k := p.AdminCredentials()
			want := map[string]fs.FileMode{
				"admin.kubeconfig": 0o600,
				"token":            0o600,
				"tokens.csv":       0o600,
			}
			if err := WriteKubeconfig(filepath.Join(dir, "admin.kubeconfig"), "https://127.0.0.1:6443", p.CAPEM(), c, k); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadOrCreateTokenFile(filepath.Join(dir, "token")); err != nil {
				t.Fatal(err)
			}
			s, err := OpenTokenStore(filepath.Join(dir, "tokens.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Add("t", User{Name: "u"}); err != nil {
				t.Fatal(err)
			}
			for name, mode := range pkiFiles {
				want[filepath.Join("tls", name)] = mode
			}
			for name, mode := range want {
				if got := fileMode(t, filepath.Join(dir, name)); got != mode {
					t.Errorf("%s mode = %o, want %o", name, got, mode)
				}
			}
		})
	}
}
