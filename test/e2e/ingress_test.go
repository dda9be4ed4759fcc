package e2e

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestIngress runs issue #5's Ingress controller on real Docker: two
// Deployments behind two Services, one Ingress routing a.example to one
// and b.example (with a path rule back to the first) to the other;
// requests from the host to the server's ingress ports reach the right
// pods, HTTPS gets the Secret's certificate by SNI, and kubectl shows the
// Ingress's address.
func TestIngress(t *testing.T) {
	c := startNodeCluster(t)
	img := testImage(t)
	ns := "ingress-e2e"
	c.ns = ns
	c.kubectl("", "create", "namespace", ns)
	c.waitFor("node/"+c.nodeName, `{.status.conditions[?(@.type=="Ready")].status}`, "node Ready", equals("True"))

	// A self-signed certificate for a.example, in a kubernetes.io/tls Secret.
	certPEM, keyPEM := selfSignedCert(t, "a.example")
	dir := t.TempDir()
	certFile, keyFile := filepath.Join(dir, "tls.crt"), filepath.Join(dir, "tls.key")
	if err := os.WriteFile(certFile, certPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, keyPEM, 0o600); err != nil {
		t.Fatal(err)
	}
	c.kubectl("", "create", "secret", "tls", "tls-a", "-n", ns, "--cert", certFile, "--key", keyFile)

	manifest := strings.ReplaceAll(strings.ReplaceAll(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: alpha, namespace: NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: alpha}}
  template:
    metadata: {labels: {app: alpha}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: web, image: IMG, args: [serve, "8080"], ports: [{name: http, containerPort: 8080}]}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: beta, namespace: NS}
spec:
  replicas: 1
  selector: {matchLabels: {app: beta}}
  template:
    metadata: {labels: {app: beta}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - {name: web, image: IMG, args: [serve, "8080"]}
---
apiVersion: v1
kind: Service
metadata: {name: alpha, namespace: NS}
spec:
  selector: {app: alpha}
  ports: [{name: http, port: 80, targetPort: http}]
---
apiVersion: v1
kind: Service
metadata: {name: beta, namespace: NS}
spec:
  selector: {app: beta}
  ports: [{port: 80, targetPort: 8080}]
---
apiVersion: networking.k8s.io/v1
kind: Ingress
metadata: {name: web, namespace: NS}
spec:
  ingressClassName: gantry
  tls: [{hosts: [a.example], secretName: tls-a}]
  rules:
  - host: a.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: alpha, port: {name: http}}}}
  - host: b.example
    http:
      paths:
      - {path: /, pathType: Prefix, backend: {service: {name: beta, port: {number: 80}}}}
      - {path: /alpha, pathType: Prefix, backend: {service: {name: alpha, port: {name: http}}}}
`, "NS", ns), "IMG", img)
	c.kubectl(manifest, "apply", "-f", "-")
	c.kubectl("", "rollout", "status", "deployment/alpha", "-n", ns, "--timeout=120s")
	c.kubectl("", "rollout", "status", "deployment/beta", "-n", ns, "--timeout=120s")

	httpBase := "http://127.0.0.1:" + strconv.Itoa(c.proc.ingressHTTP)
	httpsAddr := "127.0.0.1:" + strconv.Itoa(c.proc.ingressHTTPS)
	plain := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil}}
	// get returns the status code and body of GET url with a Host header
	// (0 when the request failed).
	get := func(client *http.Client, url, host string) (int, string) {
		req, err := http.NewRequest(http.MethodGet, url, nil)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = host
		resp, err := client.Do(req)
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, strings.TrimSpace(string(b))
	}
	// expect polls until GET url with host answers code with a body
	// starting with prefix.
	expect := func(t *testing.T, client *http.Client, url, host string, code int, prefix string) {
		t.Helper()
		var gotCode int
		var gotBody string
		deadline := time.Now().Add(30 * time.Second)
		for {
			gotCode, gotBody = get(client, url, host)
			if gotCode == code && strings.HasPrefix(gotBody, prefix) {
				return
			}
			if time.Now().After(deadline) {
				t.Fatalf("GET %s (Host %s) = %d %q, want %d %q…", url, host, gotCode, gotBody, code, prefix)
			}
			time.Sleep(100 * time.Millisecond) // polling interval
		}
	}

	t.Run("hosts and paths reach the right backends", func(t *testing.T) {
		expect(t, plain, httpBase+"/", "a.example", 200, "hello from alpha-")
		expect(t, plain, httpBase+"/", "b.example", 200, "hello from beta-")
		expect(t, plain, httpBase+"/alpha/x", "b.example", 200, "hello from alpha-")
		expect(t, plain, httpBase+"/alphabet", "b.example", 200, "hello from beta-")
		expect(t, plain, httpBase+"/", "B.Example:80", 200, "hello from beta-")
		expect(t, plain, httpBase+"/", "c.example", 404, "")
	})

	t.Run("requests spread over both alpha pods", func(t *testing.T) {
		seen := map[string]bool{}
		for try := 0; try < 40 && len(seen) < 2; try++ {
			code, body := get(plain, httpBase+"/", "a.example")
			if code != 200 {
				t.Fatalf("GET a.example = %d %q", code, body)
			}
			seen[strings.TrimPrefix(body, "hello from ")] = true
		}
		if len(seen) != 2 {
			t.Errorf("40 requests reached %v, want both alpha pods", seen)
		}
	})

	t.Run("HTTPS with SNI gets the Secret's certificate", func(t *testing.T) {
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(certPEM)
		secure := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{Proxy: nil,
			TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "a.example"}}}
		// Verification against the test's own certificate as the only
		// root proves the Secret's certificate was served.
		expect(t, secure, "https://"+httpsAddr+"/", "a.example", 200, "hello from alpha-")

		conn, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "unknown.example", InsecureSkipVerify: true})
		if err != nil {
			t.Fatal(err)
		}
		cn := conn.ConnectionState().PeerCertificates[0].Subject.CommonName
		conn.Close()
		if cn == "a.example" || !strings.Contains(cn, "Fake Certificate") {
			t.Errorf("unknown SNI got certificate %q, want the controller's fallback", cn)
		}
	})

	t.Run("kubectl get ingress shows the address", func(t *testing.T) {
		var out string
		eventually(t, 30*time.Second, "ingress ADDRESS", func() bool {
			out = c.kubectl("", "get", "ingress", "web", "-n", ns)
			lines := strings.Split(strings.TrimSpace(out), "\n")
			return len(lines) == 2 && strings.Contains(lines[0], "ADDRESS") && slices.Contains(strings.Fields(lines[1]), "127.0.0.1")
		})
		if class := c.jsonpath("ingressclass/gantry", `{.metadata.annotations.ingressclass\.kubernetes\.io/is-default-class}`); class != "true" {
			t.Errorf("IngressClass gantry default annotation = %q, want true", class)
		}
	})
}

// selfSignedCert returns a self-signed ECDSA certificate and key (PEM)
// for host, valid for an hour.
func selfSignedCert(t *testing.T, host string) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host},
		DNSNames:              []string{host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
