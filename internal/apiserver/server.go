package apiserver

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"runtime/debug"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	jsonpatch "gopkg.in/evanphx/json-patch.v4"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/apimachinery/pkg/runtime/serializer"
	"k8s.io/apimachinery/pkg/runtime/serializer/protobuf"
	"k8s.io/apimachinery/pkg/util/managedfields"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gantry-dev/gantry/internal/api"
	"github.com/gantry-dev/gantry/internal/auth"
	"github.com/gantry-dev/gantry/internal/storage"
)

// Config is what the API server needs. Storage, Registry and Authenticator
// are required.
type Config struct {
	Registry      *api.Registry
	Storage       storage.Interface
	Authenticator auth.Authenticator
	// ServiceAccountTokens signs the tokens of serviceaccounts/token and
	// authenticates them (after Authenticator); nil: that subresource
	// answers 404 and no service account token is accepted.
	ServiceAccountTokens *auth.ServiceAccountIssuer
	// ServiceAccountAdmission runs Kubernetes' ServiceAccount admission on
	// pod creates (serviceaccount.go): the account must exist, and its
	// token, the cluster CA and the namespace are mounted unless automount
	// is off. It needs ServiceAccountTokens and the controllers that create
	// each namespace's "default" account.
	ServiceAccountAdmission bool
	// OpenAPI serves /openapi/v2 and /openapi/v3/...; nil: 404.
	OpenAPI http.Handler
	// Metrics serves /metrics (Prometheus text format) to authenticated
	// clients; nil: 404.
	Metrics http.Handler
	// TypeConverter enables server-side apply; nil: apply is refused (415).
	TypeConverter managedfields.TypeConverter
	// Services configures ClusterIP and NodePort allocation.
	Services ServiceConfig
	// MaxRequestBytes bounds request bodies (413 beyond); default 3 MiB.
	MaxRequestBytes int64
	// MaxObjectBytes bounds an object's stored encoding (413 beyond). etcd
	// refuses requests over 1.5 MiB by default (--max-request-bytes), which
	// would otherwise surface as a 500; the default leaves room for the key
	// and the transaction around the value.
	MaxObjectBytes int64
	// Ready reports whether /readyz should answer ok; nil: always ready.
	Ready func() error
	// NodeTransport reaches node agents' streaming endpoints (logs, exec,
	// attach, port-forward) with the API server's client certificate;
	// nil: those subresources answer 503.
	NodeTransport http.RoundTripper
	// IssueNodeCredentials returns the cluster CA and a client certificate
	// and key (PEM) for system:node:<node> in system:nodes, for JoinPath;
	// nil: JoinPath answers 404.
	IssueNodeCredentials func(node string) (ca, cert, key []byte, err error)
	// Profiling serves the Go runtime's profiles under ProfilingPath to
	// members of system:masters; false: 404.
	Profiling bool
	// BookmarkInterval is how often watches that allow bookmarks get one.
	BookmarkInterval time.Duration
	// ListCacheBytes bounds the cache of list item encodings (itemCache);
	// 0: 64 MiB, negative: no cache.
	ListCacheBytes int
	// MetricsRegisterer receives the request metrics (requestmetrics.go);
	// nil: none are kept.
	MetricsRegisterer prometheus.Registerer
	Logger            *slog.Logger
}

// Server is the HTTP handler for the Kubernetes API. It is safe for
// concurrent use; it holds no per-request state.
type Server struct {
	cfg       Config
	scheme    *runtime.Scheme
	codecs    serializer.CodecFactory
	protobuf  *protobuf.Serializer
	log       *slog.Logger
	discovery *discoveryDocs
	services  *serviceAllocator
	managers  map[fieldManagerKey]*managedfields.FieldManager
	// createFields memoises the managed fields of creates.
	createFields createFields
	// requests counts requests; nil without Config.MetricsRegisterer.
	requests *requestMetrics
	// repair is the state of the service allocation repair
	// (servicerepair.go).
	repair serviceRepair
	// listWriters recycles the write buffers of list responses
	// (*bufio.Writer of listChunk bytes).
	listWriters sync.Pool
	// events shares watch event encodings among watches.
	events *eventCache
	// items keeps the encodings of list items; nil when disabled.
	items *itemCache
	// authn is Config.Authenticator, then service account tokens when
	// Config.ServiceAccountTokens is set.
	authn auth.Authenticator
}

