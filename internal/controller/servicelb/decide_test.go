package servicelb

import (
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

var epoch = time.Date(2026, 12, 1, 0, 0, 0, 0, time.UTC)

// lb returns a LoadBalancer service created age minutes after epoch with
// the given "port/PROTO" ports (protocol optional, TCP by default).
func lb(ns, name string, minute int, ports ...string) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Namespace: ns, Name: name, CreationTimestamp: metav1.NewTime(epoch.Add(time.Duration(minute) * time.Minute))},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeLoadBalancer, IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol}},
	}
	for _, p := range ports {
		num, proto, _ := strings.Cut(p, "/")
		sp := corev1.ServicePort{Name: "p" + num + proto, Protocol: corev1.Protocol(proto)}
		for _, r := range num {
			sp.Port = sp.Port*10 + int32(r-'0')
		}
		svc.Spec.Ports = append(svc.Spec.Ports, sp)
	}
	return svc
}

func serving(svc *corev1.Service) *corev1.Service {
	svc.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.1"}}
	return svc
}

func withClass(svc *corev1.Service, class string) *corev1.Service {
	svc.Spec.LoadBalancerClass = &class
	return svc
}

func withNodePort(svc *corev1.Service, i int, nodePort int32) *corev1.Service {
	svc.Spec.Ports[i].NodePort = nodePort
	return svc
}

// node returns a node; addrs are "Type=IP" ("InternalIP=10.0.0.1").
func node(name string, ready bool, addrs ...string) *corev1.Node {
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse}, {Type: corev1.NodeReady, Status: status}}
	for _, a := range addrs {
		t, ip, _ := strings.Cut(a, "=")
		n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(t), Address: ip})
	}
	return n
}

func ips(in []corev1.LoadBalancerIngress) []string {
	var out []string
	for _, i := range in {
		out = append(out, i.IP)
		if i.IPMode == nil || *i.IPMode != corev1.LoadBalancerIPModeVIP || i.Hostname != "" || len(i.Ports) > 0 {
			out = append(out, "(not a plain VIP entry)")
		}
	}
	return out
}

func TestIngressFromNodes(t *testing.T) {
	cordoned := node("cordoned", true, "InternalIP=10.0.0.5")
	cordoned.Spec.Unschedulable = true
	excluded := node("excluded", true, "InternalIP=10.0.0.6")
	excluded.Labels = map[string]string{corev1.LabelNodeExcludeBalancers: ""}
	noCondition := node("new", true, "InternalIP=10.0.0.7")
	noCondition.Status.Conditions = nil
	nodes := []*corev1.Node{
		node("b", true, "InternalIP=10.0.0.10", "Hostname=b", "ExternalIP=203.0.113.7"),
		node("a", true, "InternalIP=10.0.0.9", "InternalIP=fd00::9", "InternalIP=127.0.0.1", "InternalIP=169.254.1.1"),
		node("dup", true, "InternalIP=10.0.0.9"),
		node("notready", false, "InternalIP=10.0.0.4"),
		cordoned, excluded, noCondition,
	}
	dual := lb("default", "dual", 0, "81")
	dual.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol, corev1.IPv4Protocol}
	v6 := lb("default", "v6", 0, "82")
	v6.Spec.IPFamilies = []corev1.IPFamily{corev1.IPv6Protocol}
	unset := lb("default", "unset", 0, "83")
	unset.Spec.IPFamilies = nil

	tests := []struct {
		name  string
		svc   *corev1.Service
		nodes []*corev1.Node
		want  []string
	}{
		{"ready schedulable nodes, internal and external, sorted numerically", lb("default", "web", 0, "80"), nodes,
			[]string{"10.0.0.9", "10.0.0.10", "203.0.113.7"}},
		{"dual stack gets both families", dual, nodes, []string{"10.0.0.9", "10.0.0.10", "203.0.113.7", "fd00::9"}},
		{"IPv6 only", v6, nodes, []string{"fd00::9"}},
		{"families unset means IPv4", unset, nodes, []string{"10.0.0.9", "10.0.0.10", "203.0.113.7"}},
		{"no eligible node: pending without conflict", lb("default", "web", 0, "80"), []*corev1.Node{cordoned, excluded}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide([]*corev1.Service{tt.svc}, tt.nodes, nil)
			d, ok := got[key(tt.svc)]
			if !ok {
				t.Fatalf("no decision for %s: %v", key(tt.svc), got)
			}
			if len(d.Conflicts) > 0 {
				t.Fatalf("conflicts %v", d.Conflicts)
			}
			if g := ips(d.Ingress); !slices.Equal(g, tt.want) {
				t.Fatalf("ingress %v, want %v", g, tt.want)
			}
		})
	}
}

