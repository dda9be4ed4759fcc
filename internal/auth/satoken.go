package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// DefaultServiceAccountIssuer is the issuer (and the default audience) of
// service account tokens, as kubeadm and k3s configure kube-apiserver.
const DefaultServiceAccountIssuer = "https://kubernetes.default.svc.cluster.local"

// Service account identities, as Kubernetes names them.
const (
	ServiceAccountUserPrefix   = "system:serviceaccount:"
	GroupServiceAccounts       = "system:serviceaccounts"
	GroupServiceAccountsPrefix = "system:serviceaccounts:"
)

// ServiceAccountKeyFile is the signing key's file name in the PKI directory.
const ServiceAccountKeyFile = "service-account.key"

// BoundObject names the object a token is bound to: the token is valid
// only while that object exists with that UID.
type BoundObject struct {
	Name string `json:"name"`
	UID  string `json:"uid"`
}

// ServiceAccountClaims is what a service account token says: whose it is,
// what it is bound to, for whom and until when.
type ServiceAccountClaims struct {
	Namespace string
	Name      string // the ServiceAccount's name
	UID       string // the ServiceAccount's UID
	// Pod, Secret and Node are the objects the token is bound to, if any
	// (a pod-bound token issued for a node's agent names both).
	Pod, Secret, Node *BoundObject
	Audiences         []string
	IssuedAt, Expiry  time.Time
	ID                string // jti
}

// Username is "system:serviceaccount:<namespace>:<name>".
func (c *ServiceAccountClaims) Username() string {
	return ServiceAccountUserPrefix + c.Namespace + ":" + c.Name
}

// kubernetesClaims is the private "kubernetes.io" claim of Kubernetes'
// bound service account tokens.
type kubernetesClaims struct {
	Namespace      string       `json:"namespace"`
	ServiceAccount BoundObject  `json:"serviceaccount"`
	Pod            *BoundObject `json:"pod,omitempty"`
	Secret         *BoundObject `json:"secret,omitempty"`
	Node           *BoundObject `json:"node,omitempty"`
}

type jwtClaims struct {
	jwt.RegisteredClaims
	Kubernetes *kubernetesClaims `json:"kubernetes.io,omitempty"`
}

// ServiceAccountIssuer signs service account tokens (ES256 JWTs in the
// format of Kubernetes' bound tokens) and verifies the ones it signed. It
// is immutable and safe for concurrent use. Whether the account and the
// bound objects still exist is for the caller to check
// (ServiceAccountAuthenticator).
type ServiceAccountIssuer struct {
	key       *ecdsa.PrivateKey
	keyID     string
	issuer    string
	audiences []string
	now       func() time.Time
}

// NewServiceAccountIssuer returns an issuer signing with key under the
// issuer name iss; audiences are those the API server accepts and the
// default of a token request that names none (nil: [iss]).
func NewServiceAccountIssuer(key *ecdsa.PrivateKey, iss string, audiences []string) (*ServiceAccountIssuer, error) {
	der, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	sum := sha256.Sum256(der)
	if len(audiences) == 0 {
		audiences = []string{iss}
	}
	return &ServiceAccountIssuer{
		key:       key,
		keyID:     base64.RawURLEncoding.EncodeToString(sum[:]),
		issuer:    iss,
		audiences: append([]string(nil), audiences...),
		now:       time.Now,
	}, nil
}

// Audiences returns the audiences the API server accepts.
func (i *ServiceAccountIssuer) Audiences() []string { return append([]string(nil), i.audiences...) }

