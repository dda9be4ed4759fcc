package auth

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestJoinTokenRoundTrip(t *testing.T) {
	p, _ := newTestPKI(t, PKIOptions{})
	tok := NewJoinToken(p.CAFingerprint(), "s3cret")
	if strings.HasPrefix(tok.String(), "sha256:") || !strings.HasSuffix(tok.String(), "::s3cret") {
		t.Fatalf("token %q, want <hex>::s3cret", tok)
	}
	got, err := ParseJoinToken(" " + tok.String() + "\n")
	if err != nil {
		t.Fatal(err)
	}
	if got != tok {
		t.Fatalf("parsed %+v, want %+v", got, tok)
	}
	if !got.MatchesCA(p.CACertificate()) {
		t.Error("token does not match its own CA")
	}
	other, _ := newTestPKI(t, PKIOptions{})
	if got.MatchesCA(other.CACertificate()) {
		t.Error("token matches another CA")
	}
	// The "sha256:" prefix of CAFingerprint is accepted on input.
	if got, err := ParseJoinToken(p.CAFingerprint() + "::s3cret"); err != nil || got != tok {
		t.Errorf("with sha256: prefix: %+v, %v", got, err)
	}
}

func TestParseJoinTokenErrors(t *testing.T) {
	hash := strings.Repeat("ab", 32)
	tests := []struct{ name, in string }{
		{"bare secret", "s3cret"},
		{"empty", ""},
		{"short hash", "abcd::s3cret"},
		{"not hex", strings.Repeat("zz", 32) + "::s3cret"},
		{"empty secret", hash + "::"},
		{"space in secret", hash + "::a b"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := ParseJoinToken(tt.in); !errors.Is(err, ErrInvalidToken) {
				t.Errorf("ParseJoinToken(%q) = %v, want ErrInvalidToken", tt.in, err)
			}
		})
	}
}

func TestWriteJoinTokenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "join-token")
	tok := JoinToken{CAHash: strings.Repeat("0f", 32), Secret: "s3cret"}
	if err := WriteJoinTokenFile(path, tok); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want 0600", fi.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if got, err := ParseJoinToken(string(b)); err != nil || got != tok {
		t.Errorf("file holds %q: %+v, %v", b, got, err)
	}
	if err := WriteJoinTokenFile(path, JoinToken{CAHash: "x", Secret: "y"}); !errors.Is(err, ErrInvalidToken) {
		t.Errorf("invalid token written: %v", err)
	}
}
