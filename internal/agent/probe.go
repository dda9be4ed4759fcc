package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
	healthpb "google.golang.org/grpc/health/grpc_health_v1"
	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"

	"github.com/gantry-dev/gantry/internal/container"
)

type probeKind string

const (
	probeStartup   probeKind = "Startup"
	probeLiveness  probeKind = "Liveness"
	probeReadiness probeKind = "Readiness"
)

// probeManager runs a worker per probe of each running container and
// keeps the results. A container without a startup probe is started once
// running; without a readiness probe it is ready once started; a liveness
// or startup probe that reached its failure threshold makes the container
// restart. Results belong to one container ID: a restarted container
// starts over.
type probeManager struct {
	a  *Agent
	mu sync.Mutex
	// workers by container ID and kind.
	workers map[probeKey]*probeWorker
}

type probeKey struct {
	uid  types.UID
	id   string
	kind probeKind
}

type probeWorker struct {
	stop   context.CancelFunc
	result bool // the current result
	failed bool // liveness/startup: failure threshold reached
	msg    string
}

func newProbeManager(a *Agent) *probeManager {
	return &probeManager{a: a, workers: map[probeKey]*probeWorker{}}
}

func probeOf(c *corev1.Container, kind probeKind) *corev1.Probe {
	switch kind {
	case probeStartup:
		return c.StartupProbe
	case probeLiveness:
		return c.LivenessProbe
	}
	return c.ReadinessProbe
}

// started reports whether the container's startup probe has succeeded (or
// it has none).
func (m *probeManager) started(uid types.UID, id string, c *corev1.Container) bool {
	if c.StartupProbe == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[probeKey{uid, id, probeStartup}]
	return w != nil && w.result
}

// ready reports the container's readiness.
func (m *probeManager) ready(uid types.UID, id string, c *corev1.Container) bool {
	if c.ReadinessProbe == nil {
		return true
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	w := m.workers[probeKey{uid, id, probeReadiness}]
	return w != nil && w.result
}

// mustRestart returns why the container must be restarted (a failed
// liveness or startup probe), or "".
func (m *probeManager) mustRestart(uid types.UID, id string, c *corev1.Container) string {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, kind := range []probeKind{probeStartup, probeLiveness} {
		if w := m.workers[probeKey{uid, id, kind}]; w != nil && w.failed {
			return fmt.Sprintf("Container %s failed %s probe, will be restarted", c.Name, strings.ToLower(string(kind)))
		}
	}
	return ""
}

// sync starts workers for the probes of the pod's running containers and
// stops those of containers that are gone.
func (m *probeManager) sync(pod *corev1.Pod, state *podState, sb *container.Sandbox) {
	running := map[string]bool{}
	specs := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for i := range specs {
		c := &specs[i]
		cur := state.latest(c.Name)
		if cur == nil || cur.State != container.ContainerRunning {
			continue
		}
		running[cur.ID] = true
		for _, kind := range []probeKind{probeStartup, probeLiveness, probeReadiness} {
			p := probeOf(c, kind)
			if p == nil {
				continue
			}
			key := probeKey{pod.UID, cur.ID, kind}
			m.mu.Lock()
			if m.workers[key] == nil {
				ctx, cancel := context.WithCancel(context.Background())
				w := &probeWorker{stop: cancel, result: kind == probeLiveness}
				m.workers[key] = w
				go m.run(ctx, key, w, pod.DeepCopy(), c.DeepCopy(), p.DeepCopy(), *sb)
			}
			m.mu.Unlock()
		}
	}
	m.mu.Lock()
	for k, w := range m.workers {
		if k.uid == pod.UID && !running[k.id] {
			w.stop()
			delete(m.workers, k)
		}
	}
	m.mu.Unlock()
}

func (m *probeManager) stopPod(uid types.UID) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		if k.uid == uid {
			w.stop()
			delete(m.workers, k)
		}
	}
}

func (m *probeManager) stopAll() {
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, w := range m.workers {
		w.stop()
		delete(m.workers, k)
	}
}

