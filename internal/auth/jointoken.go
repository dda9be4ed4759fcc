package auth

import (
	"crypto/sha256"
	"crypto/subtle"
	"crypto/x509"
	"encoding/hex"
	"fmt"
	"path/filepath"
	"strings"
)

// JoinToken is what an agent needs to join a cluster: the SHA-256 of the
// cluster CA certificate (hex), which pins the CA the agent fetches from
// the server, and the server's join secret, which the join endpoint
// accepts as a bearer token. Its text form is "<ca-sha256-hex>::<secret>"
// (as k3s' secure tokens, without the K10 prefix).
type JoinToken struct {
	CAHash string
	Secret string
}

// joinTokenSep separates the CA hash from the secret.
const joinTokenSep = "::"

// NewJoinToken returns the join token for a CA fingerprint as
// PKI.CAFingerprint returns it ("sha256:<hex>" or bare hex) and a secret.
func NewJoinToken(caFingerprint, secret string) JoinToken {
	return JoinToken{CAHash: strings.ToLower(strings.TrimPrefix(caFingerprint, "sha256:")), Secret: secret}
}

// String returns the token's text form.
func (t JoinToken) String() string { return t.CAHash + joinTokenSep + t.Secret }

// ParseJoinToken parses "<ca-sha256-hex>::<secret>" (surrounding
// whitespace ignored; the hash may carry a "sha256:" prefix). Anything else
// is an error wrapping ErrInvalidToken.
func ParseJoinToken(s string) (JoinToken, error) {
	hash, secret, ok := strings.Cut(strings.TrimSpace(s), joinTokenSep)
	if !ok {
		return JoinToken{}, fmt.Errorf("%w: a join token has the form <ca-sha256>::<secret> (the server writes it to DATA_DIR/join-token)", ErrInvalidToken)
	}
	t := NewJoinToken(hash, secret)
	if b, err := hex.DecodeString(t.CAHash); err != nil || len(b) != sha256.Size {
		return JoinToken{}, fmt.Errorf("%w: join token: the part before %q is not a SHA-256 in hex", ErrInvalidToken, joinTokenSep)
	}
	if err := validateToken(t.Secret); err != nil {
		return JoinToken{}, fmt.Errorf("join token secret: %w", err)
	}
	return t, nil
}

// MatchesCA reports whether cert is the CA the token pins.
func (t JoinToken) MatchesCA(cert *x509.Certificate) bool {
	sum := sha256.Sum256(cert.Raw)
	return subtle.ConstantTimeCompare([]byte(hex.EncodeToString(sum[:])), []byte(t.CAHash)) == 1
}

// WriteJoinTokenFile writes the token's text form to path (mode 0600,
// atomically), creating the parent directory with mode 0700 if needed.
func WriteJoinTokenFile(path string, t JoinToken) error {
	if _, err := ParseJoinToken(t.String()); err != nil {
		return err
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return err
	}
	return writeFileAtomic(path, []byte(t.String()+"\n"), 0o600)
}
