// Package server is the control-plane composition root: it starts etcd
// (embedded or external), the PKI, the API server over TLS and the
// controllers, bootstraps the cluster's built-in objects and writes the
// admin kubeconfig and the join token agents join with.
package server

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	clientv3 "go.etcd.io/etcd/client/v3"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/managedfields"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/rest"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/embedetcd"
	"github.com/gantry-dev/gantry/internal/ingress"
	"github.com/gantry-dev/gantry/internal/openapi"
	"github.com/gantry-dev/gantry/internal/storage"
	etcdstore "github.com/gantry-dev/gantry/internal/storage/etcd"
)

// Config configures a control-plane server.
type Config struct {
	// DataDir holds etcd's data, the PKI, tokens and the admin kubeconfig.
	DataDir string
	// BindAddress and Port are where the API server listens (HTTPS).
	// Port 0 picks a free port (tests).
	BindAddress string
	Port        int
	// EtcdEndpoints, when set, uses that etcd cluster instead of the
	// embedded one.
	EtcdEndpoints []string
	// ServiceCIDR is the ClusterIP range; NodePortRange is "30000-32767".
	ServiceCIDR   string
	NodePortRange string
	// ClusterCIDR is the pod network every node's podCIDR is carved from;
	// NodeCIDRMaskSize is the prefix length of one node's podCIDR.
	ClusterCIDR      string
	NodeCIDRMaskSize int
	// ClusterDomain is the DNS domain of services ("cluster.local");
	// ClusterDNS is the cluster DNS service's IP, inside ServiceCIDR.
	ClusterDomain string
	ClusterDNS    string
	// NodeMonitorGracePeriod is how long a node may go without renewing its
	// Lease before it becomes Ready=Unknown and is tainted unreachable;
	// DefaultTolerationSeconds is how long pods without a toleration of
	// their own then stay on it before they are evicted. The defaults
	// (15 s + 10 s) make the pods of a dead node run elsewhere within 30 s.
	NodeMonitorGracePeriod   time.Duration
	DefaultTolerationSeconds int64
	// DisableControllers runs the API server alone (tests of the API only).
	DisableControllers bool
	// EtcdUnsafeNoFsync skips fsync in embedded etcd (tests and benchmarks).
	EtcdUnsafeNoFsync bool
	// IngressHTTPPort and IngressHTTPSPort are the ports of the built-in
	// Ingress controller on BindAddress (0 disables a listener; with both
	// 0 the controller does not run). It runs with the controllers.
	IngressHTTPPort  int
	IngressHTTPSPort int
	// Profiling serves the Go runtime's profiles at /debug/pprof/ to
	// cluster admins (system:masters), as kube-apiserver's --profiling.
	Profiling bool
	// ListCacheMiB bounds the API server's cache of list item encodings
	// (MiB); 0 disables it.
	ListCacheMiB int
}

// DefaultConfig returns the configuration `gantry server` starts with.
func DefaultConfig() Config {
	return Config{
		DataDir:          "data",
		BindAddress:      "0.0.0.0",
		Port:             6443,
		ServiceCIDR:      "10.43.0.0/16",
		NodePortRange:    "30000-32767",
		ClusterCIDR:      "10.42.0.0/16",
		NodeCIDRMaskSize: 24,
		ClusterDomain:    "cluster.local",
		ClusterDNS:       "10.43.0.10",

		NodeMonitorGracePeriod:   15 * time.Second,
		DefaultTolerationSeconds: 10,
		IngressHTTPPort:          80,
		IngressHTTPSPort:         443,
		Profiling:                true,
		ListCacheMiB:             64,
	}
}

// Server is a running control plane. Create it with New and run it with Run.
type Server struct {
	cfg   Config
	log   *slog.Logger
	ready chan struct{}

	mu       sync.Mutex
	url      string
	loopback *rest.Config
	ingress  atomic.Pointer[ingress.Controller] // nil when not running
	// leadMu orders setLeading and setIngress; leading is whether this
	// server holds the controllers' Lease.
	leadMu  sync.Mutex
	leading bool
}

// New returns a server for cfg. It does no I/O.
func New(cfg Config, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{cfg: cfg, log: log, ready: make(chan struct{})}
}

