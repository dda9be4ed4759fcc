package endpointslice

import (
	"fmt"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/utils/ptr"
)

type podOpt func(*corev1.Pod)

func pod(name, ip string, opts ...podOpt) *corev1.Pod {
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "ns", UID: types.UID("uid-" + name), Labels: map[string]string{"app": "web"}},
		Spec: corev1.PodSpec{
			NodeName:   "node-1",
			Containers: []corev1.Container{{Name: "c", Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 8080, Protocol: corev1.ProtocolTCP}}}},
		},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, PodIP: ip},
	}
	if ip != "" {
		p.Status.PodIPs = []corev1.PodIP{{IP: ip}}
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

func ready(p *corev1.Pod) {
	p.Status.Conditions = append(p.Status.Conditions, corev1.PodCondition{Type: corev1.PodReady, Status: corev1.ConditionTrue})
}

func terminating(p *corev1.Pod) {
	now := metav1.NewTime(time.Now())
	p.DeletionTimestamp = &now
}

func phase(ph corev1.PodPhase) podOpt { return func(p *corev1.Pod) { p.Status.Phase = ph } }

func httpPort(port int32) podOpt {
	return func(p *corev1.Pod) { p.Spec.Containers[0].Ports[0].ContainerPort = port }
}

func service(mut ...func(*corev1.Service)) *corev1.Service {
	s := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "ns", UID: "svc-uid", Labels: map[string]string{"team": "a"}},
		Spec: corev1.ServiceSpec{
			Selector:   map[string]string{"app": "web"},
			ClusterIP:  "10.43.0.20",
			IPFamilies: []corev1.IPFamily{corev1.IPv4Protocol},
			Ports:      []corev1.ServicePort{{Name: "http", Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}},
		},
	}
	for _, m := range mut {
		m(s)
	}
	return s
}

func noZone(string) string { return "" }

type conds struct{ ready, serving, terminating bool }

func condsOf(ep discoveryv1.Endpoint) conds {
	return conds{*ep.Conditions.Ready, *ep.Conditions.Serving, *ep.Conditions.Terminating}
}

func TestEndpointConditions(t *testing.T) {
	publish := func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true }
	tests := []struct {
		name string
		svc  *corev1.Service
		pod  *corev1.Pod
		want conds
	}{
		{"ready", service(), pod("p", "10.42.0.5", ready), conds{true, true, false}},
		{"not ready", service(), pod("p", "10.42.0.5"), conds{false, false, false}},
		{"terminating, still ready", service(), pod("p", "10.42.0.5", ready, terminating), conds{false, true, true}},
		{"terminating, not ready", service(), pod("p", "10.42.0.5", terminating), conds{false, false, true}},
		{"publishNotReadyAddresses, not ready", service(publish), pod("p", "10.42.0.5"), conds{true, false, false}},
		{"publishNotReadyAddresses, terminating", service(publish), pod("p", "10.42.0.5", terminating), conds{true, false, true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			groups := desiredGroups(tt.svc, []*corev1.Pod{tt.pod}, noZone)
			if len(groups) != 1 || len(groups[0].endpoints) != 1 {
				t.Fatalf("groups = %+v, want one endpoint", groups)
			}
			if got := condsOf(groups[0].endpoints[0]); got != tt.want {
				t.Fatalf("conditions = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestDesiredGroups(t *testing.T) {
	withHostname := func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "web" }
	otherSubdomain := func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-1", "other" }
	pods := []*corev1.Pod{
		pod("a", "10.42.0.1", ready),
		pod("b", "10.42.0.2", ready, httpPort(9090)), // same port name, another number
		pod("c", "", ready),                          // no IP yet
		pod("d", "10.42.0.4", ready, phase(corev1.PodSucceeded)),
		pod("e", "10.42.0.5", ready, phase(corev1.PodFailed)),
		pod("f", "10.42.0.6", withHostname),
		pod("g", "10.42.0.7", otherSubdomain),
		pod("h", "fd00::8", ready),                                                             // another family
		pod("i", "10.42.0.9", ready, func(p *corev1.Pod) { p.Spec.Containers[0].Ports = nil }), // no port resolves
		pod("j", "10.42.0.10", ready, func(p *corev1.Pod) { // the port on a sidecar
			p.Spec.InitContainers = []corev1.Container{{Name: "proxy", RestartPolicy: ptr.To(corev1.ContainerRestartPolicyAlways),
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: 15001, Protocol: corev1.ProtocolTCP}}}}
			p.Spec.Containers[0].Ports = nil
		}),
	}
	zone := func(node string) string { return map[string]string{"node-1": "zone-a"}[node] }
	groups := desiredGroups(service(), pods, zone)
	got := map[int32][]string{}
	for _, g := range groups {
		if len(g.ports) == 0 {
			for _, ep := range g.endpoints {
				got[0] = append(got[0], ep.TargetRef.Name)
			}
			continue
		}
		if g.addressType != discoveryv1.AddressTypeIPv4 || len(g.ports) != 1 {
			t.Fatalf("group %s: address type %s, ports %d", g.key(), g.addressType, len(g.ports))
		}
		p := g.ports[0]
		if *p.Name != "http" || *p.Protocol != corev1.ProtocolTCP {
			t.Fatalf("port %+v, want name http TCP", p)
		}
		for _, ep := range g.endpoints {
			got[*p.Port] = append(got[*p.Port], ep.TargetRef.Name)
			if ep.TargetRef.Kind != "Pod" || ep.TargetRef.UID != types.UID("uid-"+ep.TargetRef.Name) || ep.TargetRef.Namespace != "ns" {
				t.Errorf("targetRef %+v", ep.TargetRef)
			}
			if ep.NodeName == nil || *ep.NodeName != "node-1" || ep.Zone == nil || *ep.Zone != "zone-a" {
				t.Errorf("endpoint %s: nodeName %v zone %v", ep.TargetRef.Name, ep.NodeName, ep.Zone)
			}
			switch ep.TargetRef.Name {
			case "f":
				if ep.Hostname == nil || *ep.Hostname != "db-0" {
					t.Errorf("pod f with subdomain web: hostname %v, want db-0", ep.Hostname)
				}
			default:
				if ep.Hostname != nil {
					t.Errorf("pod %s: hostname %q, want none", ep.TargetRef.Name, *ep.Hostname)
				}
			}
		}
	}
	want := map[int32][]string{0: {"i"}, 8080: {"a", "f", "g"}, 9090: {"b"}, 15001: {"j"}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Fatalf("endpoints by resolved port = %v, want %v", got, want)
	}
}

func TestDesiredGroupsHeadlessWithoutPorts(t *testing.T) {
	svc := service(func(s *corev1.Service) { s.Spec.ClusterIP, s.Spec.Ports = corev1.ClusterIPNone, nil })
	groups := desiredGroups(svc, []*corev1.Pod{pod("a", "10.42.0.1", ready)}, noZone)
	if len(groups) != 1 || len(groups[0].ports) != 0 || len(groups[0].endpoints) != 1 {
		t.Fatalf("groups = %+v, want one portless group with one endpoint", groups)
	}
	if got := sliceLabels(svc)[LabelHeadless]; got != "" || len(sliceLabels(svc)) != 4 {
		t.Fatalf("labels %v, want the headless mark", sliceLabels(svc))
	}
}

func TestFindPort(t *testing.T) {
	p := pod("a", "10.42.0.1")
	tests := []struct {
		name string
		sp   corev1.ServicePort
		want int32
		ok   bool
	}{
		{"number", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromInt32(8081)}, 8081, true},
		{"unset defaults to port", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP}, 80, true},
		{"name", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("http")}, 8080, true},
		{"name with another protocol", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolUDP, TargetPort: intstr.FromString("http")}, 0, false},
		{"unknown name", corev1.ServicePort{Port: 80, Protocol: corev1.ProtocolTCP, TargetPort: intstr.FromString("grpc")}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := findPort(p, &tt.sp)
			if got != tt.want || ok != tt.ok {
				t.Fatalf("findPort = %d, %v; want %d, %v", got, ok, tt.want, tt.ok)
			}
		})
	}
}

