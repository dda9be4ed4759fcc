// Package proxy is Gantry's service proxy, its kube-proxy: it makes every
// Service's virtual addresses (cluster IP, node ports, load-balancer
// addresses) reach the service's endpoints on this node, by programming
// netfilter through nftables (github.com/google/nftables, netlink
// batches; no nft or iptables processes).
//
// # Parts
//
//   - Compute (rules.go) is pure: from Services, EndpointSlices (label
//     kubernetes.io/service-name) and this node (name, addresses) it
//     returns a Ruleset, plain data with one ServicePort per service port:
//     VIP, protocol, port, node port, external addresses, the endpoints
//     chosen, affinity, traffic policies.
//   - The nftables backend (nft.go, nftplan.go, nftexpr.go) lays a
//     Ruleset out as one table, `ip gantry`, and writes it in one netlink
//     batch, which the kernel applies atomically: all of it or none.
//   - Proxy (proxy.go) watches Services, EndpointSlices and this Node with
//     client-go informers and re-applies the rules after every change.
//   - conntrack.go deletes stale UDP conntrack entries after a sync.
//   - metrics.go holds the Prometheus metrics.
//
// # Behaviour (as kube-proxy's nftables mode)
//
//   - Endpoints: the ready ones; if none is ready, those serving and
//     terminating; if there are none at all, connections to the service
//     are rejected at once (ICMP port unreachable: connection refused for
//     TCP, an error for UDP and SCTP), not left to time out.
//   - Balancing: a uniformly random endpoint per new connection (numgen
//     random mod N). Established connections keep theirs (conntrack).
//   - sessionAffinity ClientIP (timeout from sessionAffinityConfig,
//     default 10800 s): a dynamic set per endpoint remembers client
//     addresses (`update @affinity-… { ip saddr timeout T }`) and is
//     checked before the random pick. The sets survive syncs.
//   - NodePort and LoadBalancer services: the node port on every local
//     address but 127.0.0.0/8 (`fib daddr type local`). LoadBalancer ones
//     also at their port on their status.loadBalancer.ingress IPs (ipMode
//     VIP or unset; the servicelb controller sets them to the node
//     addresses, or leaves them empty while the port is taken, and then
//     only the node port is served). Every service also at its port on
//     spec.externalIPs.
//   - externalTrafficPolicy Cluster: node-port and external traffic is
//     masqueraded (SNAT to the outgoing interface's address). Local: it
//     goes only to endpoints on this node (nodeName == Config.NodeName)
//     and keeps its client address; with none it is dropped. Traffic from
//     pods (Config.ClusterCIDR) and from the node itself is treated as
//     cluster traffic, as kube-proxy does. internalTrafficPolicy Local
//     restricts cluster-IP traffic to this node's endpoints (dropped if
//     none).
//   - Hairpin: a pod reaching its own service and sent to itself is
//     masqueraded. With Config.ClusterCIDR set, cluster-IP traffic from
//     outside the pod network is masqueraded too (kube-proxy's
//     --cluster-cidr), except the node's own connections (`fib saddr
//     type local`), whose replies come back to the node anyway. Unlike
//     kube-proxy: masquerading them with fully random ports made new
//     connections reuse (bridge IP, port) pairs of the backend's
//     TIME_WAIT sockets with timestamps from another offset, so the pod
//     dropped their SYNs (PAWS) and clients stalled for a 1-second
//     retransmit (measured: TcpExtPAWSTimewait in the pod, ~1% of
//     requests over 1 s at a few thousand new connections/s from the
//     host; none without the masquerade).
//   - Services without a selector work from EndpointSlices created by
//     hand; headless (clusterIP None) and ExternalName services, and
//     services without a cluster IP yet, get no rules.
//   - UDP flows to an endpoint that left a service are cut: after the
//     rules change, their conntrack entries are deleted (conntrack.go,
//     ctnetlink), else a client reusing its source port would keep
//     reaching the old endpoint until the entry times out. Failures are
//     logged, not retried.
//   - TCP, UDP and SCTP. IPv4 only: IPv6 cluster IPs, endpoints and node
//     addresses are ignored (dual-stack services get their IPv4 half).
//
// Not supported: IPv6; loadBalancerSourceRanges; topology-aware routing
// (hints); trafficDistribution; NodePorts on 127.0.0.1 (would need
// route_localnet); the kube-proxy health-check node port; proxying
// ExternalName services (DNS does that).
//
// # Chains
//
// One table, `ip gantry`, owned entirely by the proxy:
//
//	nat-prerouting  (nat, prerouting, dstnat)  ─┐  from pods and other hosts
//	nat-output      (nat, output, -100)        ─┴─► services
//	services:   ip daddr VIP  <proto> dport PORT  goto service-H-ns/name/proto/port
//	            ip daddr EXT  <proto> dport PORT  goto external-H-…   (LB/external IPs)
//	            fib daddr type local ip daddr != 127/8  jump nodeports
//	nodeports:  <proto> dport NODEPORT  goto external-H-…
//	service-H-…:  [ip saddr != CLUSTER_CIDR fib saddr type != local jump mark-for-masquerade]
//	              [ip saddr @affinity-E goto endpoint-E]  (per endpoint, with affinity)
//	              numgen random mod N vmap { 0: goto endpoint-E0, 1: goto endpoint-E1, … }
//	external-H-…: Cluster: jump mark-for-masquerade; the same choice over all endpoints
//	              Local:   pods/node → goto service-H-…; choice over local endpoints, or drop
//	endpoint-E-…: ip saddr EP_IP jump mark-for-masquerade        (hairpin)
//	              [update @affinity-E { ip saddr timeout T }]
//	              meta l4proto P dnat to EP_IP:EP_PORT
//	mark-for-masquerade: meta mark set meta mark | 0x4000
//	nat-postrouting (nat, postrouting, srcnat):
//	              meta mark & 0x4000 == 0 return
//	              meta mark set meta mark & ~0x4000 masquerade fully-random
//	filter-input, filter-forward, filter-output (filter, priority -110):
//	              ct state new jump no-endpoints
//	no-endpoints: ip daddr VIP|EXT <proto> dport PORT reject   (services without endpoints)
//	              fib daddr type local <proto> dport NODEPORT reject
//	              ip daddr VIP … drop   (internalTrafficPolicy Local, no local endpoint)
//
// Each sync is one netlink batch, applied atomically. The first (and any
// after a failed one) deletes and recreates the table. Later ones rewrite
// only the chains whose content changed (the backend keeps a fingerprint
// of each), delete the chains no longer wanted and add new ones, so a
// change to one service costs a few messages and the affinity sets keep
// their entries; the periodic resync rewrites every chain. Established
// connections are never affected by a sync: their NAT lives in conntrack.
// On start Run deletes any table left by an earlier process; when its
// context ends it deletes the table.
//
// # Docker and iptables-nft
//
// Docker 20.10 on these hosts programs its rules through iptables-nft
// (tables `ip nat` and `ip filter`). They coexist with `ip gantry`:
// separate tables run side by side at each hook, ordered by priority, and
// nothing here touches Docker's tables. What was found:
//
//   - Docker's `ip filter` FORWARD chain has policy drop. It accepts
//     traffic within one bridge (iifname br oifname br) and leaving a
//     bridge, but a new connection entering a bridge from another
//     interface is dropped unless it is a published port or DOCKER-USER
//     accepts it. So pod→service→pod traffic (same bridge) and node→service
//     traffic (output path) work, but node-port or load-balancer traffic
//     from another machine, DNATed to a pod, would be dropped by Docker's
//     chain, and an accept in our own chain cannot override a drop in
//     Docker's. The proxy therefore inserts one rule at the top of
//     DOCKER-USER, through github.com/coreos/go-iptables (Docker manages
//     its chains with iptables, so the rule must be one iptables can read):
//     `-d <cluster CIDR> -m conntrack --ctstate DNAT -m comment --comment
//     "<table>: service traffic to pods" -j ACCEPT`. Each node's rule names
//     its table, re-inserted on every full resync (Docker rebuilds its
//     chains when it restarts) and removed on shutdown (forward.go).
//     Nothing is added when the chain does not exist or the proxy programs
//     another network namespace.
//     Traffic between two different Docker bridges is dropped by
//     DOCKER-ISOLATION-STAGE-2, whatever the proxy does.
//   - Replies from a pod to a pod on the same bridge are switched, not
//     routed; they are un-NATed only because br_netfilter is loaded and
//     net.bridge.bridge-nf-call-iptables = 1 (Docker sets it; it is 1 on
//     these hosts).
//   - Docker masquerades traffic leaving a bridge network for another
//     interface (POSTROUTING `oifname != br ip saddr SUBNET masquerade`).
//   - The masquerade mark bit 0x4000 is not used by Docker.
//   - Docker's nat chains DNAT published container ports at the same
//     priority as ours; a node port or load-balancer port equal to a port
//     Docker publishes is taken by whichever table the kernel runs first.
//
// # Running it (internal/node)
//
//	cfg := proxy.DefaultConfig()
//	cfg.NodeName = nodeName                // this node's Node object name
//	cfg.ClusterCIDR = settings.ClusterCIDR // api.ClusterSettings; may be empty
//	cfg.Registerer = metricsRegistry       // nil registers nowhere
//	// cfg.NodeAddresses: leave empty to follow the Node's InternalIP and
//	// ExternalIP addresses, or set them.
//	p := proxy.New(cfg, client, log)       // no I/O
//	go func() { errc <- p.Run(ctx) }()     // needs CAP_NET_ADMIN (root)
//	<-p.Synced()                           // first rules in force
//
// Run returns an error at once when the Config is invalid (ErrConfig) or
// netfilter cannot be programmed (ErrCleanup wrapping the cause, e.g.
// EPERM); otherwise it runs until ctx ends, then deletes the table and
// returns nil. Syncs that fail (ErrApply) are logged and retried with
// back-off; the rules in force stay as they were.
//
// Waiting for rules: Applied returns the Ruleset in force; WaitApplied
// blocks until one satisfying a predicate is in force. Before stopping a
// terminating pod's containers the agent can wait for its address to have
// left every service:
//
//	err := p.WaitApplied(ctx, func(r *proxy.Ruleset) bool { return !r.HasEndpoint(podIP) })
//
// (An endpoint that is terminating but still serving stays in the rules
// only while its service has no ready endpoint, as in kube-proxy.)
//
// # Concurrency
//
// Run owns the informers, the backend and the metrics, and syncs from
// one goroutine: informer events only signal it (a channel of capacity
// one), and it syncs at most once per Config.MinSyncInterval (100 ms), so
// a burst of changes costs one sync, and within MinSyncInterval plus the
// sync's own time of the last change. A sync whose Ruleset equals the one
// in force is skipped, except for the periodic resync every
// Config.SyncPeriod (30 s) that repairs outside changes to the table.
// Applied, WaitApplied and Synced are safe from any goroutine; Rulesets
// they return are shared and read-only. A Proxy runs once; stopping is
// cancelling Run's context.
//
// # Metrics
//
// Registered on Config.Registerer: gantry_proxy_sync_duration_seconds
// (histogram), gantry_proxy_last_sync_timestamp_seconds,
// gantry_proxy_rules, gantry_proxy_service_ports and
// gantry_proxy_sync_errors_total.
//
// # Cost
//
// 1,000 services × 10 endpoints are 22,008 rules in about 11,000 chains.
// Measured on this 2-core VM while other builds loaded it (load ≈ 10):
//
//	go test -run '^$' -bench '1000x10' -benchtime 5x ./internal/proxy/
//	BenchmarkApply1000x10   2.8 s/sync wall, 0.75 s user + 0.81 s system CPU (full sync from nothing)
//	BenchmarkResync1000x10  0.47 s/sync wall, 0.10 s user + 0.02 s system CPU (one endpoint changed)
//	BenchmarkCompute1000x10 0.10 s (Compute and the chain layout alone)
//
// A full sync's time goes to the kernel's transaction and to reading one
// netlink acknowledgement per message (github.com/google/nftables asks
// for one for each).
package proxy