// IngressServesEndpoint reports whether the built-in Ingress controller
// may still send new requests to ip as a ready endpoint; false when it
// does not run. The in-process node's drain waits for it (see
// node.Config.ServesEndpoint).
func (s *Server) IngressServesEndpoint(ip netip.Addr) bool {
	c := s.ingress.Load()
	return c != nil && c.ServesEndpoint(ip)
}

// Ready is closed once the API server serves and the cluster is bootstrapped.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// URL returns the API server's https URL (valid after Ready).
func (s *Server) URL() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.url
}

// LoopbackConfig returns an admin client configuration (valid after Ready).
func (s *Server) LoopbackConfig() *rest.Config {
	s.mu.Lock()
	defer s.mu.Unlock()
	return rest.CopyConfig(s.loopback)
}

// KubeconfigPath is where the admin kubeconfig is written.
func (s *Server) KubeconfigPath() string { return filepath.Join(s.cfg.DataDir, "kubeconfig.yaml") }

// Run starts everything and blocks until ctx ends, then shuts down.
func (s *Server) Run(ctx context.Context) error {
	start := time.Now()
	cfg := s.cfg
	if err := os.MkdirAll(cfg.DataDir, 0o700); err != nil {
		return fmt.Errorf("data dir: %w", err)
	}
	svcCfg, err := serviceConfig(cfg)
	if err != nil {
		return err
	}

	// The server-side apply type converter takes some 10 ms to build from
	// the OpenAPI schemas; do it while etcd starts. The OpenAPI documents
	// themselves are built on their first request.
	reg := api.NewRegistry()
	type docsResult struct {
		docs *openapi.Documents
		tc   managedfields.TypeConverter
		err  error
	}
	docsCh := make(chan docsResult, 1)
	go func() {
		docs, err := openapi.New(reg)
		if err != nil {
			docsCh <- docsResult{err: err}
			return
		}
		schemas, err := docs.Schemas()
		if err != nil {
			docsCh <- docsResult{err: err}
			return
		}
		tc, err := managedfields.NewTypeConverter(schemas, false)
		docsCh <- docsResult{docs, tc, err}
	}()

	client, closeEtcd, err := s.startEtcd(ctx)
	if err != nil {
		return err
	}
	defer closeEtcd()
	store := etcdstore.New(client, "/registry/")

	pki, err := auth.LoadOrCreatePKI(filepath.Join(cfg.DataDir, "tls"), auth.PKIOptions{
		ServingIPs: append(hostIPs(), net.ParseIP(firstServiceIP(svcCfg.CIDR))),
	})
	if err != nil {
		return fmt.Errorf("pki: %w", err)
	}
	tokens, err := auth.OpenTokenStore(filepath.Join(cfg.DataDir, "tokens.csv"))
	if err != nil {
		return fmt.Errorf("tokens: %w", err)
	}
	loopbackToken, err := auth.GenerateToken()
	if err != nil {
		return err
	}
	if err := tokens.AddEphemeral(loopbackToken, auth.User{Name: "system:apiserver", Groups: []string{auth.GroupMasters}}); err != nil {
		return err
	}
	joinToken, err := s.setUpJoin(pki, tokens)
	if err != nil {
		return err
	}
	saKey, err := auth.LoadOrCreateServiceAccountKey(filepath.Join(pki.Dir(), auth.ServiceAccountKeyFile))
	if err != nil {
		return err
	}
	saTokens, err := auth.NewServiceAccountIssuer(saKey, auth.DefaultServiceAccountIssuer, nil)
	if err != nil {
		return err
	}

	metrics := prometheus.NewRegistry()
	metrics.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	docs := <-docsCh
	if docs.err != nil {
		return fmt.Errorf("openapi: %w", docs.err)
	}
	nodeTransport, err := agentTransport(pki)
	if err != nil {
		return err
	}
	apiSrv, err := apiserver.New(apiserver.Config{
		NodeTransport: nodeTransport,
		IssueNodeCredentials: func(node string) (ca, cert, key []byte, err error) {
			cert, key, err = pki.IssueClientCert(apiserver.NodeUserPrefix+node, []string{apiserver.GroupNodes}, 0)
			return pki.CAPEM(), cert, key, err
		},
		Registry:      reg,
		Storage:       store,
		Authenticator: auth.Chain{auth.NewCertAuthenticator(pki.CACertificate()), tokens},
		// Without the controllers nothing creates the namespaces' default
		// accounts that the admission requires (API-only tests).
		ServiceAccountTokens:    saTokens,
		ServiceAccountAdmission: !cfg.DisableControllers,
		OpenAPI:                 docs.docs,
		TypeConverter:           docs.tc,
		Services:                svcCfg,
		Metrics:                 promhttp.HandlerFor(metrics, promhttp.HandlerOpts{}),
		MetricsRegisterer:       metrics,
		Profiling:               cfg.Profiling,
		ListCacheBytes:          listCacheBytes(cfg.ListCacheMiB),
		Logger:                  s.log.With("component", "apiserver"),
	})
	if err != nil {
		return err
	}

	ln, err := net.Listen("tcp", net.JoinHostPort(cfg.BindAddress, strconv.Itoa(cfg.Port)))
	if err != nil {
		return fmt.Errorf("listen: %w", err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	url := "https://127.0.0.1:" + strconv.Itoa(port)
	srv := &http.Server{Handler: apiSrv, TLSConfig: serverTLSConfig(pki), ReadHeaderTimeout: 30 * time.Second, ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(tls.NewListener(ln, srv.TLSConfig)) }()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(sctx)
	}()

	inproc := newInProcess(apiSrv)
	go func() {
		if err := inproc.serve(); err != nil {
			s.log.Error("in-process API connections", "err", err)
		}
	}()
	defer func() {
		sctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		inproc.shutdown(sctx)
	}()
	// The server's own clients use the in-process connections; the TLS
	// loopback configuration is for the in-process node agent and tests.
	internal := inproc.config(loopbackToken)
	loopback := &rest.Config{
		Host:            url,
		BearerToken:     loopbackToken,
		TLSClientConfig: rest.TLSClientConfig{CAData: pki.CAPEM()},
		QPS:             -1, // no client-side throttling inside the process
	}
	if err := bootstrap(ctx, loopback, cfg, port); err != nil {
		return fmt.Errorf("bootstrap: %w", err)
	}
	// Every server repairs the service allocations; its releases are
	// conditional, so several at once are safe.
	repairCtx, stopRepair := context.WithCancel(ctx)
	repaired := make(chan struct{})
	go func() {
		defer close(repaired)
		apiSrv.RunServiceRepair(repairCtx, apiserver.ServiceRepairInterval)
	}()
	defer func() { stopRepair(); <-repaired }()
	certPEM, keyPEM := pki.AdminCredentials()
	if err := auth.WriteKubeconfig(s.KubeconfigPath(), url, pki.CAPEM(), certPEM, keyPEM); err != nil {
		return fmt.Errorf("kubeconfig: %w", err)
	}
	if !cfg.DisableControllers {
		ctrlCtx, stopControllers := context.WithCancel(ctx)
		identity, err := serverIdentity(cfg.DataDir)
		if err != nil {
			stopControllers()
			return err
		}
		leRest := rest.CopyConfig(internal)
		leRest.UserAgent = "gantry-controller/leader-election"
		leClient, err := kubernetes.NewForConfig(leRest)
		if err != nil {
			stopControllers()
			return fmt.Errorf("leader election client: %w", err)
		}
		// The scheduler and the controllers run on the server holding the
		// controllers' Lease (design 0010); they are built anew each time
		// it is won.
		elected := make(chan struct{})
		go func() {
			defer close(elected)
			err := runElected(ctrlCtx, leClient, identity, defaultLeaderTimings, s.log, func(lctx context.Context) {
				s.setLeading(true)
				defer s.setLeading(false)
				wait, err := startControllers(lctx, cfg, pki.CAPEM(), rest.CopyConfig(internal), reg, metrics, s.log)
				if err != nil {
					s.log.Error("controllers not started", "err", err)
					<-lctx.Done()
					return
				}
				<-lctx.Done()
				wait()
			})
			if err != nil {
				s.log.Error("leader election not started; no controllers run", "err", err)
			}
		}()
		// Deferred after the HTTP server's shutdown, so this runs first:
		// controllers stop (and the Lease is released) while the API they
		// talk to is still up.
		defer func() { stopControllers(); <-elected }()
		ing, stopIngress, err := startIngress(ctrlCtx, cfg, rest.CopyConfig(internal), metrics, s.log)
		if err != nil {
			return fmt.Errorf("ingress: %w", err)
		}
		defer stopIngress()
		s.setIngress(ing)
	}
	s.mu.Lock()
	s.url, s.loopback = url, loopback
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("Gantry is ready", "url", url, "kubeconfig", s.KubeconfigPath(), "startup", time.Since(start).Round(time.Millisecond).String(), "joinToken", joinToken)

	select {
	case <-ctx.Done():
		return nil
	case err := <-serveErr:
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return fmt.Errorf("serve: %w", err)
	}
}

// JoinTokenPath is where the join token for `gantry agent --token` is
// written (mode 0600).
func (s *Server) JoinTokenPath() string { return filepath.Join(s.cfg.DataDir, "join-token") }

// setUpJoin loads or creates the join secret (DATA_DIR/token), lets it in
// as the join endpoint's user and writes the join token, which pins the
// CA, to JoinTokenPath. It returns the join token file's path.
func (s *Server) setUpJoin(pki *auth.PKI, tokens *auth.TokenStore) (string, error) {
	secret, err := auth.LoadOrCreateTokenFile(filepath.Join(s.cfg.DataDir, "token"))
	if err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	if err := tokens.AddEphemeral(secret, auth.User{Name: "gantry:agent-join", Groups: []string{apiserver.GroupJoiners}}); err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	if err := auth.WriteJoinTokenFile(s.JoinTokenPath(), auth.NewJoinToken(pki.CAFingerprint(), secret)); err != nil {
		return "", fmt.Errorf("join token: %w", err)
	}
	return s.JoinTokenPath(), nil
}

// serverTLSConfig is the PKI's server configuration with the CA sent after
// the serving certificate, so that a joining agent can fetch the CA in the
// handshake and check it against the fingerprint in its join token.
func serverTLSConfig(pki *auth.PKI) *tls.Config {
	tc := pki.ServerTLSConfig()
	c := tc.Certificates[0]
	c.Certificate = append(slices.Clone(c.Certificate), pki.CACertificate().Raw)
	tc.Certificates = []tls.Certificate{c}
	return tc
}

// startEtcd returns a client for the embedded or external etcd.
func (s *Server) startEtcd(ctx context.Context) (*clientv3.Client, func(), error) {
	if len(s.cfg.EtcdEndpoints) > 0 {
		c, err := etcdstore.NewClient(s.cfg.EtcdEndpoints, nil)
		if err != nil {
			return nil, nil, fmt.Errorf("etcd %v: %w", s.cfg.EtcdEndpoints, err)
		}
		return c, func() { c.Close() }, nil
	}
	ecfg := embedetcd.DefaultConfig()
	ecfg.DataDir = filepath.Join(s.cfg.DataDir, "etcd")
	ecfg.UnsafeNoFsync = s.cfg.EtcdUnsafeNoFsync
	e := embedetcd.New(ecfg, s.log.With("component", "etcd"))
	c, err := e.Start(ctx)
	if err != nil {
		return nil, nil, fmt.Errorf("embedded etcd: %w", err)
	}
	return c, e.Close, nil
}

// bootstrap creates the namespaces every cluster has and the cluster
// settings ConfigMap that node agents read.
func bootstrap(ctx context.Context, rc *rest.Config, cfg Config, port int) error {
	cs, err := kubernetes.NewForConfig(rc)
	if err != nil {
		return err
	}
	for _, name := range []string{metav1.NamespaceDefault, metav1.NamespaceSystem, metav1.NamespacePublic, corev1.NamespaceNodeLease} {
		_, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{})
		if err != nil && !apierrors.IsAlreadyExists(err) {
			return err
		}
	}
	settings := &corev1.ConfigMap{
		ObjectMeta: metav1.ObjectMeta{Name: api.ClusterSettingsName, Namespace: metav1.NamespaceSystem},
		Data:       api.ClusterSettings{ClusterCIDR: cfg.ClusterCIDR, ServiceCIDR: cfg.ServiceCIDR, ClusterDomain: cfg.ClusterDomain, ClusterDNS: cfg.ClusterDNS}.Data(),
	}
	if err := bootstrapKubernetesService(ctx, cs, cfg, port); err != nil {
		return err
	}
	cms := cs.CoreV1().ConfigMaps(metav1.NamespaceSystem)
	if _, err := cms.Create(ctx, settings, metav1.CreateOptions{}); apierrors.IsAlreadyExists(err) {
		// Flags may have changed since the last start: the running
		// configuration wins.
		cur, err := cms.Get(ctx, settings.Name, metav1.GetOptions{})
		if err != nil {
			return err
		}
		cur.Data = settings.Data
		_, err = cms.Update(ctx, cur, metav1.UpdateOptions{})
		return err
	} else if err != nil {
		return err
	}
	return nil
}

