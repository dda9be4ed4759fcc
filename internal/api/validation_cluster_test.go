package api

import (
	"testing"

	autoscalingv1 "k8s.io/api/autoscaling/v1"
	autoscalingv2 "k8s.io/api/autoscaling/v2"
	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	networkingv1 "k8s.io/api/networking/v1"
	policyv1 "k8s.io/api/policy/v1"
	rbacv1 "k8s.io/api/rbac/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
)

func TestHPA(t *testing.T) {
	r := vtResource(t, gvr("autoscaling", "v2", "horizontalpodautoscalers"))
	h := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5,
			ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"},
			Behavior:       &autoscalingv2.HorizontalPodAutoscalerBehavior{}}}
	vtCheck(t, vtCreate(r, h))
	s := h.Spec
	if *s.MinReplicas != 1 || len(s.Metrics) != 1 || *s.Metrics[0].Resource.Target.AverageUtilization != 80 ||
		len(s.Behavior.ScaleUp.Policies) != 2 || *s.Behavior.ScaleUp.StabilizationWindowSeconds != 0 ||
		s.Behavior.ScaleDown.StabilizationWindowSeconds != nil || s.Behavior.ScaleDown.Policies[0].Value != 100 {
		t.Fatalf("hpa defaults wrong: %+v", s)
	}
	tests := []struct {
		name   string
		mutate func(*autoscalingv2.HorizontalPodAutoscaler)
		want   []vtErr
	}{
		{"no target", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.ScaleTargetRef = autoscalingv2.CrossVersionObjectReference{}
		},
			[]vtErr{vtRequired("spec.scaleTargetRef.kind"), vtRequired("spec.scaleTargetRef.name")}},
		{"max zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MaxReplicas = 0 },
			[]vtErr{vtInvalid("spec.maxReplicas").with("must be greater than 0"), vtInvalid("spec.maxReplicas").with("must be greater than or equal to `minReplicas`")}},
		{"min above max", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = strategyPtr(int32(9)) },
			[]vtErr{vtInvalid("spec.maxReplicas")}},
		{"min zero", func(h *autoscalingv2.HorizontalPodAutoscaler) { h.Spec.MinReplicas = strategyPtr(int32(0)) },
			[]vtErr{vtInvalid("spec.minReplicas")}},
		{"metric without source", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.PodsMetricSourceType}}
		}, []vtErr{vtRequired("spec.metrics[0].pods")}},
		{"utilization and value", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			q := resource.MustParse("100m")
			h.Spec.Metrics = []autoscalingv2.MetricSpec{{Type: autoscalingv2.ResourceMetricSourceType, Resource: &autoscalingv2.ResourceMetricSource{
				Name: corev1.ResourceCPU, Target: autoscalingv2.MetricTarget{Type: autoscalingv2.UtilizationMetricType, AverageUtilization: strategyPtr(int32(50)), AverageValue: &q}}}}
		}, []vtErr{vtForbidden("spec.metrics[0].resource.target.averageValue")}},
		{"bad policy", func(h *autoscalingv2.HorizontalPodAutoscaler) {
			h.Spec.Behavior.ScaleUp = &autoscalingv2.HPAScalingRules{Policies: []autoscalingv2.HPAScalingPolicy{{Type: "Nodes", Value: 0, PeriodSeconds: 4000}}}
		}, []vtErr{vtNotSupported("spec.behavior.scaleUp.policies[0].type"), vtInvalid("spec.behavior.scaleUp.policies[0].value"),
			vtInvalid("spec.behavior.scaleUp.policies[0].periodSeconds")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &autoscalingv2.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
				Spec: autoscalingv2.HorizontalPodAutoscalerSpec{MaxReplicas: 5, Behavior: &autoscalingv2.HorizontalPodAutoscalerBehavior{},
					ScaleTargetRef: autoscalingv2.CrossVersionObjectReference{APIVersion: "apps/v1", Kind: "Deployment", Name: "web"}}}
			tt.mutate(c)
			vtCheck(t, vtCreate(r, c), tt.want...)
		})
	}

	r1 := vtResource(t, gvr("autoscaling", "v1", "horizontalpodautoscalers"))
	h1 := &autoscalingv1.HorizontalPodAutoscaler{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: autoscalingv1.HorizontalPodAutoscalerSpec{MaxReplicas: 3, TargetCPUUtilizationPercentage: strategyPtr(int32(0)),
			ScaleTargetRef: autoscalingv1.CrossVersionObjectReference{Kind: "Deployment", Name: "web"}}}
	vtCheck(t, vtCreate(r1, h1), vtInvalid("spec.targetCPUUtilizationPercentage"))
	if *h1.Spec.MinReplicas != 1 {
		t.Errorf("v1 minReplicas default = %d", *h1.Spec.MinReplicas)
	}
}

