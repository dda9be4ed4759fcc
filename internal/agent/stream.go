package agent

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/cri-streaming/pkg/streaming/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	utilexec "k8s.io/utils/exec"

	"github.com/gantry-dev/gantry/internal/container"
)

// StreamingPaths are the agent's streaming endpoints, as the kubelet's:
//
//	GET  /containerLogs/{namespace}/{pod}/{container}?follow=&previous=&tailLines=&sinceSeconds=&sinceTime=&timestamps=&limitBytes=
//	POST /exec/{namespace}/{pod}/{container}?command=…&input=1&output=1&error=1&tty=1   (SPDY or WebSocket upgrade, GET too)
//	POST /attach/{namespace}/{pod}/{container}?input=1&output=1&error=1&tty=1
//	POST /portForward/{namespace}/{pod}                                                   (SPDY, or SPDY tunnelled in a WebSocket)
//
// Only the API server calls them, with a client certificate of the cluster
// CA; it proxies kubectl's logs, exec, attach and port-forward.
const (
	pathLogs        = "/containerLogs/"
	pathExec        = "/exec/"
	pathAttach      = "/attach/"
	pathPortForward = "/portForward/"
)

// serveStreaming listens on the streaming port and serves until ctx ends.
// It returns the port it listens on once it does.
func (a *Agent) serveStreaming(ctx context.Context) (int, error) {
	cert, err := selfSignedCert(a.cfg.NodeName)
	if err != nil {
		return 0, err
	}
	tcfg := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	if len(a.cfg.ClientCA) > 0 {
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(a.cfg.ClientCA) {
			return 0, errors.New("agent: ClientCA holds no certificate")
		}
		tcfg.ClientCAs, tcfg.ClientAuth = pool, tls.RequireAndVerifyClientCert
	}
	ln, err := net.Listen("tcp", net.JoinHostPort("", strconv.Itoa(a.cfg.StreamingPort)))
	if err != nil {
		return 0, fmt.Errorf("agent: streaming port: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc(pathLogs, a.serveLogs)
	mux.HandleFunc(pathExec, a.serveExec)
	mux.HandleFunc(pathAttach, a.serveAttach)
	mux.HandleFunc(pathPortForward, a.servePortForward)
	mux.HandleFunc("/stats/resource", a.stats.serve)
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) { io.WriteString(w, "ok") })
	srv := &http.Server{Handler: mux, TLSConfig: tcfg, ReadHeaderTimeout: 30 * time.Second,
		BaseContext: func(net.Listener) context.Context { return ctx }}
	go func() {
		<-ctx.Done()
		_ = srv.Close()
	}()
	go func() {
		if err := srv.Serve(tls.NewListener(ln, tcfg)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			a.log.Error("streaming server stopped", "err", err)
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// selfSignedCert makes the streaming endpoint's serving certificate. The
// API server authenticates itself to the agent with a client certificate;
// like kube-apiserver without --kubelet-certificate-authority it does not
// verify the agent's certificate (docs/design/0003).
func selfSignedCert(name string) (tls.Certificate, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return tls.Certificate{}, err
	}
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return tls.Certificate{}, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial,
		Subject:      pkix.Name{CommonName: name + "@" + strconv.FormatInt(time.Now().Unix(), 10)},
		NotBefore:    time.Now().Add(-time.Minute),
		NotAfter:     time.Now().AddDate(1, 0, 0),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		DNSNames:     []string{name},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return tls.Certificate{}, err
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}, nil
}

// streamTarget parses /{prefix}/{namespace}/{pod}[/{container}] and finds
// the pod.
func (a *Agent) streamTarget(w http.ResponseWriter, r *http.Request, prefix string, wantContainer bool) (*corev1.Pod, string, bool) {
	parts := strings.Split(strings.TrimPrefix(r.URL.Path, prefix), "/")
	if len(parts) < 2 || wantContainer && len(parts) < 3 {
		http.Error(w, "expected "+prefix+"{namespace}/{pod}/{container}", http.StatusBadRequest)
		return nil, "", false
	}
	pod, err := a.pods.Pods(parts[0]).Get(parts[1])
	if err != nil {
		http.Error(w, fmt.Sprintf("pod %q not found on node %s", parts[0]+"/"+parts[1], a.cfg.NodeName), http.StatusNotFound)
		return nil, "", false
	}
	name := ""
	if wantContainer {
		name = parts[2]
	}
	return pod, name, true
}

// containerID returns the runtime ID of the pod's container name: the
// running (or latest) one, or with previous the one before it.
func (a *Agent) containerID(ctx context.Context, pod *corev1.Pod, name string, previous bool) (string, error) {
	state, err := a.observe(ctx, pod.UID)
	if err != nil {
		return "", err
	}
	if previous {
		c := state.previous(name)
		if cur := state.latest(name); cur != nil && cur.State == container.ContainerExited && c == nil {
			// A container that exited and has not been restarted yet is
			// its own previous instance for --previous.
			c = cur
		}
		if c == nil {
			return "", fmt.Errorf("previous terminated container %q in pod %q not found", name, pod.Name)
		}
		return c.ID, nil
	}
	c := state.latest(name)
	if c == nil {
		reason := "ContainerCreating"
		if w, ok := a.waitingFor(pod.UID, name); ok {
			reason = w.reason
		}
		return "", fmt.Errorf("container %q in pod %q is waiting to start: %s", name, pod.Name, reason)
	}
	return c.ID, nil
}

func (a *Agent) serveLogs(w http.ResponseWriter, r *http.Request) {
	pod, name, ok := a.streamTarget(w, r, pathLogs, true)
	if !ok {
		return
	}
	q := r.URL.Query()
	id, err := a.containerID(r.Context(), pod, name, q.Get("previous") == "true")
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	opts := container.LogOptions{Follow: q.Get("follow") == "true", Timestamps: q.Get("timestamps") == "true"}
	if n, err := strconv.Atoi(q.Get("tailLines")); err == nil {
		if n == 0 {
			return
		}
		opts.Tail = n
	}
	if s, err := strconv.Atoi(q.Get("sinceSeconds")); err == nil && s > 0 {
		opts.Since = time.Now().Add(-time.Duration(s) * time.Second)
	}
	if t, err := time.Parse(time.RFC3339, q.Get("sinceTime")); err == nil {
		opts.Since = t
	}
	rc, err := a.rt.ContainerLogs(r.Context(), id, opts)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	defer rc.Close()
	var out io.Writer = flushWriter{w}
	if n, err := strconv.ParseInt(q.Get("limitBytes"), 10, 64); err == nil && n > 0 {
		out = &limitWriter{w: out, n: n}
	}
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	_, _ = io.Copy(out, rc)
}

// flushWriter flushes after every write so that followed logs arrive at
// once.
type flushWriter struct{ w http.ResponseWriter }

func (f flushWriter) Write(p []byte) (int, error) {
	n, err := f.w.Write(p)
	if fl, ok := f.w.(http.Flusher); ok {
		fl.Flush()
	}
	return n, err
}

// limitWriter writes at most n bytes, then fails.
type limitWriter struct {
	w io.Writer
	n int64
}

var errLimit = errors.New("limitBytes reached")

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n <= 0 {
		return 0, errLimit
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= int64(n)
	if err == nil && l.n <= 0 {
		err = errLimit
	}
	return n, err
}

// streamProtocols are the SPDY remote-command protocols offered to
// clients, newest first. WebSocket clients get v5 from serveWebSocketV5,
// older WebSocket protocols (v4, base64 channels) from the library.
var streamProtocols = remotecommand.SupportedStreamingProtocols

const streamIdleTimeout = 4 * time.Hour

func (a *Agent) serveExec(w http.ResponseWriter, r *http.Request) {
	pod, name, ok := a.streamTarget(w, r, pathExec, true)
	if !ok {
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	cmd := r.URL.Query()["command"]
	if wantsWebSocketV5(r) {
		s := streamer{a, pod}
		serveWebSocketV5(w, r, opts, func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
			return s.ExecInContainer(ctx, pod.Name, string(pod.UID), name, cmd, in, out, errw, tty, resize, 0)
		})
		return
	}
	remotecommand.ServeExec(w, r, streamer{a, pod}, pod.Name, string(pod.UID), name, cmd, opts,
		streamIdleTimeout, remotecommand.DefaultStreamCreationTimeout, streamProtocols)
}

func (a *Agent) serveAttach(w http.ResponseWriter, r *http.Request) {
	pod, name, ok := a.streamTarget(w, r, pathAttach, true)
	if !ok {
		return
	}
	opts, err := remotecommand.NewOptions(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	if wantsWebSocketV5(r) {
		s := streamer{a, pod}
		serveWebSocketV5(w, r, opts, func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
			return s.AttachContainer(ctx, pod.Name, string(pod.UID), name, in, out, errw, tty, resize)
		})
		return
	}
	remotecommand.ServeAttach(w, r, streamer{a, pod}, pod.Name, string(pod.UID), name, opts,
		streamIdleTimeout, remotecommand.DefaultStreamCreationTimeout, streamProtocols)
}

func (a *Agent) servePortForward(w http.ResponseWriter, r *http.Request) {
	pod, _, ok := a.streamTarget(w, r, pathPortForward, false)
	if !ok {
		return
	}
	serve := func(w http.ResponseWriter, r *http.Request, opts *portforward.V4Options) {
		portforward.ServePortForward(w, r, streamer{a, pod}, pod.Name, string(pod.UID), opts,
			streamIdleTimeout, remotecommand.DefaultStreamCreationTimeout, portforward.SupportedProtocols)
	}
	if wantsPortForwardTunnel(r) {
		// SPDY names the ports in its streams, not in the query.
		servePortForwardTunnel(w, r, func(w http.ResponseWriter, r *http.Request) { serve(w, r, nil) })
		return
	}
	opts, err := portforward.NewV4Options(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	serve(w, r, opts)
}

// streamer connects the streaming protocols to the runtime for one pod.
type streamer struct {
	a   *Agent
	pod *corev1.Pod
}

func (s streamer) running(ctx context.Context, name string) (string, error) {
	id, err := s.a.containerID(ctx, s.pod, name, false)
	if err != nil {
		return "", err
	}
	st, err := s.a.rt.ContainerStatus(ctx, id)
	if err != nil {
		return "", err
	}
	if st.State != container.ContainerRunning {
		return "", fmt.Errorf("container %s is not running (state %s)", name, strings.ToLower(string(st.State)))
	}
	return id, nil
}

func resizes(in <-chan remotecommand.TerminalSize) <-chan container.TerminalSize {
	if in == nil {
		return nil
	}
	out := make(chan container.TerminalSize)
	go func() {
		defer close(out)
		for sz := range in {
			out <- container.TerminalSize{Width: sz.Width, Height: sz.Height}
		}
	}()
	return out
}

// ExecInContainer implements remotecommand.Executor.
func (s streamer) ExecInContainer(ctx context.Context, _, _, name string, cmd []string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize, _ time.Duration) error {
	id, err := s.running(ctx, name)
	if err != nil {
		return err
	}
	streams := container.Streams{TTY: tty, Resize: resizes(resize)}
	if in != nil {
		streams.Stdin = in
	}
	if out != nil {
		streams.Stdout = out
	}
	if errw != nil {
		streams.Stderr = errw
	}
	code, err := s.a.rt.Exec(ctx, id, cmd, streams)
	if err != nil {
		return err
	}
	if code != 0 {
		return utilexec.CodeExitError{Err: fmt.Errorf("command terminated with exit code %d", code), Code: code}
	}
	return nil
}

// AttachContainer implements remotecommand.Attacher.
func (s streamer) AttachContainer(ctx context.Context, _, _, name string, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error {
	id, err := s.running(ctx, name)
	if err != nil {
		return err
	}
	streams := container.Streams{TTY: tty, Resize: resizes(resize)}
	if in != nil {
		streams.Stdin = in
	}
	if out != nil {
		streams.Stdout = out
	}
	if errw != nil {
		streams.Stderr = errw
	}
	return s.a.rt.Attach(ctx, id, streams)
}

// PortForward implements portforward.PortForwarder.
func (s streamer) PortForward(ctx context.Context, _, _ string, port int32, stream io.ReadWriteCloser) error {
	defer stream.Close()
	sbs, err := s.a.rt.ListSandboxes(ctx, container.SandboxFilter{PodUID: string(s.pod.UID), State: container.SandboxReady})
	if err != nil {
		return err
	}
	if len(sbs) == 0 {
		return fmt.Errorf("pod %s has no running sandbox", s.pod.Name)
	}
	return s.a.rt.PortForward(ctx, sbs[len(sbs)-1].ID, int(port), stream)
}
