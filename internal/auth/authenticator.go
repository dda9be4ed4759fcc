package auth

import (
	"context"
	"errors"
	"net/http"
	"slices"
)

// User is an authenticated identity. Groups always include
// GroupAuthenticated when the user came from an Authenticator in this
// package.
type User struct {
	Name   string
	UID    string
	Groups []string
	// Extra holds what else the credential says about the user, as
	// Kubernetes' user.Info does (a service account token's ID and the
	// pod it is bound to); nil for most users.
	Extra map[string][]string
}

// Authenticator identifies the user behind a request.
type Authenticator interface {
	// Authenticate returns the user who sent r. It returns an error wrapping
	// ErrUnauthenticated when r carries no credentials this authenticator
	// understands, and one wrapping ErrInvalidCredentials when it carries
	// credentials that are malformed, unknown or untrusted. It does not
	// modify r and is safe for concurrent use.
	Authenticate(r *http.Request) (*User, error)
}

// AuthenticatorFunc adapts a function to Authenticator.
type AuthenticatorFunc func(r *http.Request) (*User, error)

// Authenticate calls f(r).
func (f AuthenticatorFunc) Authenticate(r *http.Request) (*User, error) { return f(r) }

// Chain tries each authenticator in order and returns the first user found.
// If none succeeds it returns the first error that is not
// ErrUnauthenticated (bad credentials win over missing ones, so a client with
// a wrong token learns that it was wrong), or ErrUnauthenticated.
type Chain []Authenticator

var _ Authenticator = Chain(nil)

// Authenticate implements Authenticator.
func (c Chain) Authenticate(r *http.Request) (*User, error) {
	var firstErr error
	for _, a := range c {
		u, err := a.Authenticate(r)
		if err == nil {
			if u == nil {
				// An authenticator that returns neither a user nor an error is
				// broken; never let that through as anonymous access.
				continue
			}
			return u, nil
		}
		if firstErr == nil && !errors.Is(err, ErrUnauthenticated) {
			firstErr = err
		}
	}
	if firstErr != nil {
		return nil, firstErr
	}
	return nil, ErrUnauthenticated
}

// withAuthenticated returns a copy of groups with GroupAuthenticated added
// once, so callers never share the authenticator's slices.
func withAuthenticated(groups []string) []string {
	out := make([]string, 0, len(groups)+1)
	for _, g := range groups {
		if g != "" && !slices.Contains(out, g) {
			out = append(out, g)
		}
	}
	if !slices.Contains(out, GroupAuthenticated) {
		out = append(out, GroupAuthenticated)
	}
	return out
}

type userKey struct{}

// WithUser returns a copy of ctx carrying u.
func WithUser(ctx context.Context, u *User) context.Context {
	return context.WithValue(ctx, userKey{}, u)
}

// UserFrom returns the user stored by WithUser, if any.
func UserFrom(ctx context.Context) (*User, bool) {
	u, ok := ctx.Value(userKey{}).(*User)
	return u, ok && u != nil
}
