package node

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"k8s.io/client-go/rest"
	"k8s.io/client-go/tools/clientcmd"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/auth"
)

// Errors of joining a cluster.
var (
	// ErrCAMismatch means the server did not present the CA that the join
	// token pins: a wrong token, a wrong server or a machine in the middle.
	ErrCAMismatch = errors.New("node: the server's CA does not match the join token")
	// ErrJoinRefused means the server refused the token's secret.
	ErrJoinRefused = errors.New("node: the server refused the join token")
)

// kubeconfigPath is where a joined node keeps its credentials.
func kubeconfigPath(dataDir, name string) string {
	return filepath.Join(dataDir, "agent", name, "kubeconfig.yaml")
}

// joinedConfig returns the client configuration of a node that has no
// in-process one: the kubeconfig a previous join wrote, or else the result
// of joining with cfg.Server and cfg.Token, written for the next start.
func (n *Node) joinedConfig(ctx context.Context, name, dataDir string) (*rest.Config, error) {
	path := kubeconfigPath(dataDir, name)
	if _, err := os.Stat(path); err == nil {
		rc, err := clientcmd.BuildConfigFromFlags("", path)
		if err != nil {
			return nil, fmt.Errorf("node: kubeconfig %s: %w", path, err)
		}
		n.log.Info("using the credentials of an earlier join", "kubeconfig", path)
		return rc, nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("node: kubeconfig: %w", err)
	}
	if n.cfg.Server == "" || n.cfg.Token == "" {
		return nil, fmt.Errorf("node: %s does not exist yet: joining needs the server URL and the join token (--server, --token)", path)
	}
	creds, err := Join(ctx, n.cfg.Server, n.cfg.Token, name)
	if err != nil {
		return nil, err
	}
	if err := auth.WriteKubeconfig(path, n.cfg.Server, []byte(creds.CA), []byte(creds.Certificate), []byte(creds.Key)); err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	n.log.Info("joined the cluster", "server", n.cfg.Server, "kubeconfig", path)
	return clientcmd.BuildConfigFromFlags("", path)
}

// Join asks the API server at serverURL for the credentials of node name
// with a join token ("<ca-sha256>::<secret>"). It first fetches the
// server's CA in a TLS handshake that verifies nothing, and keeps it only
// if its SHA-256 is the token's; the join request then verifies the server
// against that CA, so the secret never goes to a server that is not the
// cluster's. Errors wrap auth.ErrInvalidToken (malformed token),
// ErrCAMismatch or ErrJoinRefused where they apply.
func Join(ctx context.Context, serverURL, token, name string) (*apiserver.JoinResponse, error) {
	tok, err := auth.ParseJoinToken(token)
	if err != nil {
		return nil, fmt.Errorf("node: %w", err)
	}
	u, err := url.Parse(serverURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("node: server URL %q: want https://HOST:PORT", serverURL)
	}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	ca, err := fetchCA(ctx, u, tok)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	roots.AddCert(ca)
	hc := &http.Client{Transport: &http.Transport{
		Proxy:           nil,
		TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
	}}
	defer hc.CloseIdleConnections()
	body, _ := json.Marshal(apiserver.JoinRequest{NodeName: name})
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, strings.TrimSuffix(serverURL, "/")+apiserver.JoinPath, bytes.NewReader(body))
	if err != nil {
		return nil, fmt.Errorf("node: join: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+tok.Secret)
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("node: join %s: %w", serverURL, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	switch {
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return nil, fmt.Errorf("%w (%s): use the token in the server's DATA_DIR/join-token", ErrJoinRefused, resp.Status)
	case resp.StatusCode != http.StatusOK:
		return nil, fmt.Errorf("node: join %s: %s: %s", serverURL, resp.Status, statusMessage(data))
	}
	var creds apiserver.JoinResponse
	if err := json.Unmarshal(data, &creds); err != nil {
		return nil, fmt.Errorf("node: join response: %w", err)
	}
	if block, _ := pem.Decode([]byte(creds.CA)); block == nil || !bytes.Equal(block.Bytes, ca.Raw) {
		return nil, fmt.Errorf("%w: the join response carries another CA", ErrCAMismatch)
	}
	if _, err := tls.X509KeyPair([]byte(creds.Certificate), []byte(creds.Key)); err != nil {
		return nil, fmt.Errorf("node: join response: certificate and key: %w", err)
	}
	return &creds, nil
}

// fetchCA returns the certificate in the server's TLS chain whose SHA-256
// the token pins. The handshake verifies nothing: the fingerprint is the
// only check, and nothing but the handshake is sent.
func fetchCA(ctx context.Context, u *url.URL, tok auth.JoinToken) (*x509.Certificate, error) {
	addr := u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "443")
	}
	d := &tls.Dialer{Config: &tls.Config{InsecureSkipVerify: true, ServerName: u.Hostname(), MinVersion: tls.VersionTLS12}}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("node: reach %s: %w", u.Host, err)
	}
	defer conn.Close()
	for _, c := range conn.(*tls.Conn).ConnectionState().PeerCertificates {
		if c.IsCA && tok.MatchesCA(c) {
			return c, nil
		}
	}
	return nil, fmt.Errorf("%w (sha256 %s): is --server the cluster that wrote the token?", ErrCAMismatch, tok.CAHash)
}

// statusMessage returns the message of a metav1.Status body, or the body.
func statusMessage(b []byte) string {
	var st struct {
		Message string `json:"message"`
	}
	if json.Unmarshal(b, &st) == nil && st.Message != "" {
		return st.Message
	}
	return strings.TrimSpace(string(b))
}
