package auth

import (
	"errors"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
)

func TestTokenStoreAuthenticate(t *testing.T) {
	s, err := OpenTokenStore("")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("good-token", User{Name: "agent-1", UID: "u1", Groups: []string{"system:nodes"}}); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name    string
		header  string
		want    *User
		wantErr error
	}{
		{name: "missing", wantErr: ErrUnauthenticated},
		{name: "other scheme", header: "Basic Z29vZC10b2tlbg==", wantErr: ErrUnauthenticated},
		{name: "good", header: "Bearer good-token",
			want: &User{Name: "agent-1", UID: "u1", Groups: []string{"system:nodes", GroupAuthenticated}}},
		{name: "bad", header: "Bearer bad-token", wantErr: ErrInvalidCredentials},
		{name: "prefix of good", header: "Bearer good-toke", wantErr: ErrInvalidCredentials},
		{name: "empty", header: "Bearer ", wantErr: ErrInvalidCredentials},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/api", nil)
			if tt.header != "" {
				r.Header.Set("Authorization", tt.header)
			}
			u, err := s.Authenticate(r)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || u != nil {
					t.Fatalf("got %v, %v; want error %v", u, err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if u.Name != tt.want.Name || u.UID != tt.want.UID || !slices.Equal(u.Groups, tt.want.Groups) {
				t.Errorf("user = %+v, want %+v", u, tt.want)
			}
		})
	}
}

func TestTokenStorePersistence(t *testing.T) {
	path := filepath.Join(t.TempDir(), "data", "tokens.csv")
	s, err := OpenTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(path); err == nil {
		t.Fatal("opening created the file")
	}
	alice := User{Name: "alice", UID: "u-1", Groups: []string{"dev", "ops"}}
	for _, step := range []func() error{
		func() error { return s.Add("tok-alice", alice) },
		func() error { return s.Add("tok,bob", User{Name: "bob, jr"}) },
		func() error { return s.Add("tok-gone", User{Name: "carol"}) },
		func() error { return s.Remove("tok-gone") },
		func() error { return s.AddEphemeral("tok-loopback", User{Name: "system:apiserver"}) },
	} {
		if err := step(); err != nil {
			t.Fatal(err)
		}
	}
	if got := fileMode(t, path); got != 0o600 {
		t.Errorf("mode = %o, want 600", got)
	}
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), "loopback") || strings.Contains(string(data), "carol") {
		t.Errorf("file holds ephemeral or removed tokens:\n%s", data)
	}

	reloaded, err := OpenTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		token string
		want  *User
	}{
		{"tok-alice", &alice},
		{"tok,bob", &User{Name: "bob, jr"}},
		{"tok-gone", nil},
		{"tok-loopback", nil},
	}
	for _, tt := range tests {
		u, ok := reloaded.Lookup(tt.token)
		if ok != (tt.want != nil) {
			t.Errorf("Lookup(%q) found = %v, want %v", tt.token, ok, tt.want != nil)
			continue
		}
		if ok && (u.Name != tt.want.Name || u.UID != tt.want.UID || !slices.Equal(u.Groups, tt.want.Groups)) {
			t.Errorf("Lookup(%q) = %+v, want %+v", tt.token, u, tt.want)
		}
	}

	// Turning a persistent token into an ephemeral one drops it from the file.
	if err := reloaded.AddEphemeral("tok-alice", alice); err != nil {
		t.Fatal(err)
	}
	again, err := OpenTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := again.Lookup("tok-alice"); ok {
		t.Error("ephemeral replacement still persisted")
	}
}

func TestTokenStoreLookupReturnsCopy(t *testing.T) {
	s, _ := OpenTokenStore("")
	if err := s.Add("t", User{Name: "u", Groups: []string{"g"}}); err != nil {
		t.Fatal(err)
	}
	u, _ := s.Lookup("t")
	u.Groups[0] = "system:masters"
	if u2, _ := s.Lookup("t"); u2.Groups[0] != "g" {
		t.Fatal("caller mutated the store")
	}
}

func TestTokenStoreAddRollsBackOnWriteError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "tokens.csv")
	s, err := OpenTokenStore(path)
	if err != nil {
		t.Fatal(err)
	}
	// A directory in the file's place makes the rename fail.
	if err := os.Mkdir(path, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := s.Add("t", User{Name: "u"}); err == nil {
		t.Fatal("Add succeeded although the file cannot be written")
	}
	if _, ok := s.Lookup("t"); ok {
		t.Error("token stayed in memory after a failed write")
	}
}

func TestTokenStoreInvalidInput(t *testing.T) {
	s, _ := OpenTokenStore("")
	tests := []struct {
		name  string
		token string
		user  User
	}{
		{"empty token", "", User{Name: "u"}},
		{"token with space", "a b", User{Name: "u"}},
		{"comment token", "#abc", User{Name: "u"}},
		{"no user name", "t", User{}},
		{"group with comma", "t", User{Name: "u", Groups: []string{"a,b"}}},
		{"empty group", "t", User{Name: "u", Groups: []string{""}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := s.Add(tt.token, tt.user); err == nil {
				t.Error("want error")
			}
		})
	}
}