func TestConflicts(t *testing.T) {
	nodes := []*corev1.Node{node("a", true, "InternalIP=10.0.0.1")}
	reserved := []ReservedPort{
		{Port: 443, Owner: "the ingress controller"},
		{Port: 6443, Protocol: corev1.ProtocolTCP, Owner: "the API server"},
		{Port: 53, Protocol: corev1.ProtocolUDP},
	}
	tests := []struct {
		name     string
		services []*corev1.Service
		// want maps service name → "" (served) or its conflict message.
		want map[string]string
	}{
		{"older keeps the port", []*corev1.Service{lb("default", "young", 5, "80"), lb("default", "old", 1, "80")},
			map[string]string{"old": "", "young": "port 80/TCP is already used by LoadBalancer service default/old"}},
		{"same age: name order across namespaces", []*corev1.Service{lb("b", "x", 1, "80"), lb("a", "z", 1, "80")},
			map[string]string{"z": "", "x": "port 80/TCP is already used by LoadBalancer service a/z"}},
		{"a serving service is not displaced by an older one", []*corev1.Service{serving(lb("default", "young", 5, "80")), lb("default", "old", 1, "80")},
			map[string]string{"young": "", "old": "port 80/TCP is already used by LoadBalancer service default/young"}},
		{"two serving: the older keeps it", []*corev1.Service{serving(lb("default", "young", 5, "80")), serving(lb("default", "old", 1, "80"))},
			map[string]string{"old": "", "young": "port 80/TCP is already used by LoadBalancer service default/old"}},
		{"protocols are separate ports", []*corev1.Service{lb("default", "tcp", 1, "80/TCP"), lb("default", "udp", 2, "80/UDP"), lb("default", "sctp", 3, "80/SCTP"), lb("default", "dup", 4, "8080/UDP", "80")},
			map[string]string{"tcp": "", "udp": "", "sctp": "", "dup": "port 80/TCP is already used by LoadBalancer service default/tcp"}},
		{"all or nothing: a pending service holds none of its ports", []*corev1.Service{lb("default", "a", 1, "80"), lb("default", "b", 2, "80", "8080"), lb("default", "c", 3, "8080")},
			map[string]string{"a": "", "b": "port 80/TCP is already used by LoadBalancer service default/a", "c": ""}},
		{"every conflicting port is named", []*corev1.Service{lb("default", "a", 1, "80", "81"), lb("default", "b", 2, "80", "81", "443")},
			map[string]string{"a": "", "b": "port 80/TCP is already used by LoadBalancer service default/a; port 81/TCP is already used by LoadBalancer service default/a; port 443/TCP is reserved by the ingress controller"}},
		{"reserved ports, protocol defaulting to TCP", []*corev1.Service{lb("default", "https", 1, "443"), lb("default", "api", 2, "6443"), lb("default", "dns", 3, "53/UDP"), lb("default", "dnstcp", 4, "53/TCP"), lb("default", "udp443", 5, "443/UDP")},
			map[string]string{
				"https":  "port 443/TCP is reserved by the ingress controller",
				"api":    "port 6443/TCP is reserved by the API server",
				"dns":    "port 53/UDP is reserved by configuration",
				"dnstcp": "", "udp443": "",
			}},
		{"another service's node port", []*corev1.Service{
			withNodePort(lb("default", "np", 9, "80"), 0, 30080),
			lb("default", "wants", 1, "30080"),
			withNodePort(lb("default", "self", 2, "30081"), 0, 30081),
		}, map[string]string{"np": "", "self": "", "wants": "port 30080/TCP is the node port of service default/np"}},
		{"services not managed here neither hold nor get ports", []*corev1.Service{
			withClass(lb("default", "metal", 0, "80"), "metallb.io/metallb"),
			{ObjectMeta: metav1.ObjectMeta{Namespace: "default", Name: "plain"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeClusterIP, Ports: []corev1.ServicePort{{Port: 80}}}},
			withClass(lb("default", "ours", 1, "80"), Class),
			withClass(lb("default", "empty", 2, "81"), ""),
		}, map[string]string{"ours": "", "empty": ""}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Decide(tt.services, nodes, reserved)
			if len(got) != len(tt.want) {
				t.Errorf("decisions for %d services, want %d: %v", len(got), len(tt.want), got)
			}
			for _, svc := range tt.services {
				want, managed := tt.want[svc.Name]
				d, ok := got[key(svc)]
				if ok != managed {
					t.Errorf("%s: decided %t, want %t", svc.Name, ok, managed)
					continue
				}
				if !ok {
					continue
				}
				if d.Message() != want {
					t.Errorf("%s: message %q, want %q", svc.Name, d.Message(), want)
				}
				if served := len(d.Ingress) > 0; served != (want == "") {
					t.Errorf("%s: ingress %v with message %q", svc.Name, ips(d.Ingress), d.Message())
				}
			}
		})
	}
}

func TestDeletingServiceReleasesPorts(t *testing.T) {
	nodes := []*corev1.Node{node("a", true, "InternalIP=10.0.0.1")}
	old := lb("default", "old", 1, "80")
	now := metav1.NewTime(epoch)
	old.DeletionTimestamp = &now
	young := lb("default", "young", 2, "80")
	got := Decide([]*corev1.Service{old, young}, nodes, nil)
	if _, ok := got["default/old"]; ok {
		t.Errorf("a service being deleted got a decision: %v", got)
	}
	if d := got["default/young"]; len(d.Ingress) != 1 || len(d.Conflicts) > 0 {
		t.Errorf("young: %+v, want served", d)
	}
}

func TestSameIngress(t *testing.T) {
	vip, proxy := corev1.LoadBalancerIPModeVIP, corev1.LoadBalancerIPModeProxy
	tests := []struct {
		name string
		a, b []corev1.LoadBalancerIngress
		want bool
	}{
		{"nil and empty", nil, []corev1.LoadBalancerIngress{}, true},
		{"unset ipMode is VIP", []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}}, []corev1.LoadBalancerIngress{{IP: "10.0.0.1", IPMode: &vip}}, true},
		{"Proxy differs", []corev1.LoadBalancerIngress{{IP: "10.0.0.1", IPMode: &proxy}}, []corev1.LoadBalancerIngress{{IP: "10.0.0.1", IPMode: &vip}}, false},
		{"order matters", []corev1.LoadBalancerIngress{{IP: "10.0.0.1"}, {IP: "10.0.0.2"}}, []corev1.LoadBalancerIngress{{IP: "10.0.0.2"}, {IP: "10.0.0.1"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := sameIngress(tt.a, tt.b); got != tt.want {
				t.Errorf("sameIngress = %t, want %t", got, tt.want)
			}
		})
	}
}
