package clusterdns

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/miekg/dns"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/logging"
)

// Sentinel errors.
var (
	// ErrConfig means New was given an unusable Config.
	ErrConfig = errors.New("clusterdns: invalid config")
	// ErrRunning means Run was called a second time.
	ErrRunning = errors.New("clusterdns: already run")
)

// ednsSize is the UDP payload size the server advertises (the 2020 DNS
// flag day value, which avoids IP fragmentation).
const ednsSize = 1232

// Server is the cluster DNS server. See the package documentation.
type Server struct {
	cfg     Config
	log     *slog.Logger
	store   *store
	res     *resolver
	fwd     atomic.Pointer[forwarder]
	metrics *metrics
	ctx     atomic.Pointer[context.Context]

	started atomic.Bool
	ready   chan struct{}
	mu      sync.Mutex
	addrs   []string
}

var _ dns.Handler = (*Server)(nil)

// New returns a server answering from informers on client. It does no
// I/O; Run starts the informers and the listeners.
func New(cfg Config, client kubernetes.Interface, log *slog.Logger) (*Server, error) {
	if cfg.ClusterDomain == "" {
		return nil, fmt.Errorf("%w: empty cluster domain", ErrConfig)
	}
	if _, ok := dns.IsDomainName(cfg.ClusterDomain); !ok {
		return nil, fmt.Errorf("%w: cluster domain %q", ErrConfig, cfg.ClusterDomain)
	}
	if len(cfg.ListenAddrs) == 0 {
		return nil, fmt.Errorf("%w: no listen address", ErrConfig)
	}
	for _, a := range cfg.ListenAddrs {
		if _, _, err := net.SplitHostPort(a); err != nil {
			return nil, fmt.Errorf("%w: listen address %q: %v", ErrConfig, a, err)
		}
	}
	if cfg.TTL < 0 || cfg.TTL > 24*time.Hour {
		return nil, fmt.Errorf("%w: TTL %v", ErrConfig, cfg.TTL)
	}
	if cfg.ForwardTimeout <= 0 {
		cfg.ForwardTimeout = DefaultConfig().ForwardTimeout
	}
	st, err := newStore(client, cfg.Informers)
	if err != nil {
		return nil, fmt.Errorf("clusterdns: informers: %w", err)
	}
	ttl := uint32(cfg.TTL / time.Second)
	s := &Server{
		cfg:     cfg,
		log:     logging.Component(log, "clusterdns"),
		store:   st,
		res:     newResolver(st, cfg.ClusterDomain, ttl, uint32(time.Now().Unix())),
		metrics: newMetrics(),
		ready:   make(chan struct{}),
	}
	s.fwd.Store(newForwarder(nil, cfg.ForwardTimeout))
	ctx := context.Background()
	s.ctx.Store(&ctx)
	return s, nil
}

// Ready is closed once the caches have synced and every listener serves.
func (s *Server) Ready() <-chan struct{} { return s.ready }

// ServesEndpoint reports whether the answers still name ip as a ready
// endpoint of a headless service. A node waits for it to turn false
// before a deleted pod at ip gets SIGTERM.
func (s *Server) ServesEndpoint(ip netip.Addr) bool { return s.store.servesEndpoint(ip.Unmap()) }

// Addrs returns the addresses served (UDP and TCP share each), with the
// ports chosen for port 0; nil before Ready.
func (s *Server) Addrs() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.addrs...)
}

