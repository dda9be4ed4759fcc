package auth

import (
	"errors"
	"testing"
)

func TestParseBearer(t *testing.T) {
	tests := []struct {
		header  string
		want    string
		wantErr error
	}{
		{header: "", wantErr: ErrUnauthenticated},
		{header: "   ", wantErr: ErrUnauthenticated},
		{header: "Basic dXNlcjpwYXNz", wantErr: ErrUnauthenticated},
		{header: "Bearerabc", wantErr: ErrUnauthenticated},
		{header: "Bearer abc", want: "abc"},
		{header: "bearer abc", want: "abc"},
		{header: "BEARER\tabc", want: "abc"},
		{header: " Bearer   abc  ", want: "abc"},
		{header: "Bearer eyJhbGciOi.eyJzdWIi.sig-_+/=", want: "eyJhbGciOi.eyJzdWIi.sig-_+/="},
		{header: "Bearer", wantErr: ErrInvalidCredentials},
		{header: "Bearer    ", wantErr: ErrInvalidCredentials},
		{header: "Bearer abc def", wantErr: ErrInvalidCredentials},
		{header: "Bearer abc\x00", wantErr: ErrInvalidCredentials},
		{header: "Bearer tökén", wantErr: ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.header, func(t *testing.T) {
			got, err := parseBearer(tt.header)
			if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil && err != nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if got != tt.want {
				t.Errorf("token = %q, want %q", got, tt.want)
			}
		})
	}
}

// FuzzParseBearer checks that parsing never panics, that every error is one
// of the two sentinels, and that an accepted token is well formed and reads
// back the same when put in a canonical header. Seeds: testdata/fuzz.
func FuzzParseBearer(f *testing.F) {
	f.Fuzz(func(t *testing.T, header string) {
		token, err := parseBearer(header)
		if err != nil {
			if !errors.Is(err, ErrUnauthenticated) && !errors.Is(err, ErrInvalidCredentials) {
				t.Fatalf("unexpected error class: %v", err)
			}
			if token != "" {
				t.Fatalf("token %q returned with error", token)
			}
			return
		}
		if verr := validateToken(token); verr != nil {
			t.Fatalf("accepted invalid token %q: %v", token, verr)
		}
		again, err := parseBearer("Bearer " + token)
		if err != nil || again != token {
			t.Fatalf("round trip of %q = %q, %v", token, again, err)
		}
	})
}
