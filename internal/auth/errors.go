package auth

import "errors"

// Sentinel errors. Callers check them with errors.Is; the messages carry the detail.
var (
	// ErrUnauthenticated means the request carries no credentials that any
	// authenticator understands. The API server answers 401.
	ErrUnauthenticated = errors.New("auth: no credentials provided")
	// ErrInvalidCredentials means the request carries credentials that are
	// malformed, unknown, expired or signed by an untrusted CA. The API server
	// answers 401 too, but the two cases are logged differently.
	ErrInvalidCredentials = errors.New("auth: invalid credentials")
	// ErrInvalidCA means the certificate authority on disk is unusable
	// (missing key, corrupt, not a CA, expired). Gantry never replaces an
	// existing CA on its own, so this needs an operator.
	ErrInvalidCA = errors.New("auth: invalid certificate authority")
	// ErrInvalidToken means a token is empty or contains characters that
	// cannot appear in an "Authorization: Bearer" header.
	ErrInvalidToken = errors.New("auth: invalid token format")
	// ErrInvalidTokenFile means a token file could not be parsed.
	ErrInvalidTokenFile = errors.New("auth: invalid token file")
)