// Run binds the listeners, starts the informers, serves once the caches
// have synced, and blocks until ctx ends. It returns nil after a clean
// stop, an error if a listener cannot be bound or fails. A Server runs once.
func (s *Server) Run(ctx context.Context) error {
	if !s.started.CompareAndSwap(false, true) {
		return ErrRunning
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	s.ctx.Store(&ctx)

	ups, err := s.cfg.upstreams()
	switch {
	case err != nil:
		s.log.Warn("no upstream resolvers; names outside the cluster domain get SERVFAIL", "err", err)
	case len(ups) == 0:
		s.log.Warn("no upstream resolvers; names outside the cluster domain get SERVFAIL", "resolvConf", s.cfg.ResolvConf)
	}
	s.fwd.Store(newForwarder(ups, s.cfg.ForwardTimeout))

	// Bind first so that a taken port fails at once; queries that arrive
	// before the caches sync wait in the socket buffers.
	var listeners []listener
	defer func() {
		for _, l := range listeners {
			l.close()
		}
	}()
	var addrs []string
	for _, a := range s.cfg.ListenAddrs {
		l, err := listen(a, s.cfg.ReusePort)
		if err != nil {
			return fmt.Errorf("clusterdns: listen %s: %w", a, err)
		}
		listeners = append(listeners, l)
		addrs = append(addrs, l.tcp.Addr().String())
	}

	s.store.factory.Start(ctx.Done())
	if s.store.ownFactory {
		defer s.store.factory.Shutdown()
	}
	if !cache.WaitForCacheSync(ctx.Done(), s.store.synced...) {
		return nil // ctx ended first
	}

	servers := make([]*dns.Server, 0, 2*len(listeners))
	errc := make(chan error, 2*len(listeners))
	var started sync.WaitGroup
	for _, l := range listeners {
		for _, srv := range []*dns.Server{
			{PacketConn: l.udp, Net: "udp", Handler: s},
			{Listener: l.tcp, Net: "tcp", Handler: s},
		} {
			started.Add(1)
			srv.NotifyStartedFunc = started.Done
			servers = append(servers, srv)
			go func() { errc <- srv.ActivateAndServe() }()
		}
	}
	listeners = nil // the dns.Servers own them now
	defer func() {
		sctx, scancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer scancel()
		for _, srv := range servers {
			_ = srv.ShutdownContext(sctx)
		}
	}()
	startedc := make(chan struct{})
	go func() { started.Wait(); close(startedc) }()
	select {
	case <-startedc:
	case err := <-errc:
		return fmt.Errorf("clusterdns: serve: %w", err)
	case <-ctx.Done():
		<-startedc // Shutdown needs a started server
		return nil
	}
	s.mu.Lock()
	s.addrs = addrs
	s.mu.Unlock()
	close(s.ready)
	s.log.Info("cluster DNS serving", "addrs", addrs, "clusterDomain", s.cfg.ClusterDomain, "upstreams", ups)

	select {
	case <-ctx.Done():
		return nil
	case err := <-errc:
		return fmt.Errorf("clusterdns: serve: %w", err)
	}
}

// listener is one address's UDP socket and TCP listener, on the same port.
type listener struct {
	udp net.PacketConn
	tcp net.Listener
}

func (l listener) close() {
	l.udp.Close()
	l.tcp.Close()
}

// listen binds addr over TCP and UDP, with SO_REUSEPORT if reusePort.
// For port 0 it binds TCP on a free port, then UDP on the same port,
// trying again if that one is taken.
func listen(addr string, reusePort bool) (listener, error) {
	var lc net.ListenConfig
	if reusePort {
		lc.Control = setReusePort
	}
	ctx := context.Background()
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return listener{}, err
	}
	for attempt := 0; ; attempt++ {
		tl, err := lc.Listen(ctx, "tcp", addr)
		if err != nil {
			return listener{}, err
		}
		p := tl.Addr().(*net.TCPAddr).Port
		pc, err := lc.ListenPacket(ctx, "udp", net.JoinHostPort(host, strconv.Itoa(p)))
		if err == nil {
			return listener{udp: pc, tcp: tl}, nil
		}
		tl.Close()
		if port != "0" || attempt == 10 {
			return listener{}, err
		}
	}
}

// ServeDNS answers one query. It is safe for concurrent use and answers
// from the caches as they are, so callers other than Run should wait for
// Ready.
func (s *Server) ServeDNS(w dns.ResponseWriter, req *dns.Msg) {
	start := time.Now()
	resp, source := s.answer(*s.ctx.Load(), req)
	if resp == nil {
		return
	}
	size := dns.MaxMsgSize
	if _, tcp := w.RemoteAddr().(*net.TCPAddr); !tcp {
		size = dns.MinMsgSize
		if opt := req.IsEdns0(); opt != nil {
			size = max(int(opt.UDPSize()), dns.MinMsgSize)
		}
	}
	resp.Compress = true
	resp.Truncate(size)
	if err := w.WriteMsg(resp); err != nil {
		s.log.Debug("writing a DNS answer failed", "remote", w.RemoteAddr().String(), "err", err)
	}
	s.metrics.observe(source, resp.Rcode, start)
}

