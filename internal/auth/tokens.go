package auth

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/csv"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
)

// tokenFileHeader is the first line of a token file written by TokenStore.
const tokenFileHeader = "# token,user,uid,groups — written by gantry; groups are comma-separated in one quoted field\n"

// TokenStore maps bearer tokens to users. Persistent tokens live in a CSV
// file with one "token,user,uid,groups" record per line (uid and groups
// optional, groups comma-separated within one quoted field, '#' starts a
// comment line); ephemeral tokens such as the loopback token live only in
// memory. It is safe for concurrent use.
type TokenStore struct {
	path string

	// writeMu serialises mutations together with their file writes, so the
	// file always reflects the latest mutation.
	writeMu sync.Mutex
	// mu guards entries; lookups take only the read lock.
	mu      sync.RWMutex
	entries map[[sha256.Size]byte]tokenEntry
}

type tokenEntry struct {
	token   string
	user    User
	persist bool
}

var _ Authenticator = (*TokenStore)(nil)

// OpenTokenStore returns a store backed by the token file at path, loading
// the tokens already in it. A missing file is an empty store; the file is
// created (mode 0600) by the first Add. An empty path gives a memory-only
// store. A malformed file is an error wrapping ErrInvalidTokenFile.
func OpenTokenStore(path string) (*TokenStore, error) {
	s := &TokenStore{path: path, entries: map[[sha256.Size]byte]tokenEntry{}}
	if path == "" {
		return s, nil
	}
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return s, nil
	}
	if err != nil {
		return nil, fmt.Errorf("auth: open token file: %w", err)
	}
	defer f.Close()
	if err := s.load(f); err != nil {
		return nil, fmt.Errorf("%w: %s: %w", ErrInvalidTokenFile, path, err)
	}
	return s, nil
}

func (s *TokenStore) load(r io.Reader) error {
	cr := csv.NewReader(r)
	cr.Comment = '#'
	cr.FieldsPerRecord = -1
	cr.TrimLeadingSpace = true
	for {
		rec, err := cr.Read()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
		line, _ := cr.FieldPos(0)
		if len(rec) < 2 || len(rec) > 4 {
			return fmt.Errorf("line %d: want token,user[,uid[,groups]], got %d fields", line, len(rec))
		}
		token := strings.TrimSpace(rec[0])
		u := User{Name: strings.TrimSpace(rec[1])}
		if len(rec) > 2 {
			u.UID = strings.TrimSpace(rec[2])
		}
		if len(rec) > 3 {
			for _, g := range strings.Split(rec[3], ",") {
				if g = strings.TrimSpace(g); g != "" {
					u.Groups = append(u.Groups, g)
				}
			}
		}
		if err := validateEntry(token, u); err != nil {
			return fmt.Errorf("line %d: %w", line, err)
		}
		key := sha256.Sum256([]byte(token))
		if _, dup := s.entries[key]; dup {
			return fmt.Errorf("line %d: duplicate token for user %q", line, u.Name)
		}
		s.entries[key] = tokenEntry{token: token, user: u, persist: true}
	}
}

func validateEntry(token string, u User) error {
	if err := validateToken(token); err != nil {
		return err
	}
	if strings.HasPrefix(token, "#") {
		// It would read back as a comment line.
		return fmt.Errorf("%w: token file entries cannot start with '#'", ErrInvalidToken)
	}
	if strings.TrimSpace(u.Name) == "" {
		return errors.New("auth: token user has no name")
	}
	return nil
}

// Path returns the token file, or "" for a memory-only store.
func (s *TokenStore) Path() string { return s.path }

// Add maps token to u, replacing any previous mapping of token, and rewrites
// the token file atomically. If the write fails the store is unchanged.
func (s *TokenStore) Add(token string, u User) error {
	return s.put(token, u, true)
}

// AddEphemeral maps token to u in memory only; the token is never written
// to the file. Use it for tokens that have their own file (the join token)
// or live for one process (the loopback token).
func (s *TokenStore) AddEphemeral(token string, u User) error {
	return s.put(token, u, false)
}

// Remove deletes token. Removing an unknown token is not an error.
func (s *TokenStore) Remove(token string) error {
	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	old, ok := s.entries[key]
	delete(s.entries, key)
	s.mu.Unlock()
	if !ok || !old.persist {
		return nil
	}
	if err := s.persist(); err != nil {
		s.mu.Lock()
		s.entries[key] = old
		s.mu.Unlock()
		return err
	}
	return nil
}