// New builds the API server. It does no I/O.
func New(cfg Config) (*Server, error) {
	if cfg.Registry == nil || cfg.Storage == nil || cfg.Authenticator == nil {
		return nil, errors.New("apiserver: Registry, Storage and Authenticator are required")
	}
	if cfg.MaxRequestBytes == 0 {
		cfg.MaxRequestBytes = 3 << 20
	}
	if cfg.MaxObjectBytes == 0 {
		cfg.MaxObjectBytes = 3<<19 - 16<<10
	}
	if cfg.BookmarkInterval == 0 {
		cfg.BookmarkInterval = time.Minute
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	limitJSONPatchCopies(cfg.MaxRequestBytes)
	scheme := api.NewScheme()
	s := &Server{
		cfg:      cfg,
		scheme:   scheme,
		codecs:   api.NewCodecs(scheme),
		protobuf: protobuf.NewSerializer(scheme, scheme),
		log:      cfg.Logger,
		events:   newEventCache(),
		authn:    cfg.Authenticator,
	}
	if cfg.ServiceAccountAdmission && cfg.ServiceAccountTokens == nil {
		return nil, errors.New("apiserver: ServiceAccountAdmission needs ServiceAccountTokens")
	}
	if cfg.ServiceAccountTokens != nil {
		// After the configured ones, so a client certificate wins over a
		// token, as kube-apiserver's x509 authenticator comes first.
		s.authn = auth.Chain{cfg.Authenticator, auth.ServiceAccountAuthenticator(cfg.ServiceAccountTokens, s.validateServiceAccountClaims)}
	}
	switch {
	case cfg.ListCacheBytes == 0:
		s.items = newItemCache(defaultItemCacheBytes)
	case cfg.ListCacheBytes > 0:
		s.items = newItemCache(cfg.ListCacheBytes)
	}
	s.listWriters.New = func() any { return bufio.NewWriterSize(nil, listChunk) }
	if cfg.MetricsRegisterer != nil {
		m, err := newRequestMetrics(cfg.MetricsRegisterer)
		if err != nil {
			return nil, fmt.Errorf("apiserver: request metrics: %w", err)
		}
		s.requests = m
	}
	s.discovery = newDiscoveryDocs(cfg.Registry)
	alloc, err := newServiceAllocator(cfg.Services, cfg.Storage)
	if err != nil {
		return nil, err
	}
	s.services = alloc
	if cfg.TypeConverter != nil {
		if err := s.buildFieldManagers(); err != nil {
			return nil, err
		}
	}
	return s, nil
}

func (s *Server) storageCodec(gv schema.GroupVersion) runtime.Codec {
	return runtime.NewCodec(
		runtime.WithVersionEncoder{Version: gv, Encoder: s.protobuf, ObjectTyper: s.scheme},
		s.protobuf,
	)
}

// limitJSONPatchCopies bounds how much JSON patch "copy" operations may
// grow a document (each can double it). The limit is the JSON patch
// library's own process-wide setting; like kube-apiserver, only ever
// raise it, so that several servers in one process keep the largest.
func limitJSONPatchCopies(limit int64) {
	for {
		cur := atomic.LoadInt64(&jsonpatch.AccumulatedCopySizeLimit)
		if cur != 0 && cur >= limit || atomic.CompareAndSwapInt64(&jsonpatch.AccumulatedCopySizeLimit, cur, limit) {
			return
		}
	}
}

// ServeHTTP routes one request: health and version, discovery, OpenAPI,
// then resource requests. Everything but health checks needs credentials.
// A panic while serving is logged and answered with 500 InternalError,
// as kube-apiserver does, instead of dropping the connection.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rw := &statusRecorder{ResponseWriter: w}
	defer func() {
		if v := recover(); v != nil {
			if v == http.ErrAbortHandler {
				panic(v)
			}
			s.log.Error("panic serving request", "method", r.Method, "path", r.URL.Path, "panic", v, "stack", string(debug.Stack()))
			if !rw.wroteHeader {
				s.writeError(rw, r, apierrors.NewInternalError(fmt.Errorf("panic: %v", v)))
			}
		}
	}()
	s.serveHTTP(rw, r)
}

// statusRecorder remembers whether the response has started, and its
// status code.
type statusRecorder struct {
	http.ResponseWriter
	wroteHeader bool
	code        int
}

