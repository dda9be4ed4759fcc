package proxy

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

// tableRuleset covers every kind of rule.
func tableRuleset() *Ruleset {
	return Compute(
		[]*corev1.Service{
			newService("web", "10.96.0.10"),
			newService("sticky", "10.96.0.11", withAffinity(60)),
			newService("empty", "10.96.0.12", withNodePort(30012)),
			newService("lb", "10.96.0.13", withType(corev1.ServiceTypeLoadBalancer), withNodePort(30013), withIngress("10.0.0.1")),
			newService("local", "10.96.0.14", withNodePort(30014), withLocal()),
			newService("udp", "10.96.0.15", withPorts(corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53})),
			newService("sctp", "10.96.0.16", withPorts(corev1.ServicePort{Name: "s", Protocol: corev1.ProtocolSCTP, Port: 9})),
		},
		[]*discoveryv1.EndpointSlice{
			newSliceProto("sctp", "a", "s", corev1.ProtocolSCTP, 9999, "10.0.0.12"),
			newSlice("web", "a", 8080, "10.0.0.11", "10.0.0.12", "10.0.0.13"),
			newSlice("sticky", "a", 8080, "10.0.0.11", "10.0.0.12"),
			newSlice("lb", "a", 8080, "10.0.0.11"),
			newSlice("local", "a", 8080, "10.0.0.11@other"),
			newSliceProto("udp", "a", "dns", corev1.ProtocolUDP, 5353, "10.0.0.11"),
		},
		Node{Name: "node1", Addresses: []netip.Addr{addr("10.0.0.1")}, ClusterCIDR: netip.MustParsePrefix("10.0.0.0/24")})
}

func TestNFTBackendTable(t *testing.T) {
	ns := newTestNetns(t)
	b := newNFTBackend(ns.fd, "gantry", 0x4000)
	n, err := b.Apply(tableRuleset(), false)
	if err != nil {
		t.Fatalf("Apply: %v", err)
	}
	out := ns.sh(t, "nft list table ip gantry")
	// (nft prints the keys of the numgen maps as big-endian numbers,
	// 16777216 for 1: github.com/google/nftables marks anonymous sets
	// big-endian; the kernel compares the host-endian bytes numgen writes.)
	for _, want := range []string{
		"type nat hook prerouting priority dstnat",
		"type nat hook output priority -100",
		"type nat hook postrouting priority srcnat",
		"type filter hook input priority -110",
		"type filter hook forward priority -110",
		"type filter hook output priority -110",
		"ct state new jump no-endpoints",
		"meta mark & 0x00004000 == 0x00000000 return",
		"masquerade fully-random",
		"meta mark set meta mark | 0x00004000",
		// cluster IPs, random choice, hairpin, non-pod sources
		"ip daddr 10.96.0.10 tcp dport 80 goto service-",
		"numgen random mod 3 vmap { 0 : goto endpoint-",
		"ip saddr 10.0.0.11 jump mark-for-masquerade",
		"ip saddr != 10.0.0.0/24 fib saddr type != local jump mark-for-masquerade",
		"meta l4proto tcp dnat to 10.0.0.12:8080",
		"ip daddr 10.96.0.15 udp dport 53 goto service-",
		"meta l4proto udp dnat to 10.0.0.11:5353",
		"ip daddr 10.96.0.16 sctp dport 9 goto service-",
		"meta l4proto sctp dnat to 10.0.0.12:9999",
		// affinity
		"ip saddr @affinity-",
		"{ ip saddr timeout 1m }",
		"flags dynamic,timeout",
		// no endpoints
		"ip daddr 10.96.0.12 tcp dport 80 reject",
		"fib daddr type local tcp dport 30012 reject",
		// node ports and load balancer on the node address
		"fib daddr type local ip daddr != 127.0.0.0/8 jump nodeports",
		"tcp dport 30013 goto external-",
		"ip daddr 10.0.0.1 tcp dport 80 goto external-",
		// externalTrafficPolicy Local without local endpoints
		"ip saddr 10.0.0.0/24 goto service-",
		"fib saddr type local goto service-",
		"drop",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q", want)
		}
	}
	if got := strings.Count(out, "\t\t") - strings.Count(out, "\t\ttype ") - strings.Count(out, "\t\tflags ") - strings.Count(out, "\t\ttimeout ") - strings.Count(out, "\t\tsize "); got != n {
		t.Errorf("Apply reported %d rules, the table lists %d", n, got)
	}
	if t.Failed() {
		t.Logf("table:\n%s", out)
	}
}