func TestDesiredSubsets(t *testing.T) {
	never := func(p *corev1.Pod) { p.Spec.RestartPolicy = corev1.RestartPolicyNever }
	pods := []*corev1.Pod{
		pod("a", "10.42.0.1", ready),
		pod("b", "10.42.0.2"),                     // not ready
		pod("c", "10.42.0.3", ready, terminating), // left out
		pod("d", "10.42.0.4", never, phase(corev1.PodPending)),
		pod("e", "", ready),
	}
	subsets := desiredSubsets(service(), pods)
	if len(subsets) != 1 {
		t.Fatalf("subsets = %+v, want 1", subsets)
	}
	s := subsets[0]
	if got := ips(s.Addresses); got != "[10.42.0.1]" {
		t.Errorf("addresses %s, want [10.42.0.1]", got)
	}
	if got := ips(s.NotReadyAddresses); got != "[10.42.0.2 10.42.0.4]" {
		t.Errorf("notReadyAddresses %s, want [10.42.0.2 10.42.0.4]", got)
	}
	if len(s.Ports) != 1 || s.Ports[0].Port != 8080 || s.Ports[0].Name != "http" {
		t.Errorf("ports %+v, want http 8080", s.Ports)
	}
	if a := s.Addresses[0]; a.NodeName == nil || *a.NodeName != "node-1" || a.TargetRef == nil || a.TargetRef.Name != "a" {
		t.Errorf("address %+v lacks nodeName or targetRef", a)
	}

	publish := service(func(s *corev1.Service) { s.Spec.PublishNotReadyAddresses = true })
	subsets = desiredSubsets(publish, pods)
	if len(subsets) != 1 || ips(subsets[0].Addresses) != "[10.42.0.1 10.42.0.2 10.42.0.3 10.42.0.4]" || len(subsets[0].NotReadyAddresses) != 0 {
		t.Errorf("publishNotReadyAddresses: subsets %+v, want every pod with an IP ready", subsets)
	}

	if got := desiredSubsets(service(), nil); got != nil {
		t.Errorf("no pods: subsets %+v, want none", got)
	}
}

func ips(addrs []corev1.EndpointAddress) string {
	out := make([]string, 0, len(addrs))
	for _, a := range addrs {
		out = append(out, a.IP)
	}
	return fmt.Sprint(out)
}