func (w *statusRecorder) WriteHeader(code int) {
	if !w.wroteHeader {
		w.code = code
	}
	w.wroteHeader = true
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusRecorder) Write(b []byte) (int, error) {
	if !w.wroteHeader {
		w.code = http.StatusOK
	}
	w.wroteHeader = true
	return w.ResponseWriter.Write(b)
}

// sentStatus returns the status code w sent for r: the one written, else
// 101 for a connection handed over to a protocol upgrade (its response is
// written to the hijacked connection), else 200.
func sentStatus(w http.ResponseWriter, r *http.Request) int {
	if rec, ok := w.(*statusRecorder); ok && rec.code != 0 {
		return rec.code
	}
	if strings.Contains(strings.ToLower(r.Header.Get("Connection")), "upgrade") {
		return http.StatusSwitchingProtocols
	}
	return http.StatusOK
}

// Flush passes flushes through for watch streams.
func (w *statusRecorder) Flush() {
	w.wroteHeader = true
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

// Unwrap lets http.ResponseController reach the connection.
func (w *statusRecorder) Unwrap() http.ResponseWriter { return w.ResponseWriter }

func (s *Server) serveHTTP(w http.ResponseWriter, r *http.Request) {
	switch r.URL.Path {
	case "/livez", "/healthz":
		io.WriteString(w, "ok")
		return
	case "/readyz":
		if s.cfg.Ready != nil {
			if err := s.cfg.Ready(); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		io.WriteString(w, "ok")
		return
	}
	user, err := s.authn.Authenticate(r)
	if err != nil || user == nil {
		s.writeError(w, r, unauthorized())
		return
	}
	if r.URL.Path == JoinPath || slices.Contains(user.Groups, GroupJoiners) {
		s.serveJoin(w, r.WithContext(auth.WithUser(r.Context(), user)), user)
		return
	}
	if user, err = impersonate(user, r.Header); err != nil {
		s.writeError(w, r, err)
		return
	}
	r = r.WithContext(auth.WithUser(r.Context(), user))
	switch {
	case r.URL.Path == "/version" || r.URL.Path == "/version/":
		s.serveVersion(w, r)
		return
	case r.URL.Path == "/metrics":
		if s.cfg.Metrics == nil {
			s.writeError(w, r, notFound())
			return
		}
		s.cfg.Metrics.ServeHTTP(w, r)
		return
	case r.URL.Path == ProfilingPath || strings.HasPrefix(r.URL.Path, ProfilingPath+"/"):
		s.serveProfiling(w, r, user)
		return
	case strings.HasPrefix(r.URL.Path, "/openapi/"):
		if s.cfg.OpenAPI == nil {
			s.writeError(w, r, notFound())
			return
		}
		s.cfg.OpenAPI.ServeHTTP(w, r)
		return
	}
	if strings.HasPrefix(r.URL.Path, "/apis/"+metricsGroup+"/") || r.URL.Path == "/apis/"+metricsGroup {
		s.serveMetricsAPI(w, r)
		return
	}
	info, ok := parseRequestInfo(r)
	if !ok {
		s.writeError(w, r, notFound())
		return
	}
	if !info.resourceRequest {
		s.serveDiscovery(w, r, info)
		return
	}
	done := s.requests.start(info, r)
	defer func() { done(sentStatus(w, r)) }()
	s.serveResource(w, r, info)
}

func unauthorized() error {
	return newStatusError(http.StatusUnauthorized, "Unauthorized", "Unauthorized")
}

// notFound is the answer to a path the server has no handler for: as
// kube-apiserver's (net/http's) not-found handler, a plain-text "404 page
// not found" (writeError). client-go turns it into a NotFound Status
// that names the resource and object asked for, details kubectl reads
// (kubectl debug did, and crashed on a JSON Status without them).
func notFound() error { return noRoute{} }

// noRoute is notFound's error; as an APIStatus it is a 404 NotFound
// wherever a Status is needed instead.
type noRoute struct{}

func (noRoute) Error() string { return "the server could not find the requested resource" }

func (e noRoute) Status() metav1.Status {
	return metav1.Status{Status: metav1.StatusFailure, Code: http.StatusNotFound, Reason: metav1.StatusReasonNotFound, Message: e.Error()}
}
