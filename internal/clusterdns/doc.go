// Package clusterdns is Gantry's cluster DNS server: it answers the
// records of Kubernetes' DNS specification
// (github.com/kubernetes/dns, docs/specification.md) from informer caches
// of Services and EndpointSlices, and forwards every other name to the
// host's resolvers. It is built on github.com/miekg/dns.
//
// # Records
//
// With the cluster domain cluster.local and a TTL of 30 s (the TTL of
// Kubernetes' default CoreDNS configuration):
//
//	<svc>.<ns>.svc.cluster.local            A/AAAA  the service's cluster IPs (by family)
//	                                        CNAME   the externalName of an ExternalName service
//	<svc>.<ns>.svc.cluster.local (headless) A/AAAA  every ready endpoint address; NXDOMAIN if none
//	<host>.<svc>.<ns>.svc.cluster.local     A/AAAA  headless endpoints with that hostname (or, without
//	                                                one, with that dashed address: 10-42-0-7)
//	_<port>._<proto>.<svc>.<ns>.svc…        SRV     named ports: the service name and port, or for a
//	                                                headless service one record per ready endpoint
//	                                                (its hostname, the endpoint's port); the address
//	                                                records of the targets go in the additional section
//	<svc>.<ns>.svc… SRV                     SRV     every port (an extension CoreDNS has too)
//	<a-b-c-d>.<ns>.pod.cluster.local        A/AAAA  the address written in the name, for any address
//	                                                and namespace ("pods insecure", Kubernetes' default)
//	<reversed IP>.in-addr.arpa / ip6.arpa   PTR     cluster IPs and headless endpoints; other
//	                                                addresses are forwarded
//	dns-version.cluster.local               TXT     the specification's schema version
//	cluster.local                           SOA, NS (ns.dns.cluster.local, the kube-system/kube-dns
//	                                                service's address)
//
// Ready means the endpoint's ready condition is true or unset, or the
// service publishes not-ready addresses (spec.publishNotReadyAddresses or
// the tolerate-unready-endpoints annotation). Names are matched without
// regard to case. A name inside the zone that has no records is NXDOMAIN;
// one that exists without records of the asked type, or that only has
// names below it (svc.cluster.local, <ns>.svc.cluster.local when the
// namespace has a service, _tcp.<svc>…), is NODATA (NOERROR, no answer,
// the SOA in the authority section). A question for an ExternalName is
// answered with the CNAME followed by the target's records, looked up
// upstream (or in the caches, for a target inside the zone).
//
// Search-list names (<svc>, <svc>.<ns>) need nothing here: pods' resolvers
// expand them with the search domains of their resolv.conf (see
// internal/agent), trying each until one is not NXDOMAIN.
//
// # Forwarding
//
// Every other question goes to Config.Upstreams, by default the
// nameservers of the host's /etc/resolv.conf (loopback ones included, as
// the server runs on the host; upstreams that are this server itself are
// skipped), in order: over UDP, again over TCP when the answer is
// truncated; an upstream that does not answer, or answers SERVFAIL or
// REFUSED, passes the question to the next. When none answers the client
// gets SERVFAIL. Forwarded answers are not cached. Answers larger than
// the client's UDP size are truncated (TC set), so that the client
// asks again over TCP.
//
// # Running it
//
// New does no I/O; Run binds each Config.ListenAddrs address over UDP
// and TCP, starts the informers, serves once their caches have synced
// (Ready is closed then; queries sent earlier wait in the socket
// buffers) and blocks until its context ends:
//
//	cfg := clusterdns.DefaultConfig()
//	cfg.ClusterDomain = settings.ClusterDomain     // api.ClusterSettings
//	cfg.ListenAddrs = []string{gatewayIP + ":53"}  // reachable from the pods
//	srv, err := clusterdns.New(cfg, client, log)
//	…
//	metrics.MustRegister(srv.Collectors()...)
//	go srv.Run(ctx)
//
// The node composition root (internal/node) runs one server per node.
// Pods reach it at the cluster DNS IP (api.ClusterSettings.ClusterDNS,
// 10.43.0.10 by default) through the Service kube-system/kube-dns with
// that clusterIP, ports 53/UDP "dns" and 53/TCP "dns-tcp", whose
// endpoints are the servers' addresses; the service proxy translates the
// virtual IP. The agent writes the cluster DNS IP into pods' resolv.conf
// only once that service exists.
//
// # Concurrency
//
// ServeDNS runs on a goroutine per query (miekg/dns's model) and only
// reads the informer caches, whose objects are shared and never modified.
// Run may be called once; stopping is cancelling its context.
//
// # Metrics
//
// Collectors returns gantry_dns_requests_total{source,rcode},
// gantry_dns_request_duration_seconds{source} and
// gantry_dns_forward_failures_total; source is cluster, forward or server.
package clusterdns
