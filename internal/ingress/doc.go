// Package ingress is Gantry's built-in Ingress controller: an HTTP and
// HTTPS reverse proxy (net/http/httputil.ReverseProxy) that routes
// networking.k8s.io/v1 Ingresses to Service endpoints, from informer
// caches of Ingresses, IngressClasses, Services, EndpointSlices and
// Secrets.
//
// # Which Ingresses
//
// At start the controller creates the IngressClass Config.ClassName
// ("gantry", controller "gantry.dev/ingress"), annotated
// ingressclass.kubernetes.io/is-default-class: "true", unless one of that
// name exists (an administrator's changes to it are kept). It serves an
// Ingress whose spec.ingressClassName names an IngressClass with its
// controller name; without one, an Ingress whose legacy
// kubernetes.io/ingress.class annotation names such a class (or
// Config.ClassName); with neither, every Ingress while one of its classes
// is the default. Others are ignored.
//
// # Routing
//
// All served Ingresses are merged into one table, rebuilt whenever an
// Ingress, IngressClass or Secret changes and swapped atomically:
//
//   - Hosts: the Host header (port and trailing dot stripped, any case)
//     is matched against the rules of that exact host first, then those
//     of the wildcard covering it (*.example.com covers a.example.com, but
//     neither example.com nor a.b.example.com, as Kubernetes defines),
//     then the rules without a host. The first of these with a matching
//     path wins (a host's rules do not hide the less specific ones for
//     paths they do not match, as in the Gateway API); when none matches,
//     the oldest served Ingress's spec.defaultBackend; without one, 404.
//   - Paths: Exact matches the URL path exactly (case-sensitive); Prefix
//     matches element-wise, ignoring a trailing slash: /foo matches /foo,
//     /foo/ and /foo/bar, not /foobar. ImplementationSpecific is treated
//     as Prefix. Among matching paths the longest wins, Exact before
//     Prefix at equal length (Kubernetes' precedence); where two
//     Ingresses define the same host, path and type, the older wins.
//   - Backends: a Service port by number or by name, resolved to the
//     EndpointSlices' port of the same name (the Service's targetPort);
//     requests go round robin over the ready endpoints or, when none is
//     ready, the serving terminating ones. A missing Service or port, a
//     Service without endpoints, an ExternalName Service or a resource
//     backend answer 503. A request without a body whose endpoint refuses
//     the connection is retried on up to two other endpoints (nginx's
//     proxy_next_upstream error); otherwise a backend that fails answers
//     502, or 504 when it times out (Config.DialTimeout,
//     Config.ResponseHeaderTimeout).
//     Endpoints are read from the caches on every request, so a pod that
//     stops being ready stops receiving requests as soon as its
//     EndpointSlice says so.
//   - Headers: the client's Host header is passed on; X-Forwarded-For is
//     appended to, X-Forwarded-Host, -Proto (http or https) and -Port are
//     set. Upgrades (WebSocket) and HTTP/2 from clients work.
//
// # TLS
//
// The HTTPS listener chooses the certificate by SNI (tls.Config's
// GetCertificate) from the spec.tls entries of served Ingresses: the
// Secret (tls.crt and tls.key, in the Ingress's namespace) of the exact
// host, else of the wildcard host covering it, else of an entry without
// hosts, else a self-signed fallback certificate ("Gantry Ingress Fake
// Certificate") made at start. Certificates follow Secret changes; an
// unusable Secret is logged once and its hosts get the fallback. Plain
// HTTP requests for TLS hosts are not redirected.
//
// # Status
//
// Every served Ingress gets status.loadBalancer.ingress set to
// Config.StatusAddresses (IPs as ip, names as hostname); an Ingress that
// stops being served has it cleared, but only when it holds nothing but
// those addresses (another controller may have written it). With no
// listener bound, no status is written. The
// composition root (internal/server) passes the address the API server
// binds, or, when that is the unspecified address, the host's first
// non-loopback IPv4 address, the one it publishes as the kubernetes
// Service's endpoint. With several servers on one cluster each would
// write its own address: run the controller on one of them.
//
// # Running it
//
// New does no I/O; Run binds Config.HTTPAddr and Config.HTTPSAddr (an
// address that cannot be bound is logged as an error and that listener
// is left out; the controller and the server go on), ensures the class,
// starts the informers, serves once the caches have synced (Ready is
// closed then) and blocks until its context ends:
//
//	cfg := ingress.DefaultConfig()
//	cfg.HTTPAddr, cfg.HTTPSAddr = "0.0.0.0:80", "0.0.0.0:443"
//	cfg.StatusAddresses = []string{"192.0.2.10"}
//	c, err := ingress.New(cfg, client, registerer, log)
//	…
//	go c.Run(ctx)
//
// # Concurrency
//
// Requests are served on net/http's goroutines; they read the current
// route and certificate tables through atomic pointers and the informer
// caches, whose objects are shared and never modified. One goroutine
// rebuilds the tables, one writes statuses from a work queue. Run may be
// called once; stopping is cancelling its context.
//
// # Metrics
//
// New registers gantry_ingress_requests_total{code} and
// gantry_ingress_upstream_duration_seconds (time to a backend's response
// headers) on the Registerer it is given.
package ingress