// bootstrapKubernetesService creates the default/kubernetes Service (the
// first IP of the service range, port 443) and points its Endpoints and
// EndpointSlice at this API server, so that in-cluster clients find it as
// they do in Kubernetes.
func bootstrapKubernetesService(ctx context.Context, cs kubernetes.Interface, cfg Config, port int) error {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{"component": "apiserver", "provider": "kubernetes"}},
		Spec: corev1.ServiceSpec{
			Type:      corev1.ServiceTypeClusterIP,
			ClusterIP: firstServiceIP(cfg.ServiceCIDR),
			Ports:     []corev1.ServicePort{{Name: "https", Port: 443, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(int32(port))}},
		},
	}
	// Look first: a create of an existing service with its fixed IP fails
	// on the IP (422) before the name.
	if _, err := cs.CoreV1().Services(metav1.NamespaceDefault).Get(ctx, svc.Name, metav1.GetOptions{}); apierrors.IsNotFound(err) {
		if _, err := cs.CoreV1().Services(metav1.NamespaceDefault).Create(ctx, svc, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
			return fmt.Errorf("kubernetes service: %w", err)
		}
	} else if err != nil {
		return fmt.Errorf("kubernetes service: %w", err)
	}
	addr := "127.0.0.1"
	if ip := net.ParseIP(cfg.BindAddress); ip != nil && !ip.IsUnspecified() && !ip.IsLoopback() && ip.To4() != nil {
		addr = ip.String() // the only address it listens on
	} else if ips := hostIPs(); len(ips) > 0 && ips[0].To4() != nil {
		addr = ips[0].String()
	}
	ep := &corev1.Endpoints{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{"endpointslice.kubernetes.io/skip-mirror": "true"}},
		Subsets: []corev1.EndpointSubset{{
			Addresses: []corev1.EndpointAddress{{IP: addr}},
			Ports:     []corev1.EndpointPort{{Name: "https", Port: int32(port), Protocol: corev1.ProtocolTCP}},
		}},
	}
	eps := cs.CoreV1().Endpoints(metav1.NamespaceDefault)
	if cur, err := eps.Get(ctx, ep.Name, metav1.GetOptions{}); err == nil {
		cur.Subsets = ep.Subsets
		_, err = eps.Update(ctx, cur, metav1.UpdateOptions{})
		if err != nil {
			return fmt.Errorf("kubernetes endpoints: %w", err)
		}
	} else if _, err := eps.Create(ctx, ep, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes endpoints: %w", err)
	}
	slice := &discoveryv1.EndpointSlice{
		ObjectMeta: metav1.ObjectMeta{Name: "kubernetes", Namespace: metav1.NamespaceDefault, Labels: map[string]string{
			discoveryv1.LabelServiceName: "kubernetes",
			discoveryv1.LabelManagedBy:   "gantry-apiserver",
		}},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{addr}, Conditions: discoveryv1.EndpointConditions{Ready: ptrTo(true)}}},
		Ports:       []discoveryv1.EndpointPort{{Name: ptrTo("https"), Port: ptrTo(int32(port)), Protocol: ptrTo(corev1.ProtocolTCP)}},
	}
	slices := cs.DiscoveryV1().EndpointSlices(metav1.NamespaceDefault)
	if cur, err := slices.Get(ctx, slice.Name, metav1.GetOptions{}); err == nil {
		cur.Endpoints, cur.Ports = slice.Endpoints, slice.Ports
		if _, err := slices.Update(ctx, cur, metav1.UpdateOptions{}); err != nil {
			return fmt.Errorf("kubernetes endpointslice: %w", err)
		}
	} else if _, err := slices.Create(ctx, slice, metav1.CreateOptions{}); err != nil && !apierrors.IsAlreadyExists(err) {
		return fmt.Errorf("kubernetes endpointslice: %w", err)
	}
	return nil
}