// Issue signs a token for c. IssuedAt and ID are filled in when zero;
// Expiry and at least one audience are required.
func (i *ServiceAccountIssuer) Issue(c ServiceAccountClaims) (string, error) {
	if c.Namespace == "" || c.Name == "" || c.UID == "" {
		return "", errors.New("service account token: namespace, name and uid are required")
	}
	if len(c.Audiences) == 0 || c.Expiry.IsZero() {
		return "", errors.New("service account token: audiences and expiry are required")
	}
	if c.IssuedAt.IsZero() {
		c.IssuedAt = i.now()
	}
	if c.ID == "" {
		c.ID = uuid.NewString()
	}
	claims := jwtClaims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:    i.issuer,
			Subject:   c.Username(),
			Audience:  jwt.ClaimStrings(c.Audiences),
			ExpiresAt: jwt.NewNumericDate(c.Expiry),
			NotBefore: jwt.NewNumericDate(c.IssuedAt),
			IssuedAt:  jwt.NewNumericDate(c.IssuedAt),
			ID:        c.ID,
		},
		Kubernetes: &kubernetesClaims{
			Namespace:      c.Namespace,
			ServiceAccount: BoundObject{Name: c.Name, UID: c.UID},
			Pod:            c.Pod,
			Secret:         c.Secret,
			Node:           c.Node,
		},
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodES256, claims)
	tok.Header["kid"] = i.keyID
	return tok.SignedString(i.key)
}

// Verify checks a token's signature, issuer, expiry and audience and
// returns its claims. A token that is not a JWT of this issuer is
// ErrUnauthenticated (another authenticator may know it); one of this
// issuer that fails a check is ErrInvalidCredentials.
func (i *ServiceAccountIssuer) Verify(token string) (*ServiceAccountClaims, error) {
	return i.VerifyFor(token, i.audiences)
}

// VerifyFor is Verify for a token meant for at least one of audiences
// instead of the issuer's own, as a TokenReview asks: a token made for
// another audience does not authenticate to the API server, but a
// server of that audience may have it reviewed.
func (i *ServiceAccountIssuer) VerifyFor(token string, audiences []string) (*ServiceAccountClaims, error) {
	if !i.mayBeOurs(token) {
		return nil, ErrUnauthenticated
	}
	var claims jwtClaims
	_, err := jwt.ParseWithClaims(token, &claims, func(t *jwt.Token) (any, error) { return &i.key.PublicKey, nil },
		jwt.WithValidMethods([]string{jwt.SigningMethodES256.Alg()}),
		jwt.WithIssuer(i.issuer),
		jwt.WithAudience(audiences...),
		jwt.WithExpirationRequired(),
		jwt.WithTimeFunc(i.now),
		jwt.WithLeeway(time.Minute),
		jwt.WithStrictDecoding(), // one encoding per token: no spare bits
	)
	if err != nil {
		return nil, fmt.Errorf("%w: service account token: %w", ErrInvalidCredentials, err)
	}
	k := claims.Kubernetes
	if k == nil || k.Namespace == "" || k.ServiceAccount.Name == "" || k.ServiceAccount.UID == "" ||
		claims.Subject != ServiceAccountUserPrefix+k.Namespace+":"+k.ServiceAccount.Name {
		return nil, fmt.Errorf("%w: service account token: malformed kubernetes.io claims", ErrInvalidCredentials)
	}
	out := &ServiceAccountClaims{
		Namespace: k.Namespace, Name: k.ServiceAccount.Name, UID: k.ServiceAccount.UID,
		Pod: k.Pod, Secret: k.Secret, Node: k.Node,
		Audiences: claims.Audience, ID: claims.ID,
	}
	if claims.IssuedAt != nil {
		out.IssuedAt = claims.IssuedAt.Time
	}
	out.Expiry = claims.ExpiresAt.Time
	return out, nil
}

// mayBeOurs reports whether token is a JWT whose unverified issuer is this
// issuer, without checking anything else.
func (i *ServiceAccountIssuer) mayBeOurs(token string) bool {
	parts := strings.Split(token, ".")
	if len(parts) != 3 {
		return false
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		return false
	}
	var iss struct {
		Issuer string `json:"iss"`
	}
	return json.Unmarshal(payload, &iss) == nil && iss.Issuer == i.issuer
}