// run probes periodically with the probe's timing fields.
func (m *probeManager) run(ctx context.Context, key probeKey, w *probeWorker, pod *corev1.Pod, c *corev1.Container, p *corev1.Probe, sb container.Sandbox) {
	period := secondsOr(p.PeriodSeconds, 10)
	timeout := secondsOr(p.TimeoutSeconds, 1)
	success, failure := int(max(p.SuccessThreshold, 1)), int(max(p.FailureThreshold, 1))
	select {
	case <-ctx.Done():
		return
	case <-time.After(time.Duration(p.InitialDelaySeconds) * time.Second):
	}
	var okRun, failRun int
	t := time.NewTicker(period)
	defer t.Stop()
	for {
		// Liveness and readiness wait for the startup probe.
		if key.kind == probeStartup || m.started(key.uid, key.id, c) {
			pctx, cancel := context.WithTimeout(ctx, timeout)
			msg, err := m.a.probe(pctx, pod, c, key.id, p, sb)
			cancel()
			if ctx.Err() != nil {
				return
			}
			if err == nil {
				okRun, failRun = okRun+1, 0
			} else {
				okRun, failRun = 0, failRun+1
				m.a.recorder.Eventf(pod, corev1.EventTypeWarning, "Unhealthy", "%s probe failed: %s", key.kind, msg)
			}
			changed := false
			m.mu.Lock()
			switch {
			case okRun >= success && !w.result:
				w.result, changed = true, true
			case failRun >= failure && (w.result || key.kind != probeReadiness):
				if key.kind == probeReadiness {
					w.result = false
				} else if !w.failed {
					w.failed = true
				}
				changed = true
			}
			done := key.kind == probeStartup && w.result
			m.mu.Unlock()
			if changed {
				m.a.enqueueUID(key.uid)
			}
			if done {
				return // a startup probe stops once it succeeded
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

func secondsOr(s int32, def int) time.Duration {
	if s <= 0 {
		return time.Duration(def) * time.Second
	}
	return time.Duration(s) * time.Second
}

// probe runs one check of p; the message says why it failed.
func (a *Agent) probe(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, p *corev1.Probe, sb container.Sandbox) (string, error) {
	switch {
	case p.Exec != nil:
		var out bytes.Buffer
		code, err := a.rt.Exec(ctx, id, p.Exec.Command, container.Streams{Stdout: &out, Stderr: &out})
		if err != nil {
			return err.Error(), err
		}
		if code != 0 {
			msg := strings.TrimSpace(out.String())
			if msg == "" {
				msg = fmt.Sprintf("command %q exited with %d", strings.Join(p.Exec.Command, " "), code)
			}
			return msg, errors.New(msg)
		}
		return "", nil
	case p.HTTPGet != nil:
		return a.probeHTTP(ctx, pod, c, p.HTTPGet, sb)
	case p.TCPSocket != nil:
		port, err := resolvePort(p.TCPSocket.Port, c)
		if err != nil {
			return err.Error(), err
		}
		conn, err := a.cfg.DialPod(ctx, podAddress(p.TCPSocket.Host, sb), port)
		if err != nil {
			msg := fmt.Sprintf("dial tcp %s:%d: %v", sb.IP, port, err)
			return msg, err
		}
		conn.Close()
		return "", nil
	case p.GRPC != nil:
		return a.probeGRPC(ctx, p.GRPC, sb)
	}
	return "", nil
}

func podAddress(host string, sb container.Sandbox) PodAddress {
	addr := PodAddress{IP: sb.IP, SandboxID: sb.ID, HostNetwork: sb.HostNetwork}
	if host != "" {
		addr.IP, addr.HostNetwork = host, false
	}
	return addr
}

// probeHTTP GETs the probe's URL: any status from 200 to 399 succeeds.
func (a *Agent) probeHTTP(ctx context.Context, pod *corev1.Pod, c *corev1.Container, g *corev1.HTTPGetAction, sb container.Sandbox) (string, error) {
	port, err := resolvePort(g.Port, c)
	if err != nil {
		return err.Error(), err
	}
	scheme := strings.ToLower(string(g.Scheme))
	if scheme == "" {
		scheme = "http"
	}
	addr := podAddress(g.Host, sb)
	host := addr.IP
	if host == "" {
		host = "127.0.0.1"
	}
	path := g.Path
	if !strings.HasPrefix(path, "/") {
		path = "/" + path
	}
	url := fmt.Sprintf("%s://%s%s", scheme, net.JoinHostPort(host, strconv.Itoa(port)), path)
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err.Error(), err
	}
	req.Header.Set("User-Agent", "kube-probe/1.37")
	req.Header.Set("Accept", "*/*")
	for _, h := range g.HTTPHeaders {
		if strings.EqualFold(h.Name, "Host") {
			req.Host = h.Value
		}
		req.Header.Add(h.Name, h.Value)
	}
	tr := &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return a.cfg.DialPod(ctx, addr, port)
		},
		TLSClientConfig:   &tls.Config{InsecureSkipVerify: true}, // as the kubelet: probes do not verify
		DisableKeepAlives: true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	resp, err := client.Do(req)
	if err != nil {
		msg := fmt.Sprintf("Get %q: %v", url, unwrapURLError(err))
		return msg, err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 10<<10))
	if resp.StatusCode >= 200 && resp.StatusCode < 400 {
		return "", nil
	}
	msg := fmt.Sprintf("HTTP probe failed with statuscode: %d", resp.StatusCode)
	_ = body
	return msg, errors.New(msg)
}

func unwrapURLError(err error) error {
	for {
		u := errors.Unwrap(err)
		if u == nil {
			return err
		}
		if _, ok := err.(interface{ Timeout() bool }); ok {
			return err
		}
		err = u
	}
}

// probeGRPC calls the gRPC health service.
func (a *Agent) probeGRPC(ctx context.Context, g *corev1.GRPCAction, sb container.Sandbox) (string, error) {
	addr := podAddress("", sb)
	conn, err := grpc.NewClient("passthrough:///pod",
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		grpc.WithContextDialer(func(ctx context.Context, _ string) (net.Conn, error) {
			return a.cfg.DialPod(ctx, addr, int(g.Port))
		}),
		grpc.WithUserAgent("kube-probe/1.37"))
	if err != nil {
		return err.Error(), err
	}
	defer conn.Close()
	service := ""
	if g.Service != nil {
		service = *g.Service
	}
	resp, err := healthpb.NewHealthClient(conn).Check(ctx, &healthpb.HealthCheckRequest{Service: service})
	if err != nil {
		msg := fmt.Sprintf("failed to connect service %q within %s: %v", net.JoinHostPort(sb.IP, strconv.Itoa(int(g.Port))), "timeout", err)
		return msg, err
	}
	if resp.GetStatus() != healthpb.HealthCheckResponse_SERVING {
		msg := fmt.Sprintf("service unhealthy (responded with %q)", resp.GetStatus().String())
		return msg, errors.New(msg)
	}
	return "", nil
}

// resolvePort turns a port number or a container port name into a number.
func resolvePort(p intstr.IntOrString, c *corev1.Container) (int, error) {
	if p.Type == intstr.Int {
		return p.IntValue(), nil
	}
	for _, cp := range c.Ports {
		if cp.Name == p.StrVal {
			return int(cp.ContainerPort), nil
		}
	}
	if n, err := strconv.Atoi(p.StrVal); err == nil {
		return n, nil
	}
	return 0, fmt.Errorf("couldn't find port %q in container %s", p.StrVal, c.Name)
}

// runHandler runs a lifecycle hook (exec, httpGet, tcpSocket, sleep)
// within timeout.
func (a *Agent) runHandler(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, h *corev1.LifecycleHandler, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	if h.Sleep != nil {
		select {
		case <-ctx.Done():
		case <-time.After(time.Duration(h.Sleep.Seconds) * time.Second):
		}
		return "", nil
	}
	var sb container.Sandbox
	if st, err := a.rt.ContainerStatus(ctx, id); err == nil {
		if s, err := a.rt.SandboxStatus(ctx, st.SandboxID); err == nil {
			sb = s
		}
	}
	p := &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: h.Exec, HTTPGet: h.HTTPGet, TCPSocket: h.TCPSocket}}
	msg, err := a.probe(ctx, pod, c, id, p, sb)
	if err != nil && h.Exec != nil {
		msg = fmt.Sprintf("Exec lifecycle hook (%s) for Container %q in Pod %q failed - error: %v, message: %q", h.Exec.Command, c.Name, podDesc(pod), err, msg)
	}
	return msg, err
}
