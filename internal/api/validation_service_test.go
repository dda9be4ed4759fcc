package api

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func vtService() *corev1.Service {
	return &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80}},
		},
	}
}

func TestServiceDefaults(t *testing.T) {
	r := vtResource(t, gvr("", "v1", "services"))
	svc := vtService()
	r.Default(svc)
	s := svc.Spec
	if s.Type != corev1.ServiceTypeClusterIP || s.SessionAffinity != corev1.ServiceAffinityNone ||
		s.Ports[0].Protocol != corev1.ProtocolTCP || s.Ports[0].TargetPort != intstr.FromInt32(80) ||
		*s.InternalTrafficPolicy != corev1.ServiceInternalTrafficPolicyCluster || s.ExternalTrafficPolicy != "" ||
		*s.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack || len(s.IPFamilies) != 1 || s.IPFamilies[0] != corev1.IPv4Protocol {
		t.Fatalf("service defaults wrong: %+v", s)
	}

	lb := vtService()
	lb.Spec.Type = corev1.ServiceTypeLoadBalancer
	lb.Spec.Ports[0].TargetPort = intstr.FromString("web")
	lb.Spec.SessionAffinity = corev1.ServiceAffinityClientIP
	lb.Spec.ClusterIP = "fd00::10"
	r.Default(lb)
	s = lb.Spec
	if s.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster || !*s.AllocateLoadBalancerNodePorts ||
		s.Ports[0].TargetPort != intstr.FromString("web") || *s.SessionAffinityConfig.ClientIP.TimeoutSeconds != 10800 ||
		s.ClusterIPs[0] != "fd00::10" || s.IPFamilies[0] != corev1.IPv6Protocol {
		t.Fatalf("load balancer defaults wrong: %+v", s)
	}
	vtCheck(t, r.Validate(lb))

	headless := vtService()
	headless.Spec.ClusterIP = corev1.ClusterIPNone
	headless.Spec.Selector = nil
	r.Default(headless)
	if *headless.Spec.IPFamilyPolicy != corev1.IPFamilyPolicyRequireDualStack || headless.Spec.ClusterIPs[0] != "None" {
		t.Fatalf("headless defaults wrong: %+v", headless.Spec)
	}
	vtCheck(t, r.Validate(headless))

	ext := &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "db", Namespace: "default"},
		Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "db.example.com."}}
	vtCheck(t, vtCreate(r, ext))
	if ext.Spec.IPFamilyPolicy != nil || ext.Spec.InternalTrafficPolicy != nil {
		t.Fatalf("ExternalName got IP defaults: %+v", ext.Spec)
	}
}