func ptrTo[T any](v T) *T { return &v }

// agentTransport is how the API server reaches node agents' streaming
// endpoints: with a client certificate of the cluster CA, which agents
// require. Agents serve self-signed certificates, which it does not verify
// (as kube-apiserver without --kubelet-certificate-authority; see
// docs/design/0003-agent-streaming.md).
func agentTransport(pki *auth.PKI) (http.RoundTripper, error) {
	certPEM, keyPEM, err := pki.IssueClientCert("gantry:apiserver-agent-client", []string{auth.GroupMasters}, 365*24*time.Hour)
	if err != nil {
		return nil, fmt.Errorf("agent client certificate: %w", err)
	}
	cert, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, err
	}
	return &http.Transport{
		Proxy:               nil,
		TLSClientConfig:     &tls.Config{Certificates: []tls.Certificate{cert}, InsecureSkipVerify: true, MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 8,
		IdleConnTimeout:     90 * time.Second,
		DialContext:         (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
	}, nil
}

func serviceConfig(cfg Config) (apiserver.ServiceConfig, error) {
	sc := apiserver.DefaultServiceConfig()
	if cfg.ServiceCIDR != "" {
		sc.CIDR = cfg.ServiceCIDR
	}
	if cfg.NodePortRange != "" {
		var lo, hi int
		if _, err := fmt.Sscanf(cfg.NodePortRange, "%d-%d", &lo, &hi); err != nil || lo <= 0 || hi < lo || hi > 65535 {
			return sc, fmt.Errorf("node port range %q: want LOW-HIGH, e.g. 30000-32767", cfg.NodePortRange)
		}
		sc.NodePortBase, sc.NodePortSize = lo, hi-lo+1
	}
	return sc, nil
}

// firstServiceIP returns the .1 address of a CIDR (the kubernetes service).
func firstServiceIP(cidr string) string {
	ip, _, err := net.ParseCIDR(cidr)
	if err != nil {
		return "10.43.0.1"
	}
	ip = ip.To4()
	if ip == nil {
		return "10.43.0.1"
	}
	ip[3]++
	return ip.String()
}

// hostIPs returns the machine's non-loopback addresses, for the serving
// certificate.
func hostIPs() []net.IP {
	var out []net.IP
	addrs, _ := net.InterfaceAddrs()
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			out = append(out, n.IP)
		}
	}
	return out
}

var _ storage.Interface = (*etcdstore.Store)(nil)

// listCacheBytes converts --list-cache-mb to apiserver.Config.ListCacheBytes.
func listCacheBytes(mib int) int {
	if mib <= 0 {
		return -1
	}
	return mib << 20
}

// setLeading records whether this server holds the controllers' Lease. Its
// ingress controller writes Ingress status only then: every server serves
// Ingress traffic, and several writing their own addresses would
// overwrite each other without end.
func (s *Server) setLeading(on bool) {
	s.leadMu.Lock()
	defer s.leadMu.Unlock()
	s.leading = on
	if ing := s.ingress.Load(); ing != nil {
		ing.SetStatusWriter(on)
	}
}

// setIngress publishes the running ingress controller (nil: none) and
// makes it the status writer if this server leads.
func (s *Server) setIngress(ing *ingress.Controller) {
	s.leadMu.Lock()
	defer s.leadMu.Unlock()
	s.ingress.Store(ing)
	if ing != nil {
		ing.SetStatusWriter(s.leading)
	}
}