// setupEndpoints gives the namespace an interface with the node
// address 10.0.0.1 and endpoint addresses 10.0.0.11-13 (each serving TCP
// 8080 and UDP 5353, answering with its own address), and routes the
// service range 10.96.0.0/16 to it.
func setupEndpoints(t *testing.T, ns *testNetns) {
	t.Helper()
	for _, c := range []string{
		"ip link add d0 type veth peer name d1", // the kernels here lack dummy
		"ip link set d1 up",
		"ip link set d0 up",
		"ip addr add 10.0.0.1/24 dev d0",
		"ip addr add 10.0.0.11/24 dev d0",
		"ip addr add 10.0.0.12/24 dev d0",
		"ip addr add 10.0.0.13/24 dev d0",
		"ip route add 10.96.0.0/16 dev d0",
	} {
		ns.sh(t, c)
	}
	for _, a := range []string{"10.0.0.11", "10.0.0.12", "10.0.0.13"} {
		var (
			ln  net.Listener
			pc  net.PacketConn
			err error
		)
		ns.do(func() {
			if ln, err = net.Listen("tcp4", a+":8080"); err != nil {
				return
			}
			pc, err = net.ListenPacket("udp4", a+":5353")
		})
		if err != nil {
			t.Fatalf("listen in netns: %v", err)
		}
		t.Cleanup(func() { ln.Close(); pc.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				c.Write([]byte(a))
				c.Close()
			}
		}()
		go func() {
			buf := make([]byte, 64)
			for {
				_, from, err := pc.ReadFrom(buf)
				if err != nil {
					return
				}
				pc.WriteTo([]byte(a), from)
			}
		}()
	}
}

// call connects from inside the namespace (through the nat output hook)
// and returns what the endpoint answered.
func call(ns *testNetns, network, address string) (string, error) {
	var (
		c   net.Conn
		err error
	)
	ns.do(func() { c, err = net.DialTimeout(network, address, 2*time.Second) })
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	if network == "udp4" {
		if _, err := c.Write([]byte("ping")); err != nil {
			return "", err
		}
	}
	buf := make([]byte, 64)
	n, err := c.Read(buf)
	if err != nil && !errors.Is(err, io.EOF) {
		return "", err
	}
	return string(buf[:n]), nil
}

// spread calls address n times and counts the answers.
func spread(t *testing.T, ns *testNetns, network, address string, n int) map[string]int {
	t.Helper()
	got := make(map[string]int)
	for range n {
		who, err := call(ns, network, address)
		if err != nil {
			t.Fatalf("%s %s: %v", network, address, err)
		}
		got[who]++
	}
	return got
}

