// Package auth provides Gantry's cluster identity: the PKI, bearer tokens,
// kubeconfig files and the request authenticators the API server chains.
//
// # PKI
//
// LoadOrCreatePKI keeps a CA and the server's certificates in one directory
// (the server passes DATA_DIR/tls):
//
//	ca.crt       0644  CA certificate (ECDSA P-256, 10 years); never replaced
//	ca.key       0600  CA key
//	serving.crt  0644  API server certificate (localhost, hostname,
//	serving.key  0600    kubernetes.default.svc…, 127.0.0.1, ::1, opts)
//	admin.crt    0644  client certificate CN=system:admin O=system:masters
//	admin.key    0600
//	service-account.key 0600  service account token signing key (ECDSA
//	             P-256; LoadOrCreateServiceAccountKey); never replaced
//
// It creates what is missing on first start and reuses what is there later.
// A leaf certificate is reissued only when it no longer chains to the CA, no
// longer matches its key, expires within RenewBefore (30 days) or, for the
// serving certificate, no longer covers a requested name or IP. An existing
// CA that cannot be used is an error (ErrInvalidCA), never a reason to make a
// new one, because every kubeconfig and agent trusts it. A *PKI is immutable
// once returned and safe for concurrent use; IssueClientCert signs
// certificates for agents, users and loopback clients without storing them.
// ServerTLSConfig verifies client certificates when offered
// (tls.VerifyClientCertIfGiven), so token clients and health probes still
// connect.
//
// # Authentication
//
// An Authenticator turns a request into a *User or an error: ErrUnauthenticated
// when the request carries no credentials it understands, ErrInvalidCredentials
// when it carries bad ones. Chain tries several in order:
//
//	authn := auth.Chain{
//		auth.NewCertAuthenticator(pki.CACertificate()), // CN → Name, O → Groups
//		tokens,                                          // Authorization: Bearer …
//	}
//	u, err := authn.Authenticate(r)
//	// errors.Is(err, auth.ErrUnauthenticated) → 401 unless a health endpoint
//
// Every user returned carries GroupAuthenticated. There is no anonymous user.
//
// # Tokens
//
// TokenStore maps bearer tokens to users. Tokens added with Add are written
// to its CSV file (token,user,uid,"group1,group2"; mode 0600); tokens added
// with AddEphemeral stay in memory. The server's join token is kept in its
// own file by LoadOrCreateTokenFile and added ephemerally at each start; the
// loopback token is generated per process by GenerateToken. The text an
// agent is given to join is a JoinToken, "<ca-sha256-hex>::<secret>"
// (ParseJoinToken, WriteJoinTokenFile): the hash pins the CA the agent
// fetches from the server before it sends the secret. Lookups compare
// tokens in constant time. A TokenStore is safe for concurrent use: lookups
// share a read lock, mutations are serialised with their file writes.
//
// # Service account tokens
//
// ServiceAccountIssuer signs and verifies the tokens of the TokenRequest
// API: ES256 JWTs in the format of Kubernetes' bound tokens (issuer and
// default audience DefaultServiceAccountIssuer, subject
// "system:serviceaccount:<ns>:<name>", the private "kubernetes.io" claim
// naming the account and the pod, secret or node the token is bound to).
// ServiceAccountAuthenticator accepts them when a validator, given by the
// API server, finds the account and the bound objects still there with the
// token's UIDs. A token that is not a JWT of this issuer is left to the
// next authenticator. Every server of a cluster needs the same signing key
// (as it needs the same CA).
//
// # Kubeconfig
//
// WriteKubeconfig and WriteTokenKubeconfig write a kubeconfig whose cluster,
// user and context are all named "gantry", with the CA and credentials
// embedded, atomically and with mode 0600 whatever the umask.
package auth