func vtIngress() *networkingv1.Ingress {
	prefix := networkingv1.PathTypePrefix
	return &networkingv1.Ingress{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.IngressSpec{Rules: []networkingv1.IngressRule{{Host: "web.example.com",
			IngressRuleValue: networkingv1.IngressRuleValue{HTTP: &networkingv1.HTTPIngressRuleValue{Paths: []networkingv1.HTTPIngressPath{{
				Path: "/", PathType: &prefix,
				Backend: networkingv1.IngressBackend{Service: &networkingv1.IngressServiceBackend{Name: "web",
					Port: networkingv1.ServiceBackendPort{Number: 80}}}}}}}}}}}
}

func TestIngress(t *testing.T) {
	r := vtResource(t, gvr("networking.k8s.io", "v1", "ingresses"))
	tests := []struct {
		name   string
		mutate func(*networkingv1.Ingress)
		want   []vtErr
	}{
		{"valid", func(*networkingv1.Ingress) {}, nil},
		{"wildcard host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "*.example.com" }, nil},
		{"ip host", func(i *networkingv1.Ingress) { i.Spec.Rules[0].Host = "10.0.0.1" },
			[]vtErr{vtInvalid("spec.rules[0].host").with("must be a DNS name, not an IP address")}},
		{"no pathType", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].PathType = nil },
			[]vtErr{vtRequired("spec.rules[0].http.paths[0].pathType").with("pathType must be specified")}},
		{"relative path", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Path = "api" },
			[]vtErr{vtInvalid("spec.rules[0].http.paths[0].path").with("must be an absolute path")}},
		{"no port", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Port.Number = 0 },
			[]vtErr{vtRequired("spec.rules[0].http.paths[0].backend").with("port name or number is required")}},
		{"no service name", func(i *networkingv1.Ingress) { i.Spec.Rules[0].HTTP.Paths[0].Backend.Service.Name = "" },
			[]vtErr{vtRequired("spec.rules[0].http.paths[0].backend.service.name")}},
		{"nothing", func(i *networkingv1.Ingress) { i.Spec.Rules = nil },
			[]vtErr{vtInvalid("spec").with("either `defaultBackend` or `rules` must be specified")}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			i := vtIngress()
			tt.mutate(i)
			vtCheck(t, vtCreate(r, i), tt.want...)
		})
	}

	icr := vtResource(t, gvr("networking.k8s.io", "v1", "ingressclasses"))
	ic := &networkingv1.IngressClass{ObjectMeta: metav1.ObjectMeta{Name: "gantry"}, Spec: networkingv1.IngressClassSpec{Controller: "gantry.dev/ingress",
		Parameters: &networkingv1.IngressClassParametersReference{Kind: "Config", Name: "default"}}}
	vtCheck(t, vtCreate(icr, ic))
	if *ic.Spec.Parameters.Scope != networkingv1.IngressClassParametersReferenceScopeCluster {
		t.Errorf("ingressclass scope default = %q", *ic.Spec.Parameters.Scope)
	}
	moved := ic.DeepCopy()
	moved.Spec.Controller = "other.dev/ingress"
	vtCheck(t, vtUpdate(icr, moved, ic), vtInvalid("spec.controller").with("field is immutable"))
}