func TestOpenTokenStoreFile(t *testing.T) {
	tests := []struct {
		name    string
		content string
		want    map[string]User // token → user; nil when an error is expected
	}{
		{
			name: "hand written",
			content: "# static tokens\n" +
				"tok1,alice,uid1,\"g1, g2\"\n" +
				"tok2, bob\n" +
				"\n" +
				"tok3,carol,,\n",
			want: map[string]User{
				"tok1": {Name: "alice", UID: "uid1", Groups: []string{"g1", "g2"}},
				"tok2": {Name: "bob"},
				"tok3": {Name: "carol"},
			},
		},
		{name: "empty file", content: "", want: map[string]User{}},
		{name: "token only", content: "tok1\n"},
		{name: "too many fields", content: "tok1,a,b,c,d\n"},
		{name: "no user", content: "tok1,\n"},
		{name: "duplicate", content: "tok1,a\ntok1,b\n"},
		{name: "token with space", content: "to k,a\n"},
		{name: "broken quote", content: "tok1,\"a\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "tokens.csv")
			writeFile(t, path, []byte(tt.content))
			s, err := OpenTokenStore(path)
			if tt.want == nil {
				if !errors.Is(err, ErrInvalidTokenFile) {
					t.Fatalf("err = %v, want ErrInvalidTokenFile", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for token, want := range tt.want {
				got, ok := s.Lookup(token)
				if !ok || got.Name != want.Name || got.UID != want.UID || !slices.Equal(got.Groups, want.Groups) {
					t.Errorf("Lookup(%q) = %+v, %v; want %+v", token, got, ok, want)
				}
			}
		})
	}
}

func TestTokenStoreConcurrent(t *testing.T) {
	s, err := OpenTokenStore(filepath.Join(t.TempDir(), "tokens.csv"))
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Add("stable", User{Name: "stable"}); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			for j := range 20 {
				tok := strings.Repeat("x", i+1) + string(rune('a'+j))
				if err := s.Add(tok, User{Name: "w"}); err != nil {
					t.Error(err)
				}
				if err := s.AddEphemeral(tok+"-e", User{Name: "w"}); err != nil {
					t.Error(err)
				}
			}
		})
		wg.Go(func() {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Authorization", "Bearer stable")
			for range 200 {
				if u, err := s.Authenticate(r); err != nil || u.Name != "stable" {
					t.Errorf("Authenticate = %v, %v", u, err)
					return
				}
			}
		})
	}
	wg.Wait()
	reloaded, err := OpenTokenStore(s.Path())
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		for j := range 20 {
			if _, ok := reloaded.Lookup(strings.Repeat("x", i+1) + string(rune('a'+j))); !ok {
				t.Errorf("token %d/%d lost from the file", i, j)
			}
		}
	}
}

func TestGenerateToken(t *testing.T) {
	seen := map[string]bool{}
	hex64 := regexp.MustCompile(`^[0-9a-f]{64}$`)
	for range 100 {
		tok, err := GenerateToken()
		if err != nil {
			t.Fatal(err)
		}
		if !hex64.MatchString(tok) {
			t.Fatalf("token %q is not 64 hex characters", tok)
		}
		if seen[tok] {
			t.Fatalf("duplicate token %q", tok)
		}
		seen[tok] = true
	}
}

func TestLoadOrCreateTokenFile(t *testing.T) {
	tests := []struct {
		name     string
		existing *string
		want     string // "" means a newly generated token
		wantErr  error
	}{
		{name: "missing"},
		{name: "empty file", existing: ptr("\n")},
		{name: "existing with whitespace", existing: ptr("  K10abc::server:def \n"), want: "K10abc::server:def"},
		{name: "invalid", existing: ptr("two words\n"), wantErr: ErrInvalidToken},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "server", "token")
			if tt.existing != nil {
				if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
					t.Fatal(err)
				}
				writeFile(t, path, []byte(*tt.existing))
			}
			tok, err := LoadOrCreateTokenFile(path)
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if b, _ := os.ReadFile(path); string(b) != *tt.existing {
					t.Error("invalid token file was modified")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if tt.want != "" && tok != tt.want {
				t.Errorf("token = %q, want %q", tok, tt.want)
			}
			if tt.want == "" {
				if len(tok) != 64 {
					t.Errorf("generated token %q", tok)
				}
				if got := fileMode(t, path); got != 0o600 {
					t.Errorf("mode = %o, want 600", got)
				}
			}
			again, err := LoadOrCreateTokenFile(path)
			if err != nil || again != tok {
				t.Errorf("second load = %q, %v; want %q", again, err, tok)
			}
		})
	}
}

func ptr[T any](v T) *T { return &v }
