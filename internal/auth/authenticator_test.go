package auth

import (
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestChain(t *testing.T) {
	alice := &User{Name: "alice"}
	bob := &User{Name: "bob"}
	ok := func(u *User) Authenticator {
		return AuthenticatorFunc(func(*http.Request) (*User, error) { return u, nil })
	}
	fail := func(err error) Authenticator {
		return AuthenticatorFunc(func(*http.Request) (*User, error) { return nil, err })
	}
	none := fail(ErrUnauthenticated)
	bad := fail(fmt.Errorf("%w: unknown bearer token", ErrInvalidCredentials))

	tests := []struct {
		name    string
		chain   Chain
		want    *User
		wantErr error
	}{
		{name: "empty", wantErr: ErrUnauthenticated},
		{name: "first wins", chain: Chain{ok(alice), ok(bob)}, want: alice},
		{name: "skip missing", chain: Chain{none, ok(bob)}, want: bob},
		{name: "bad credentials do not block good ones", chain: Chain{bad, ok(bob)}, want: bob},
		{name: "bad beats missing", chain: Chain{none, bad, none}, wantErr: ErrInvalidCredentials},
		{name: "all missing", chain: Chain{none, none}, wantErr: ErrUnauthenticated},
		{name: "nil user is never anonymous access", chain: Chain{ok(nil)}, wantErr: ErrUnauthenticated},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u, err := tt.chain.Authenticate(httptest.NewRequest("GET", "/", nil))
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || u != nil {
					t.Fatalf("got %v, %v; want %v", u, err, tt.wantErr)
				}
				return
			}
			if err != nil || u != tt.want {
				t.Fatalf("got %v, %v; want %v", u, err, tt.want)
			}
		})
	}
}

func TestUserContext(t *testing.T) {
	ctx := t.Context()
	if _, ok := UserFrom(ctx); ok {
		t.Fatal("user in empty context")
	}
	u := &User{Name: "alice"}
	if got, ok := UserFrom(WithUser(ctx, u)); !ok || got != u {
		t.Fatalf("UserFrom = %v, %v", got, ok)
	}
	if _, ok := UserFrom(WithUser(ctx, nil)); ok {
		t.Fatal("nil user reported as present")
	}
}