func TestNetworkPolicy(t *testing.T) {
	r := vtResource(t, gvr("networking.k8s.io", "v1", "networkpolicies"))
	port := intstr.FromInt32(80)
	np := &networkingv1.NetworkPolicy{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: networkingv1.NetworkPolicySpec{
			PodSelector: metav1.LabelSelector{MatchLabels: map[string]string{"app": "web"}},
			Ingress: []networkingv1.NetworkPolicyIngressRule{{Ports: []networkingv1.NetworkPolicyPort{{Port: &port}},
				From: []networkingv1.NetworkPolicyPeer{{IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"10.1.0.0/16"}}}}}},
			Egress: []networkingv1.NetworkPolicyEgressRule{{}},
		}}
	vtCheck(t, vtCreate(r, np))
	if *np.Spec.Ingress[0].Ports[0].Protocol != corev1.ProtocolTCP || len(np.Spec.PolicyTypes) != 2 {
		t.Fatalf("networkpolicy defaults wrong: %+v", np.Spec)
	}
	bad := np.DeepCopy()
	bad.Spec.Ingress[0].From = []networkingv1.NetworkPolicyPeer{{}, {IPBlock: &networkingv1.IPBlock{CIDR: "10.0.0.0/8", Except: []string{"192.168.0.0/16"}},
		PodSelector: &metav1.LabelSelector{}}}
	bad.Spec.PolicyTypes = []networkingv1.PolicyType{"Sideways"}
	vtCheck(t, vtCreate(r, bad), vtRequired("spec.ingress[0].from[0]").with("must specify a peer"),
		vtInvalid("spec.ingress[0].from[1].ipBlock.except[0]").with("must be a strict subset of `cidr`"),
		vtForbidden("spec.ingress[0].from[1]"), vtNotSupported("spec.policyTypes[0]"))
}

func TestRBAC(t *testing.T) {
	rr := vtResource(t, gvr("rbac.authorization.k8s.io", "v1", "roles"))
	role := &rbacv1.Role{ObjectMeta: metav1.ObjectMeta{Name: "system:reader", Namespace: "default"},
		Rules: []rbacv1.PolicyRule{{Verbs: []string{"get"}, APIGroups: []string{""}, Resources: []string{"pods"}}}}
	vtCheck(t, vtCreate(rr, role))
	bad := role.DeepCopy()
	bad.Rules = []rbacv1.PolicyRule{{Resources: []string{"pods"}}, {Verbs: []string{"get"}, NonResourceURLs: []string{"/healthz"}}}
	vtCheck(t, vtCreate(rr, bad), vtRequired("rules[0].verbs").with("verbs must contain at least one value"),
		vtRequired("rules[0].apiGroups"), vtInvalid("rules[1].nonResourceURLs"))

	br := vtResource(t, gvr("rbac.authorization.k8s.io", "v1", "rolebindings"))
	rb := &rbacv1.RoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read", Namespace: "default"},
		RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "system:reader"},
		Subjects: []rbacv1.Subject{{Kind: "User", Name: "alice"}, {Kind: "ServiceAccount", Name: "builder"}}}
	vtCheck(t, vtCreate(br, rb))
	if rb.RoleRef.APIGroup != rbacv1.GroupName || rb.Subjects[0].APIGroup != rbacv1.GroupName || rb.Subjects[1].APIGroup != "" {
		t.Fatalf("rolebinding defaults wrong: %+v", rb)
	}
	reref := rb.DeepCopy()
	reref.RoleRef.Name = "other"
	vtCheck(t, vtUpdate(br, reref, rb), vtInvalid("roleRef").with("cannot change roleRef"))

	cbr := vtResource(t, gvr("rbac.authorization.k8s.io", "v1", "clusterrolebindings"))
	crb := &rbacv1.ClusterRoleBinding{ObjectMeta: metav1.ObjectMeta{Name: "read"},
		RoleRef:  rbacv1.RoleRef{Kind: "Role", Name: "x"},
		Subjects: []rbacv1.Subject{{Kind: "ServiceAccount", Name: "builder"}, {Kind: "Robot", Name: "r2"}}}
	vtCheck(t, vtCreate(cbr, crb), vtNotSupported("roleRef.kind"), vtRequired("subjects[0].namespace"), vtNotSupported("subjects[1].kind"))

	crr := vtResource(t, gvr("rbac.authorization.k8s.io", "v1", "clusterroles"))
	agg := &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "agg"}, AggregationRule: &rbacv1.AggregationRule{}}
	vtCheck(t, vtCreate(crr, agg), vtRequired("aggregationRule.clusterRoleSelectors"))
	vtCheck(t, vtCreate(crr, &rbacv1.ClusterRole{ObjectMeta: metav1.ObjectMeta{Name: "a/b"}}), vtInvalid("metadata.name"))
}