func (s *TokenStore) put(token string, u User, persist bool) error {
	if err := validateEntry(token, u); err != nil {
		return err
	}
	u.Groups = slices.Clone(u.Groups)
	for _, g := range u.Groups {
		if strings.TrimSpace(g) == "" || strings.Contains(g, ",") {
			return fmt.Errorf("auth: invalid group %q for user %q", g, u.Name)
		}
	}

	s.writeMu.Lock()
	defer s.writeMu.Unlock()
	key := sha256.Sum256([]byte(token))
	s.mu.Lock()
	old, had := s.entries[key]
	s.entries[key] = tokenEntry{token: token, user: u, persist: persist}
	s.mu.Unlock()
	if !persist && !(had && old.persist) {
		return nil
	}
	if err := s.persist(); err != nil {
		s.mu.Lock()
		if had {
			s.entries[key] = old
		} else {
			delete(s.entries, key)
		}
		s.mu.Unlock()
		return err
	}
	return nil
}

// persist writes the persistent entries to the file. The caller holds
// writeMu.
func (s *TokenStore) persist() error {
	if s.path == "" {
		return nil
	}
	s.mu.RLock()
	var recs []tokenEntry
	for _, e := range s.entries {
		if e.persist {
			recs = append(recs, e)
		}
	}
	s.mu.RUnlock()
	slices.SortFunc(recs, func(a, b tokenEntry) int {
		if c := strings.Compare(a.user.Name, b.user.Name); c != 0 {
			return c
		}
		return strings.Compare(a.token, b.token)
	})

	var buf bytes.Buffer
	buf.WriteString(tokenFileHeader)
	w := csv.NewWriter(&buf)
	for _, e := range recs {
		rec := []string{e.token, e.user.Name, e.user.UID}
		if len(e.user.Groups) > 0 {
			rec = append(rec, strings.Join(e.user.Groups, ","))
		}
		if err := w.Write(rec); err != nil {
			return fmt.Errorf("auth: encode token file: %w", err)
		}
	}
	w.Flush()
	if err := w.Error(); err != nil {
		return fmt.Errorf("auth: encode token file: %w", err)
	}
	if err := ensureDir(filepath.Dir(s.path)); err != nil {
		return err
	}
	return writeFileAtomic(s.path, buf.Bytes(), 0o600)
}

// Lookup returns the user token maps to. The comparison of the token itself
// is constant-time; the map is keyed by the token's SHA-256, so lookup timing
// reveals nothing about stored tokens.
func (s *TokenStore) Lookup(token string) (User, bool) {
	key := sha256.Sum256([]byte(token))
	s.mu.RLock()
	e, ok := s.entries[key]
	s.mu.RUnlock()
	if !ok || subtle.ConstantTimeCompare([]byte(e.token), []byte(token)) != 1 {
		return User{}, false
	}
	u := e.user
	u.Groups = slices.Clone(u.Groups)
	return u, true
}

// Authenticate implements Authenticator for "Authorization: Bearer <token>".
func (s *TokenStore) Authenticate(r *http.Request) (*User, error) {
	token, err := parseBearer(r.Header.Get("Authorization"))
	if err != nil {
		return nil, err
	}
	u, ok := s.Lookup(token)
	if !ok {
		return nil, fmt.Errorf("%w: unknown bearer token", ErrInvalidCredentials)
	}
	u.Groups = withAuthenticated(u.Groups)
	return &u, nil
}

// GenerateToken returns 32 random bytes, hex-encoded (64 characters).
func GenerateToken() (string, error) {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("auth: generate token: %w", err)
	}
	return hex.EncodeToString(b), nil
}

// LoadOrCreateTokenFile returns the token stored in the file at path (one
// token, surrounding whitespace ignored), generating it and writing the file
// with mode 0600 if it is missing or empty. Use it for the server's join
// token (DATA_DIR/token). A file holding an invalid token is an error
// wrapping ErrInvalidToken and is left untouched.
func LoadOrCreateTokenFile(path string) (string, error) {
	data, err := os.ReadFile(path)
	switch {
	case err == nil:
		if token := strings.TrimSpace(string(data)); token != "" {
			if err := validateToken(token); err != nil {
				return "", fmt.Errorf("auth: token file %s: %w", path, err)
			}
			return token, nil
		}
	case !errors.Is(err, fs.ErrNotExist):
		return "", fmt.Errorf("auth: read token file: %w", err)
	}
	token, err := GenerateToken()
	if err != nil {
		return "", err
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return "", err
	}
	if err := writeFileAtomic(path, []byte(token+"\n"), 0o600); err != nil {
		return "", err
	}
	return token, nil
}
