package ingress

import (
	"errors"
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes/fake"
	"k8s.io/client-go/tools/cache"
)

func TestResolve(t *testing.T) {
	yes, no := ptr(true), ptr(false)
	web := service("ns", "web",
		corev1.ServicePort{Name: "http", Port: 80, TargetPort: intstr.FromString("http"), Protocol: corev1.ProtocolTCP},
		corev1.ServicePort{Name: "admin", Port: 9000, TargetPort: intstr.FromInt32(9090), Protocol: corev1.ProtocolTCP},
		corev1.ServicePort{Name: "dns", Port: 53, Protocol: corev1.ProtocolUDP},
	)
	ext := service("ns", "ext", corev1.ServicePort{Port: 80})
	ext.Spec.Type, ext.Spec.ExternalName = corev1.ServiceTypeExternalName, "example.org"
	src := fakeSource{
		services: map[string]*corev1.Service{
			"ns/web": web, "ns/ext": ext,
			"ns/empty":     service("ns", "empty", corev1.ServicePort{Port: 80}),
			"ns/draining":  service("ns", "draining", corev1.ServicePort{Port: 80}),
			"ns/unnamed":   service("ns", "unnamed", corev1.ServicePort{Port: 80, TargetPort: intstr.FromInt32(8080)}),
			"ns/notserved": service("ns", "notserved", corev1.ServicePort{Port: 80}),
		},
		slices: map[string][]*discoveryv1.EndpointSlice{
			"ns/web": {
				slice("ns", "web", "web-a", "http", 8080, ep{ip: "10.0.0.2", ready: yes}, ep{ip: "10.0.0.1"}, ep{ip: "10.0.0.3", ready: no}),
				// A second slice with another target port (a rollout that
				// changed the container port).
				slice("ns", "web", "web-b", "http", 8081, ep{ip: "10.0.0.4", ready: yes}, ep{ip: "10.0.0.1", ready: yes}),
				slice("ns", "web", "web-admin", "admin", 9090, ep{ip: "10.0.0.1", ready: yes}),
			},
			"ns/draining": {
				slice("ns", "draining", "d", "", 8080,
					ep{ip: "10.0.1.1", ready: no, serving: yes, terminating: yes},
					ep{ip: "10.0.1.2", ready: no, serving: no, terminating: yes}),
			},
			"ns/unnamed":   {slice("ns", "unnamed", "u", "", 8080, ep{ip: "10.0.2.1", ready: yes})},
			"ns/notserved": {slice("ns", "notserved", "n", "", 8080, ep{ip: "10.0.3.1", ready: no})},
		},
	}
	be := func(svc string, port int32, name string) backendRef {
		b := newBackendRef(newIngress("ns", "i", 0), ptr(svcBackend(svc, port, name)))
		return b
	}
	tests := []struct {
		name    string
		be      backendRef
		want    []string
		wantErr error
	}{
		{"by port name, ready or unset-ready endpoints of every slice", be("web", 0, "http"), []string{"10.0.0.1:8080", "10.0.0.1:8081", "10.0.0.2:8080", "10.0.0.4:8081"}, nil},
		{"by port number resolves the named target port", be("web", 80, ""), []string{"10.0.0.1:8080", "10.0.0.1:8081", "10.0.0.2:8080", "10.0.0.4:8081"}, nil},
		{"second port's slice port", be("web", 9000, ""), []string{"10.0.0.1:9090"}, nil},
		{"unnamed port", be("unnamed", 80, ""), []string{"10.0.2.1:8080"}, nil},
		{"only terminating: serving terminating ones", be("draining", 80, ""), []string{"10.0.1.1:8080"}, nil},
		{"UDP port is not a backend", be("web", 53, ""), nil, ErrNoPort},
		{"unknown port name", be("web", 0, "https"), nil, ErrNoPort},
		{"unknown port number", be("web", 81, ""), nil, ErrNoPort},
		{"missing service", be("nope", 80, ""), nil, ErrNoService},
		{"no slices", be("empty", 80, ""), nil, ErrNoEndpoints},
		{"no ready endpoint", be("notserved", 80, ""), nil, ErrNoEndpoints},
		{"ExternalName", be("ext", 80, ""), nil, ErrUnsupported},
		{"resource backend", backendRef{namespace: "ns", resource: &corev1.TypedLocalObjectReference{Kind: "Bucket", Name: "b"}}, nil, ErrUnsupported},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := resolve(src, tt.be)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("endpoints = %v, want %v", got, tt.want)
			}
		})
	}
}

func TestBalancerRoundRobin(t *testing.T) {
	var lb balancer
	a := backendRef{namespace: "ns", service: "a"}
	b := backendRef{namespace: "ns", service: "b"}
	addrs := []string{"1", "2", "3"}
	counts := map[string]int{}
	for range 9 {
		counts[lb.pick(a, addrs)]++
	}
	if counts["1"] != 3 || counts["2"] != 3 || counts["3"] != 3 {
		t.Errorf("9 picks over 3 endpoints: %v, want 3 each", counts)
	}
	// Another backend has its own position.
	if got := lb.pick(b, addrs); got != "1" {
		t.Errorf("first pick of another backend = %s, want 1", got)
	}
	// A shrinking endpoint list keeps working.
	if got := lb.pick(a, addrs[:1]); got != "1" {
		t.Errorf("pick over one endpoint = %s", got)
	}
}

func TestStoreServesEndpoint(t *testing.T) {
	client := fake.NewClientset(
		slice("default", "web", "web-a", "http", 8080,
			ep{ip: "10.42.0.5"},
			ep{ip: "10.42.0.6", ready: ptr(true)},
			ep{ip: "10.42.0.7", ready: ptr(false), serving: ptr(true), terminating: ptr(true)}),
	)
	st, err := newStore(client)
	if err != nil {
		t.Fatal(err)
	}
	st.factory.Start(t.Context().Done())
	t.Cleanup(st.factory.Shutdown)
	if !cache.WaitForCacheSync(t.Context().Done(), st.synced...) {
		t.Fatal("caches did not sync")
	}
	for ip, want := range map[string]bool{"10.42.0.5": true, "10.42.0.6": true, "10.42.0.7": false, "10.42.0.8": false} {
		if got := st.servesEndpoint(netip.MustParseAddr(ip)); got != want {
			t.Errorf("servesEndpoint(%s) = %v, want %v", ip, got, want)
		}
	}
}