func TestPDBAndPriorityClass(t *testing.T) {
	r := vtResource(t, gvr("policy", "v1", "poddisruptionbudgets"))
	one := intstr.FromInt32(1)
	pct := intstr.FromString("120%")
	pdb := &policyv1.PodDisruptionBudget{ObjectMeta: metav1.ObjectMeta{Name: "web", Namespace: "default"},
		Spec: policyv1.PodDisruptionBudgetSpec{MinAvailable: &one, Selector: vtSelector()}}
	vtCheck(t, vtCreate(r, pdb))
	both := pdb.DeepCopy()
	both.Spec.MaxUnavailable = &pct
	vtCheck(t, vtCreate(r, both), vtInvalid("spec").with("minAvailable and maxUnavailable cannot be both set"),
		vtInvalid("spec.maxUnavailable").with("must not be greater than 100%"))

	pr := vtResource(t, gvr("scheduling.k8s.io", "v1", "priorityclasses"))
	pc := &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "high"}, Value: 1000}
	vtCheck(t, vtCreate(pr, pc))
	if *pc.PreemptionPolicy != corev1.PreemptLowerPriority {
		t.Errorf("preemptionPolicy default = %q", *pc.PreemptionPolicy)
	}
	vtCheck(t, vtCreate(pr, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "huge"}, Value: 2000000000}),
		vtForbidden("value").with("maximum allowed value of a user defined priority is 1000000000"))
	vtCheck(t, vtCreate(pr, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-node-critical"}, Value: 2000001000}))
	vtCheck(t, vtCreate(pr, &schedulingv1.PriorityClass{ObjectMeta: metav1.ObjectMeta{Name: "system-mine"}, Value: 1}),
		vtForbidden("metadata.name").with("system-mine is not a known system priority class"))
	revalue := pc.DeepCopy()
	revalue.Value = 2000
	vtCheck(t, vtUpdate(pr, revalue, pc), vtForbidden("value").with("may not be changed in an update."))
}

func TestLeaseAndEndpointSlice(t *testing.T) {
	lr := vtResource(t, gvr("coordination.k8s.io", "v1", "leases"))
	l := &coordinationv1.Lease{ObjectMeta: metav1.ObjectMeta{Name: "node-1", Namespace: "kube-node-lease"},
		Spec: coordinationv1.LeaseSpec{HolderIdentity: strategyPtr("node-1"), LeaseDurationSeconds: strategyPtr(int32(40))}}
	vtCheck(t, vtCreate(lr, l))
	bad := l.DeepCopy()
	bad.Spec.LeaseDurationSeconds = strategyPtr(int32(0))
	bad.Spec.LeaseTransitions = strategyPtr(int32(-1))
	vtCheck(t, vtCreate(lr, bad), vtInvalid("spec.leaseDurationSeconds"), vtInvalid("spec.leaseTransitions"))

	er := vtResource(t, gvr("discovery.k8s.io", "v1", "endpointslices"))
	es := &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "web-abc", Namespace: "default"},
		AddressType: discoveryv1.AddressTypeIPv4,
		Endpoints:   []discoveryv1.Endpoint{{Addresses: []string{"10.1.0.7"}, NodeName: strategyPtr("node-1")}},
		Ports:       []discoveryv1.EndpointPort{{Port: strategyPtr(int32(80))}}}
	vtCheck(t, vtCreate(er, es))
	if *es.Ports[0].Protocol != corev1.ProtocolTCP || *es.Ports[0].Name != "" {
		t.Errorf("endpointslice port defaults wrong: %+v", es.Ports[0])
	}
	wrong := es.DeepCopy()
	wrong.Endpoints = append(wrong.Endpoints, discoveryv1.Endpoint{Addresses: []string{"fd00::1"}}, discoveryv1.Endpoint{})
	vtCheck(t, vtCreate(er, wrong), vtInvalid("endpoints[1].addresses[0]"), vtRequired("endpoints[2].addresses"))
	vtCheck(t, vtCreate(er, &discoveryv1.EndpointSlice{ObjectMeta: metav1.ObjectMeta{Name: "x", Namespace: "default"}}), vtRequired("addressType"))
	retyped := es.DeepCopy()
	retyped.AddressType = discoveryv1.AddressTypeFQDN
	retyped.Endpoints[0].Addresses = []string{"web.example.com"}
	vtCheck(t, vtUpdate(er, retyped, es), vtInvalid("addressType").with("field is immutable"))
}
