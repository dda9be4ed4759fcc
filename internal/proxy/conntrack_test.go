package proxy

import (
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
)

func TestStaleUDP(t *testing.T) {
	node := Node{Name: "node1", Addresses: []netip.Addr{addr("192.168.1.10")}}
	dns := corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53, NodePort: 30053}
	svcs := []*corev1.Service{
		newService("dns", "10.96.0.10", withType(corev1.ServiceTypeLoadBalancer), withPorts(dns), withIngress("192.168.1.10")),
		newService("web", "10.96.0.11"),
	}
	rules := func(svcs []*corev1.Service, eps ...ep) *Ruleset {
		return Compute(svcs, []*discoveryv1.EndpointSlice{
			newSliceProto("dns", "a", "dns", corev1.ProtocolUDP, 5353, eps...),
			newSlice("web", "a", 8080, eps...),
		}, node)
	}
	cmpAddr := cmp.Comparer(func(a, b netip.Addr) bool { return a == b })
	cmpFilter := cmp.AllowUnexported(ctFilter{})
	tests := []struct {
		name       string
		prev, next *Ruleset
		want       []ctFilter
	}{{
		name: "first sync",
		next: rules(svcs, "10.0.0.1"),
	}, {
		name: "endpoint removed: its UDP flows to the cluster IP, LB address and node port",
		prev: rules(svcs, "10.0.0.1", "10.0.0.2"),
		next: rules(svcs, "10.0.0.2"),
		want: []ctFilter{
			{dst: addr("10.96.0.10"), dport: 53, replySrc: addr("10.0.0.1")},
			{dst: addr("192.168.1.10"), dport: 53, replySrc: addr("10.0.0.1")},
			{dport: 30053, replySrc: addr("10.0.0.1")},
		},
	}, {
		name: "endpoint only turning terminating (still used) is not stale",
		prev: rules(svcs, "10.0.0.1"),
		next: rules(svcs, "10.0.0.1,terminating"),
	}, {
		name: "service deleted",
		prev: rules(svcs[:1], "10.0.0.1"),
		next: rules(nil),
		want: []ctFilter{
			{dst: addr("10.96.0.10"), dport: 53, replySrc: addr("10.0.0.1")},
			{dst: addr("192.168.1.10"), dport: 53, replySrc: addr("10.0.0.1")},
			{dport: 30053, replySrc: addr("10.0.0.1")},
		},
	}}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, staleUDP(tt.prev, tt.next), cmpAddr, cmpFilter); diff != "" {
				t.Errorf("staleUDP (-want +got):\n%s", diff)
			}
		})
	}
}

// TestClearConntrack: a UDP "connection" keeps going to its first
// endpoint after the rules change, until its conntrack entry is deleted.
func TestClearConntrack(t *testing.T) {
	ns := newTestNetns(t)
	setupEndpoints(t, ns)
	svc := []*corev1.Service{newService("udp", "10.96.0.15", withPorts(corev1.ServicePort{Name: "dns", Protocol: corev1.ProtocolUDP, Port: 53}))}
	node := Node{Name: "node1"}
	before := Compute(svc, []*discoveryv1.EndpointSlice{newSliceProto("udp", "a", "dns", corev1.ProtocolUDP, 5353, "10.0.0.11")}, node)
	after := Compute(svc, []*discoveryv1.EndpointSlice{newSliceProto("udp", "a", "dns", corev1.ProtocolUDP, 5353, "10.0.0.12")}, node)
	b := newNFTBackend(ns.fd, "gantry", 0x4000)
	if _, err := b.Apply(before, false); err != nil {
		t.Fatal(err)
	}
	var (
		c   net.Conn
		err error
	)
	ns.do(func() { c, err = net.Dial("udp4", "10.96.0.15:53") })
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	ask := func() string {
		t.Helper()
		c.SetDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Write([]byte("who")); err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 64)
		n, err := c.Read(buf)
		if err != nil {
			t.Fatal(err)
		}
		return string(buf[:n])
	}
	if got := ask(); got != "10.0.0.11" {
		t.Fatalf("first answer from %q, want 10.0.0.11", got)
	}
	if _, err := b.Apply(after, false); err != nil {
		t.Fatal(err)
	}
	if got := ask(); got != "10.0.0.11" {
		t.Fatalf("before the cleanup the flow went to %q; want the stale 10.0.0.11 (conntrack)", got)
	}
	n, err := b.ClearConntrack(staleUDP(before, after))
	if err != nil || n != 1 {
		t.Fatalf("ClearConntrack = %d, %v; want 1 entry deleted", n, err)
	}
	if got := ask(); got != "10.0.0.12" {
		t.Errorf("after the cleanup the flow went to %q, want 10.0.0.12", got)
	}
}
