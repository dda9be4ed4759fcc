package auth

import (
	"fmt"
	"strings"
)

// parseBearer extracts the token from an Authorization header value. It
// returns ErrUnauthenticated when the header is empty or uses another scheme
// (Basic, Negotiate, …), and ErrInvalidCredentials when it uses the Bearer
// scheme (case-insensitive, RFC 7235) with an empty or malformed token.
func parseBearer(header string) (string, error) {
	h := strings.Trim(header, " \t")
	if h == "" {
		return "", ErrUnauthenticated
	}
	scheme, rest := h, ""
	if i := strings.IndexAny(h, " \t"); i >= 0 {
		scheme, rest = h[:i], h[i+1:]
	}
	if !strings.EqualFold(scheme, "bearer") {
		return "", ErrUnauthenticated
	}
	token := strings.TrimLeft(rest, " \t")
	if err := validateToken(token); err != nil {
		return "", fmt.Errorf("%w: bearer token: %w", ErrInvalidCredentials, err)
	}
	return token, nil
}

// validateToken accepts non-empty tokens of visible ASCII characters, which
// covers hex, base64, base64url and JWTs, and is what an Authorization header
// and the token file can carry unambiguously.
func validateToken(token string) error {
	if token == "" {
		return fmt.Errorf("%w: empty", ErrInvalidToken)
	}
	for i := 0; i < len(token); i++ {
		if c := token[i]; c < 0x21 || c > 0x7e {
			return fmt.Errorf("%w: byte %#x at offset %d", ErrInvalidToken, c, i)
		}
	}
	return nil
}