func TestValidateService(t *testing.T) {
	r := vtResource(t, gvr("", "v1", "services"))
	tests := []struct {
		name   string
		mutate func(*corev1.Service)
		want   []vtErr
	}{
		{"valid", func(*corev1.Service) {}, nil},
		{"name must be DNS-1035", func(s *corev1.Service) { s.Name = "1web" }, []vtErr{vtInvalid("metadata.name").with("DNS-1035 label")}},
		{"name with dot", func(s *corev1.Service) { s.Name = "web.x" }, []vtErr{vtInvalid("metadata.name")}},
		{"no ports", func(s *corev1.Service) { s.Spec.Ports = nil }, []vtErr{vtRequired("spec.ports")}},
		{"headless without ports", func(s *corev1.Service) { s.Spec.Ports = nil; s.Spec.ClusterIP = "None" }, nil},
		{"port zero", func(s *corev1.Service) { s.Spec.Ports[0].Port = 0 }, []vtErr{vtInvalid("spec.ports[0].port"), vtInvalid("spec.ports[0].targetPort")}},
		{"port too big", func(s *corev1.Service) { s.Spec.Ports[0].Port = 65536 }, []vtErr{vtInvalid("spec.ports[0].port"), vtInvalid("spec.ports[0].targetPort")}},
		{"second port unnamed", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Port: 443})
		}, []vtErr{vtRequired("spec.ports[1].name")}},
		{"duplicate port name", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "http", Port: 443})
		}, []vtErr{vtDuplicate("spec.ports[1].name")}},
		{"duplicate port", func(s *corev1.Service) {
			s.Spec.Ports = append(s.Spec.Ports, corev1.ServicePort{Name: "other", Port: 80})
		}, []vtErr{vtDuplicate("spec.ports[1]")}},
		{"bad protocol", func(s *corev1.Service) { s.Spec.Ports[0].Protocol = "HTTP" }, []vtErr{vtNotSupported("spec.ports[0].protocol")}},
		{"bad type", func(s *corev1.Service) { s.Spec.Type = "Internal" }, []vtErr{vtNotSupported("spec.type")}},
		{"bad target port name", func(s *corev1.Service) { s.Spec.Ports[0].TargetPort = intstr.FromString("Http_") },
			[]vtErr{vtInvalid("spec.ports[0].targetPort")}},
		{"nodePort on ClusterIP", func(s *corev1.Service) { s.Spec.Ports[0].NodePort = 30080 },
			[]vtErr{vtForbidden("spec.ports[0].nodePort").with("may not be used when `type` is 'ClusterIP'")}},
		{"nodePort out of range", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 80
		}, []vtErr{vtInvalid("spec.ports[0].nodePort").with("The range of valid ports is 30000-32767")}},
		{"nodePort in range", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.Ports[0].NodePort = 30080
		}, nil},
		{"bad clusterIP", func(s *corev1.Service) { s.Spec.ClusterIP = "10.0.0.300" }, []vtErr{vtInvalid("spec.clusterIPs[0]")}},
		{"headless NodePort", func(s *corev1.Service) {
			s.Spec.Type = corev1.ServiceTypeNodePort
			s.Spec.ClusterIP = "None"
		}, []vtErr{vtInvalid("spec.clusterIPs[0]")}},
		{"externalName missing", func(s *corev1.Service) { s.Spec.Type = corev1.ServiceTypeExternalName; s.Spec.Ports = nil },
			[]vtErr{vtRequired("spec.externalName")}},
		{"bad session affinity", func(s *corev1.Service) { s.Spec.SessionAffinity = "Cookie" }, []vtErr{vtNotSupported("spec.sessionAffinity")}},
		{"externalTrafficPolicy on ClusterIP", func(s *corev1.Service) { s.Spec.ExternalTrafficPolicy = corev1.ServiceExternalTrafficPolicyLocal },
			[]vtErr{vtInvalid("spec.externalTrafficPolicy")}},
		{"bad selector", func(s *corev1.Service) { s.Spec.Selector = map[string]string{"app": "a b"} }, []vtErr{vtInvalid("spec.selector")}},
		{"source ranges on ClusterIP", func(s *corev1.Service) { s.Spec.LoadBalancerSourceRanges = []string{"10.0.0.0/8"} },
			[]vtErr{vtForbidden("spec.LoadBalancerSourceRanges")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := vtService()
			tt.mutate(s)
			vtCheck(t, vtCreate(r, s), tt.want...)
		})
	}
}

func TestValidateServiceUpdate(t *testing.T) {
	r := vtResource(t, gvr("", "v1", "services"))
	old := vtService()
	old.Spec.ClusterIP = "10.96.0.10"
	r.Default(old)

	ok := old.DeepCopy()
	ok.Spec.Ports[0].Port = 8080
	ok.Spec.Selector["tier"] = "front"
	vtCheck(t, vtUpdate(r, ok, old))

	moved := old.DeepCopy()
	moved.Spec.ClusterIP = "10.96.0.11"
	vtCheck(t, vtUpdate(r, moved, old), vtInvalid("spec.clusterIPs[0]").with("may not change once set"))

	both := old.DeepCopy()
	both.Spec.ClusterIP = "10.96.0.11"
	both.Spec.ClusterIPs = []string{"10.96.0.11"}
	vtCheck(t, vtUpdate(r, both, old), vtInvalid("spec.clusterIPs[0]"))

	toNodePort := old.DeepCopy()
	toNodePort.Spec.Type = corev1.ServiceTypeNodePort
	vtCheck(t, vtUpdate(r, toNodePort, old))
	if toNodePort.Spec.ExternalTrafficPolicy != corev1.ServiceExternalTrafficPolicyCluster {
		t.Errorf("externalTrafficPolicy not defaulted on type change")
	}
}