func TestNFTBackendTraffic(t *testing.T) {
	ns := newTestNetns(t)
	setupEndpoints(t, ns)
	services := []*corev1.Service{
		newService("web", "10.96.0.10"),
		newService("sticky", "10.96.0.11", withAffinity(600)),
		newService("empty", "10.96.0.12", withNodePort(30012)),
		newService("lb", "10.96.0.13", withType(corev1.ServiceTypeLoadBalancer), withNodePort(30013), withIngress("10.0.0.1")),
		newService("udp", "10.96.0.15", withPorts(corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53})),
	}
	all := []ep{"10.0.0.11", "10.0.0.12", "10.0.0.13"}
	slices := []*discoveryv1.EndpointSlice{
		newSlice("web", "a", 8080, all...),
		newSlice("sticky", "a", 8080, all...),
		newSlice("lb", "a", 8080, "10.0.0.12"),
		newSliceProto("udp", "a", "dns", corev1.ProtocolUDP, 5353, all...),
	}
	node := Node{Name: "node1", Addresses: []netip.Addr{addr("10.0.0.1")}}
	// Something listens on the node port of "empty": the reject must
	// come before it.
	var hostLn net.Listener
	var err error
	ns.do(func() { hostLn, err = net.Listen("tcp4", "10.0.0.1:30012") })
	if err != nil {
		t.Fatal(err)
	}
	defer hostLn.Close()
	go func() {
		for {
			c, err := hostLn.Accept()
			if err != nil {
				return
			}
			c.Write([]byte("host"))
			c.Close()
		}
	}()
	b := newNFTBackend(ns.fd, "gantry", 0x4000)
	if _, err := b.Apply(Compute(services, slices, node), false); err != nil {
		t.Fatalf("Apply: %v", err)
	}

	t.Run("cluster IP spreads over all endpoints", func(t *testing.T) {
		// P(an endpoint gets none of 60 random picks) = 3·(2/3)^60 ≈ 1e-10.
		got := spread(t, ns, "tcp4", "10.96.0.10:80", 60)
		if len(got) != 3 {
			t.Errorf("answers by endpoint = %v, want all of 10.0.0.11-13", got)
		}
	})
	t.Run("UDP", func(t *testing.T) {
		got := spread(t, ns, "udp4", "10.96.0.15:53", 30)
		if len(got) < 2 {
			t.Errorf("answers by endpoint = %v, want several endpoints", got)
		}
	})
	var pinned string
	t.Run("ClientIP affinity sticks", func(t *testing.T) {
		got := spread(t, ns, "tcp4", "10.96.0.11:80", 20)
		if len(got) != 1 {
			t.Fatalf("answers by endpoint = %v, want one endpoint", got)
		}
		for k := range got {
			pinned = k
		}
	})
	t.Run("no endpoints is refused at once", func(t *testing.T) {
		for _, a := range []string{"10.96.0.12:80", "10.0.0.1:30012"} {
			start := time.Now()
			_, err := call(ns, "tcp4", a)
			if !errors.Is(err, syscall.ECONNREFUSED) {
				t.Errorf("%s: err = %v, want connection refused", a, err)
			}
			t.Logf("%s refused after %v", a, time.Since(start))
		}
	})
	t.Run("node port and load balancer on the node address", func(t *testing.T) {
		for _, a := range []string{"10.0.0.1:30013", "10.0.0.1:80", "10.96.0.13:80"} {
			if got, err := call(ns, "tcp4", a); err != nil || got != "10.0.0.12" {
				t.Errorf("%s: answer %q, %v; want 10.0.0.12", a, got, err)
			}
		}
	})

	// A second Apply takes the incremental path: endpoints of "empty"
	// appear, "udp" goes, affinity entries survive, and the chains of
	// unchanged services are left alone (same rule handles).
	webChain := func() string {
		out := ns.sh(t, "nft -a list table ip gantry")
		i := strings.Index(out, "chain service-JXCKOF4Q-default/web/tcp/http")
		if i < 0 {
			t.Fatalf("no web service chain:\n%s", out)
		}
		return out[i : i+strings.Index(out[i:], "\n\t}")]
	}
	webBefore := webChain()
	services[2] = newService("empty", "10.96.0.12", withNodePort(30012))
	slices = append(slices[:3], newSlice("empty", "a", 8080, "10.0.0.13"))
	if _, err := b.Apply(Compute(services[:4], slices, node), false); err != nil {
		t.Fatalf("second Apply: %v", err)
	}
	if after := webChain(); after != webBefore {
		t.Errorf("unchanged chain rewritten:\n%s\nbecame\n%s", webBefore, after)
	}
	// A refresh rewrites every chain (new handles), affinity still kept.
	if _, err := b.Apply(Compute(services[:4], slices, node), true); err != nil {
		t.Fatalf("refresh Apply: %v", err)
	}
	if after := webChain(); after == webBefore {
		t.Errorf("refresh did not rewrite the web chain:\n%s", after)
	}
	t.Run("after resync", func(t *testing.T) {
		for _, a := range []string{"10.96.0.12:80", "10.0.0.1:30012"} {
			if got, err := call(ns, "tcp4", a); err != nil || got != "10.0.0.13" {
				t.Errorf("%s: answer %q, %v; want 10.0.0.13", a, got, err)
			}
		}
		if got := spread(t, ns, "tcp4", "10.96.0.11:80", 10); len(got) != 1 || got[pinned] != 10 {
			t.Errorf("affinity after resync: answers %v, want all from %s", got, pinned)
		}
		if out := ns.sh(t, "nft list table ip gantry"); strings.Contains(out, "10.96.0.15") {
			t.Errorf("removed service still in the table:\n%s", out)
		}
	})
	if err := b.Cleanup(); err != nil {
		t.Fatalf("Cleanup: %v", err)
	}
	if out := ns.sh(t, "nft list tables"); strings.Contains(out, "gantry") {
		t.Errorf("table left after Cleanup: %s", out)
	}
	if err := b.Cleanup(); err != nil {
		t.Errorf("second Cleanup: %v", err)
	}
}

