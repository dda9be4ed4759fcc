package ingress

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"slices"
	"strconv"
	"sync/atomic"
	"time"
)

// router is the HTTP handler both listeners serve: it matches a request
// against the current table, picks an endpoint of the backend and proxies
// to it. Safe for concurrent use; the table is swapped atomically.
type router struct {
	log      *slog.Logger
	table    atomic.Pointer[table]
	services serviceSource
	lb       balancer
	proxy    *httputil.ReverseProxy
	metrics  *metrics
}

type targetKey struct{}

// target is the endpoint chosen for a request, and the backend's other
// endpoints to retry on when it cannot be connected to.
type target struct {
	addr string
	all  []string
}

// maxRetries bounds the other endpoints tried after a failed connect.
const maxRetries = 2

func newRouter(cfg Config, services serviceSource, m *metrics, log *slog.Logger) *router {
	rt := &router{log: log, services: services, metrics: m}
	rt.table.Store(buildTable(nil))
	transport := &http.Transport{
		Proxy:                 nil, // never through an environment proxy: backends are pod IPs
		DialContext:           (&net.Dialer{Timeout: cfg.DialTimeout, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          1000,
		MaxIdleConnsPerHost:   100,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: cfg.ResponseHeaderTimeout,
		ExpectContinueTimeout: time.Second,
	}
	rt.proxy = &httputil.ReverseProxy{
		Rewrite:      rewrite,
		Transport:    timedTransport{next: retryTransport{next: transport}, observe: m.upstream.Observe},
		ErrorHandler: rt.proxyError,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelDebug),
	}
	return rt
}

// rewrite sends the request to the chosen endpoint with the client's Host
// header and X-Forwarded-For (appended to the client's), -Host, -Proto and
// -Port.
func rewrite(pr *httputil.ProxyRequest) {
	tg, _ := pr.In.Context().Value(targetKey{}).(target)
	pr.SetURL(&url.URL{Scheme: "http", Host: tg.addr})
	pr.Out.Host = pr.In.Host
	pr.Out.Header["X-Forwarded-For"] = pr.In.Header["X-Forwarded-For"]
	pr.SetXForwarded()
	if la, ok := pr.In.Context().Value(http.LocalAddrContextKey).(net.Addr); ok {
		if _, port, err := net.SplitHostPort(la.String()); err == nil {
			pr.Out.Header.Set("X-Forwarded-Port", port)
		}
	}
}

func (rt *router) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w}
	defer func() {
		code := rec.code
		if code == 0 {
			code = http.StatusOK
		}
		rt.metrics.requests.WithLabelValues(strconv.Itoa(code)).Inc()
	}()
	be, ok := rt.table.Load().route(r.Host, r.URL.Path)
	if !ok {
		http.Error(rec, "404 page not found: no Ingress rule matches "+r.Host+r.URL.Path, http.StatusNotFound)
		return
	}
	addrs, err := resolve(rt.services, be)
	if err != nil {
		rt.log.Debug("no backend", "ingress", be.ingress, "host", r.Host, "path", r.URL.Path, "err", err)
		http.Error(rec, "503 service unavailable: "+err.Error(), http.StatusServiceUnavailable)
		return
	}
	tg := target{addr: rt.lb.pick(be, addrs), all: addrs}
	rt.proxy.ServeHTTP(rec, r.WithContext(context.WithValue(r.Context(), targetKey{}, tg)))
}

// proxyError answers a failed upstream exchange: 504 for a timeout, 502
// otherwise (nothing, when the client went away).
func (rt *router) proxyError(w http.ResponseWriter, r *http.Request, err error) {
	tg, _ := r.Context().Value(targetKey{}).(target)
	code := http.StatusBadGateway
	var ne net.Error
	switch {
	case errors.Is(err, context.Canceled) && r.Context().Err() != nil:
		code = 499 // client closed the request (nginx's code); nothing is sent
	case errors.Is(err, context.DeadlineExceeded), errors.As(err, &ne) && ne.Timeout():
		code = http.StatusGatewayTimeout
	}
	rt.log.Debug("backend failed", "host", r.Host, "path", r.URL.Path, "endpoint", tg.addr, "err", err)
	if code == 499 {
		if rec, ok := w.(*statusRecorder); ok {
			rec.code = code
		}
		return
	}
	http.Error(w, strconv.Itoa(code)+" "+http.StatusText(code), code)
}

// statusRecorder remembers the status code written; Unwrap lets
// http.ResponseController reach the connection (flushes, upgrades).
type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (s *statusRecorder) WriteHeader(code int) {
	if s.code == 0 && code >= 200 {
		s.code = code
	} else if code == http.StatusSwitchingProtocols {
		s.code = code
	}
	s.ResponseWriter.WriteHeader(code)
}

func (s *statusRecorder) Write(b []byte) (int, error) {
	if s.code == 0 {
		s.code = http.StatusOK
	}
	return s.ResponseWriter.Write(b)
}

func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// timedTransport observes how long each upstream round trip takes to its
// response headers.
type timedTransport struct {
	next    http.RoundTripper
	observe func(float64)
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	resp, err := t.next.RoundTrip(r)
	t.observe(time.Since(start).Seconds())
	return resp, err
}

// retryTransport retries a request without a body on up to maxRetries
// other endpoints of its backend when the connection to the chosen one
// cannot be made (nginx's proxy_next_upstream error): a pod that has just
// gone away, before its EndpointSlice says so. Nothing was sent then, so
// the retry is safe; requests with a body are not retried.
type retryTransport struct {
	next http.RoundTripper
}

func (t retryTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := t.next.RoundTrip(r)
	tg, ok := r.Context().Value(targetKey{}).(target)
	if err == nil || !ok || !isDialError(err) || (r.Body != nil && r.Body != http.NoBody) {
		return resp, err
	}
	start := slices.Index(tg.all, r.URL.Host)
	for i := 1; i <= maxRetries && i < len(tg.all); i++ {
		retry := r.Clone(r.Context())
		retry.URL.Host = tg.all[(start+i+len(tg.all))%len(tg.all)]
		resp, err = t.next.RoundTrip(retry)
		if err == nil || !isDialError(err) {
			return resp, err
		}
	}
	return resp, err
}

// isDialError reports whether err is a failure to connect.
func isDialError(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}