// ServiceAccountValidator checks that what a verified token names still
// exists: the ServiceAccount with its UID and any bound object with its
// UID. It returns an error describing what is gone.
type ServiceAccountValidator func(ctx context.Context, c *ServiceAccountClaims) error

// ServiceAccountAuthenticator authenticates bearer tokens signed by
// issuer whose objects validate passes, as the user
// "system:serviceaccount:<ns>:<name>" in the groups system:serviceaccounts,
// system:serviceaccounts:<ns> and system:authenticated.
func ServiceAccountAuthenticator(issuer *ServiceAccountIssuer, validate ServiceAccountValidator) Authenticator {
	return AuthenticatorFunc(func(r *http.Request) (*User, error) {
		token, err := parseBearer(r.Header.Get("Authorization"))
		if err != nil {
			if errors.Is(err, ErrInvalidCredentials) {
				return nil, ErrUnauthenticated // malformed: the token store says why
			}
			return nil, err
		}
		c, err := issuer.Verify(token)
		if err != nil {
			return nil, err
		}
		if err := validate(r.Context(), c); err != nil {
			return nil, fmt.Errorf("%w: service account token: %w", ErrInvalidCredentials, err)
		}
		return c.User(), nil
	})
}

// Extra keys of a service account token's user, as Kubernetes sets them.
const (
	ExtraCredentialID = "authentication.kubernetes.io/credential-id"
	ExtraPodName      = "authentication.kubernetes.io/pod-name"
	ExtraPodUID       = "authentication.kubernetes.io/pod-uid"
	ExtraNodeName     = "authentication.kubernetes.io/node-name"
	ExtraNodeUID      = "authentication.kubernetes.io/node-uid"
)

// User is the identity c authenticates as: "system:serviceaccount:<ns>:<name>"
// in the groups system:serviceaccounts, system:serviceaccounts:<ns> and
// system:authenticated, with the token's ID and the pod and node it is
// bound to as extra values, under Kubernetes' keys.
func (c *ServiceAccountClaims) User() *User {
	u := &User{
		Name:   c.Username(),
		UID:    c.UID,
		Groups: withAuthenticated([]string{GroupServiceAccounts, GroupServiceAccountsPrefix + c.Namespace}),
	}
	extra := map[string][]string{}
	if c.ID != "" {
		extra[ExtraCredentialID] = []string{"JTI=" + c.ID}
	}
	if c.Pod != nil {
		extra[ExtraPodName], extra[ExtraPodUID] = []string{c.Pod.Name}, []string{c.Pod.UID}
	}
	if c.Node != nil {
		extra[ExtraNodeName] = []string{c.Node.Name}
		if c.Node.UID != "" {
			extra[ExtraNodeUID] = []string{c.Node.UID}
		}
	}
	if len(extra) > 0 {
		u.Extra = extra
	}
	return u
}

// LoadOrCreateServiceAccountKey reads the ECDSA P-256 signing key at
// path, creating it (mode 0600) when the file does not exist. Every
// server of a cluster must use the same key: copy it with the CA.
func LoadOrCreateServiceAccountKey(path string) (*ecdsa.PrivateKey, error) {
	data, err := os.ReadFile(path)
	if err == nil {
		block, _ := pem.Decode(data)
		if block == nil || block.Type != "EC PRIVATE KEY" {
			return nil, fmt.Errorf("service account key %s: no EC PRIVATE KEY block", path)
		}
		key, err := x509.ParseECPrivateKey(block.Bytes)
		if err != nil {
			return nil, fmt.Errorf("service account key %s: %w", path, err)
		}
		if key.Curve != elliptic.P256() {
			return nil, fmt.Errorf("service account key %s: curve %s, want P-256", path, key.Curve.Params().Name)
		}
		return key, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	der, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	if err := ensureDir(filepath.Dir(path)); err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	if err := writeFileAtomic(path, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: der}), 0o600); err != nil {
		return nil, fmt.Errorf("service account key: %w", err)
	}
	return key, nil
}