// TestNFTBackendPrerouting runs four namespaces, as on a node: a client
// (another host, 10.0.0.100) and two pods (10.1.0.11 and 10.1.1.12 in the
// pod network 10.1.0.0/16) routed through the node namespace, which
// holds the rules. Traffic takes the nat prerouting,
// filter forward and nat postrouting hooks; each endpoint answers with the
// source address it sees.
func TestNFTBackendPrerouting(t *testing.T) {
	node := newTestNetns(t)
	client := newTestNetns(t)
	pod := newTestNetns(t)
	pod2 := newTestNetns(t)
	into := func(ns *testNetns) string { return fmt.Sprintf("/proc/%d/fd/%d", os.Getpid(), ns.fd) }
	for _, c := range []string{
		"ip link add d0 type veth peer name d1",
		"ip link add p0 type veth peer name p1",
		"ip link set d1 netns " + into(client),
		"ip link set p1 netns " + into(pod),
		"ip link add q0 type veth peer name q1",
		"ip link set q1 netns " + into(pod2),
		"ip addr add 10.1.1.1/24 dev q0",
		"ip link set q0 up",
		"ip addr add 10.0.0.1/24 dev d0",
		"ip addr add 10.1.0.1/24 dev p0",
		"ip link set d0 up",
		"ip link set p0 up",
		"ip route add 10.96.0.0/16 dev p0", // the service range, routed somewhere
		"sysctl -qw net.ipv4.ip_forward=1",
	} {
		node.sh(t, c)
	}
	client.sh(t, "ip addr add 10.0.0.100/24 dev d1")
	client.sh(t, "ip link set d1 up")
	client.sh(t, "ip route add default via 10.0.0.1")
	pod.sh(t, "ip addr add 10.1.0.11/24 dev p1")
	pod.sh(t, "ip link set p1 up")
	pod.sh(t, "ip route add default via 10.1.0.1")
	pod2.sh(t, "ip addr add 10.1.1.12/24 dev q1")
	pod2.sh(t, "ip link set q1 up")
	pod2.sh(t, "ip route add default via 10.1.1.1")
	for a, ns := range map[string]*testNetns{"10.1.0.11": pod, "10.1.1.12": pod2} {
		var ln net.Listener
		var err error
		ns.do(func() { ln, err = net.Listen("tcp4", a+":9090") })
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				host, _, _ := net.SplitHostPort(c.RemoteAddr().String())
				c.Write([]byte(host))
				c.Close()
			}
		}()
	}

	services := []*corev1.Service{
		newService("cluster", "10.96.0.20", withNodePort(30020)),
		newService("local", "10.96.0.21", withNodePort(30021), withLocal()),
		newService("remote", "10.96.0.22", withNodePort(30022), withLocal()),
		newService("empty", "10.96.0.23"),
	}
	slices := []*discoveryv1.EndpointSlice{
		newSlice("cluster", "a", 9090, "10.1.0.11@node1"),
		newSlice("local", "a", 9090, "10.1.1.12@node1"),
		newSlice("remote", "a", 9090, "10.1.1.12@node2"),
	}
	n := Node{Name: "node1", Addresses: []netip.Addr{addr("10.0.0.1")}, ClusterCIDR: netip.MustParsePrefix("10.1.0.0/16")}
	if _, err := newNFTBackend(node.fd, "gantry", 0x4000).Apply(Compute(services, slices, n), false); err != nil {
		t.Fatal(err)
	}
	dialFrom := func(ns *testNetns, local, address string) (string, error) {
		if local == "" {
			return call(ns, "tcp4", address)
		}
		var (
			c   net.Conn
			err error
		)
		d := net.Dialer{Timeout: 2 * time.Second, LocalAddr: &net.TCPAddr{IP: net.ParseIP(local)}}
		ns.do(func() { c, err = d.Dial("tcp4", address) })
		if err != nil {
			return "", err
		}
		defer c.Close()
		b, err := io.ReadAll(c)
		return string(b), err
	}
	for _, tt := range []struct {
		name        string
		from        *testNetns
		local, addr string
		want        string
	}{
		{"cluster IP from outside the pod network: masqueraded", client, "", "10.96.0.20:80", "10.1.0.1"},
		{"node port, policy Cluster: masqueraded", client, "", "10.0.0.1:30020", "10.1.0.1"},
		{"node port, policy Local: source kept", client, "", "10.0.0.1:30021", "10.0.0.100"},
		{"cluster IP from another pod: source kept", pod2, "", "10.96.0.20:80", "10.1.1.12"},
		// The node's own connections are not masqueraded (the replies come
		// back to it): masquerading them with random ports made new
		// connections collide with the pod's TIME_WAIT sockets.
		{"cluster IP from the node itself, outside the pod network: source kept", node, "10.0.0.1", "10.96.0.20:80", "10.0.0.1"},
		{"hairpin: a pod reaching itself is masqueraded", pod, "10.1.0.11", "10.96.0.20:80", "10.1.0.1"},
	} {
		if got, err := dialFrom(tt.from, tt.local, tt.addr); err != nil || got != tt.want {
			t.Errorf("%s: %s saw %q, %v; want %s", tt.name, tt.addr, got, err, tt.want)
		}
	}
	// Policy Local without a local endpoint drops (a timeout), while a
	// service without endpoints refuses at once (filter forward).
	if _, err := call(client, "tcp4", "10.0.0.1:30022"); err == nil || errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("node port with only remote endpoints: err = %v, want a timeout", err)
	}
	if _, err := call(client, "tcp4", "10.96.0.23:80"); !errors.Is(err, syscall.ECONNREFUSED) {
		t.Errorf("service without endpoints: err = %v, want connection refused", err)
	}
}