// answer computes the response to req, nil for none.
func (s *Server) answer(ctx context.Context, req *dns.Msg) (*dns.Msg, string) {
	if req.Response {
		return nil, "" // never answer an answer
	}
	resp := new(dns.Msg)
	if req.Opcode != dns.OpcodeQuery {
		return resp.SetRcode(req, dns.RcodeNotImplemented), sourceServer
	}
	if len(req.Question) != 1 {
		return resp.SetRcode(req, dns.RcodeFormatError), sourceServer
	}
	if opt := req.IsEdns0(); opt != nil && opt.Version() != 0 {
		resp.SetRcode(req, dns.RcodeBadVers)
		resp.SetEdns0(ednsSize, false)
		return resp, sourceServer
	}
	q := req.Question[0]
	name := strings.ToLower(dns.Fqdn(q.Name))

	if labels, ok := s.res.inZone(name); ok {
		if (q.Qclass != dns.ClassINET && q.Qclass != dns.ClassANY) || q.Qtype == dns.TypeAXFR || q.Qtype == dns.TypeIXFR {
			return resp.SetRcode(req, dns.RcodeRefused), sourceServer
		}
		l := s.res.resolve(q.Name, labels, q.Qtype)
		rcode := s.chase(ctx, &l, q.Qtype)
		return s.reply(req, l, rcode), sourceCluster
	}
	if q.Qclass == dns.ClassINET && (strings.HasSuffix(name, ".in-addr.arpa.") || strings.HasSuffix(name, ".ip6.arpa.")) {
		if ip, ok := reverseAddr(name); ok {
			if l, ok := s.res.reverse(q.Name, ip, q.Qtype); ok {
				return s.reply(req, l, dns.RcodeSuccess), sourceCluster
			}
		}
	}

	r, err := s.fwd.Load().exchange(ctx, req)
	if err != nil {
		s.metrics.upstream.Inc()
		s.log.Debug("no upstream answered", "name", q.Name, "type", dns.TypeToString[q.Qtype], "err", err)
		return resp.SetRcode(req, dns.RcodeServerFailure), sourceForward
	}
	r.Id = req.Id
	return r, sourceForward
}

// chase follows an ExternalName's CNAME: inside the zone from the caches,
// outside through the upstreams (the first hop only; resolvers there
// follow further CNAMEs themselves). It appends the records found and
// returns the response code.
func (s *Server) chase(ctx context.Context, l *lookup, qtype uint16) int {
	if !l.exists {
		return dns.RcodeNameError
	}
	for range maxChase {
		if l.chase == "" {
			return dns.RcodeSuccess
		}
		target := l.chase
		l.chase = ""
		if labels, ok := s.res.inZone(target); ok {
			next := s.res.resolve(target, labels, qtype)
			l.answer = append(l.answer, next.answer...)
			if !next.exists {
				return dns.RcodeNameError
			}
			l.chase = next.chase
			continue
		}
		fq := new(dns.Msg)
		fq.SetQuestion(target, qtype)
		fq.SetEdns0(ednsSize, false)
		r, err := s.fwd.Load().exchange(ctx, fq)
		if err != nil {
			// The CNAME alone still lets the client resolve the target.
			return dns.RcodeSuccess
		}
		l.answer = append(l.answer, r.Answer...)
		return r.Rcode
	}
	return dns.RcodeSuccess
}

// reply turns a lookup into an authoritative response.
func (s *Server) reply(req *dns.Msg, l lookup, rcode int) *dns.Msg {
	resp := new(dns.Msg)
	resp.SetReply(req)
	resp.Authoritative = true
	resp.RecursionAvailable = true
	resp.Rcode = rcode
	resp.Answer = l.answer
	resp.Extra = l.extra
	if len(l.answer) == 0 {
		resp.Ns = []dns.RR{s.res.soa} // negative answers carry the SOA (RFC 2308)
	}
	if req.IsEdns0() != nil {
		resp.SetEdns0(ednsSize, false)
	}
	return resp
}
