package api

import (
	"fmt"
	"net"
	"strings"

	corev1 "k8s.io/api/core/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// The node port range Gantry allocates from, as Kubernetes' default.
const (
	serviceNodePortMin = 30000
	serviceNodePortMax = 32767
	kubeletPort        = 10250

	serviceMaxClientIPAffinitySeconds = 86400
)

var (
	supportedServiceTypes = sets.New(corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort,
		corev1.ServiceTypeLoadBalancer, corev1.ServiceTypeExternalName)
	supportedSessionAffinity = sets.New(corev1.ServiceAffinityClientIP, corev1.ServiceAffinityNone)
	supportedIPFamilies      = sets.New(corev1.IPv4Protocol, corev1.IPv6Protocol)
	supportedIPFamilyPolicy  = sets.New(corev1.IPFamilyPolicySingleStack, corev1.IPFamilyPolicyPreferDualStack,
		corev1.IPFamilyPolicyRequireDualStack)
	supportedExternalTrafficPolicy = sets.New(corev1.ServiceExternalTrafficPolicyCluster, corev1.ServiceExternalTrafficPolicyLocal)
	supportedInternalTrafficPolicy = sets.New(corev1.ServiceInternalTrafficPolicyCluster, corev1.ServiceInternalTrafficPolicyLocal)
)

func isHeadlessService(svc *corev1.Service) bool {
	return len(svc.Spec.ClusterIPs) == 1 && svc.Spec.ClusterIPs[0] == corev1.ClusterIPNone
}

func validateService(svc *corev1.Service) field.ErrorList {
	allErrs := validateObjectMetaCreate(&svc.ObjectMeta, true, nameIsDNS1035Label)
	return append(allErrs, validateServiceSpec(svc)...)
}

func validateServiceSpec(svc *corev1.Service) field.ErrorList {
	var allErrs field.ErrorList
	s := &svc.Spec
	headless := isHeadlessService(svc)
	if len(s.Ports) == 0 && !headless && s.Type != corev1.ServiceTypeExternalName {
		allErrs = append(allErrs, field.Required(specPath.Child("ports"), ""))
	}
	switch s.Type {
	case corev1.ServiceTypeLoadBalancer:
		if headless {
			allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.ClusterIPs[0], "may not be set to 'None' for LoadBalancer services"))
		}
		for i, p := range s.Ports {
			if p.Port == kubeletPort {
				allErrs = append(allErrs, field.Invalid(specPath.Child("ports").Index(i), p.Port,
					fmt.Sprintf("may not expose port %v externally since it is used by kubelet", kubeletPort)))
			}
		}
	case corev1.ServiceTypeNodePort:
		if headless {
			allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(0), s.ClusterIPs[0], "may not be set to 'None' for NodePort services"))
		}
	case corev1.ServiceTypeExternalName:
		if len(s.ClusterIPs) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("clusterIPs"), "may not be set for ExternalName services"))
		}
		if len(s.IPFamilies) > 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilies"), "may not be set for ExternalName services"))
		}
		if s.IPFamilyPolicy != nil {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("ipFamilyPolicy"), "may not be set for ExternalName services"))
		}
		if cname := strings.TrimSuffix(s.ExternalName, "."); cname != "" {
			allErrs = append(allErrs, validateDNS1123Subdomain(cname, specPath.Child("externalName"))...)
		} else {
			allErrs = append(allErrs, field.Required(specPath.Child("externalName"), ""))
		}
	}

	names := sets.New[string]()
	for i := range s.Ports {
		allErrs = append(allErrs, validateServicePort(&s.Ports[i], len(s.Ports) > 1, names, specPath.Child("ports").Index(i))...)
	}
	if s.Selector != nil {
		allErrs = append(allErrs, metav1validation.ValidateLabels(s.Selector, specPath.Child("selector"))...)
	}
	if s.SessionAffinity == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("sessionAffinity"), ""))
	} else if !supportedSessionAffinity.Has(s.SessionAffinity) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("sessionAffinity"), s.SessionAffinity, sets.List(supportedSessionAffinity)))
	}
	switch s.SessionAffinity {
	case corev1.ServiceAffinityClientIP:
		cp := specPath.Child("sessionAffinityConfig")
		if s.SessionAffinityConfig == nil || s.SessionAffinityConfig.ClientIP == nil || s.SessionAffinityConfig.ClientIP.TimeoutSeconds == nil {
			allErrs = append(allErrs, field.Required(cp, "when session affinity type is ClientIP"))
		} else if t := *s.SessionAffinityConfig.ClientIP.TimeoutSeconds; t <= 0 || t > serviceMaxClientIPAffinitySeconds {
			allErrs = append(allErrs, field.Invalid(cp.Child("clientIP", "timeoutSeconds"), t,
				fmt.Sprintf("must be greater than 0 and less than %d", serviceMaxClientIPAffinitySeconds)))
		}
	case corev1.ServiceAffinityNone:
		if s.SessionAffinityConfig != nil {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("sessionAffinityConfig"), "must not be set when session affinity is None"))
		}
	}
	allErrs = append(allErrs, validateServiceClusterIPs(svc)...)
	for i, ip := range s.ExternalIPs {
		allErrs = append(allErrs, validation.IsValidIP(specPath.Child("externalIPs").Index(i), ip)...)
	}
	if s.Type == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("type"), ""))
	} else if !supportedServiceTypes.Has(s.Type) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("type"), s.Type, sets.List(supportedServiceTypes)))
	}

	nodePorts := sets.New[string]()
	ports := sets.New[string]()
	for i, p := range s.Ports {
		pp := specPath.Child("ports").Index(i)
		if p.NodePort != 0 {
			if s.Type == corev1.ServiceTypeClusterIP {
				allErrs = append(allErrs, field.Forbidden(pp.Child("nodePort"), "may not be used when `type` is 'ClusterIP'"))
			} else if p.NodePort < serviceNodePortMin || p.NodePort > serviceNodePortMax {
				allErrs = append(allErrs, field.Invalid(pp.Child("nodePort"), p.NodePort,
					fmt.Sprintf("provided port is not in the valid range. The range of valid ports is %d-%d", serviceNodePortMin, serviceNodePortMax)))
			}
			key := fmt.Sprintf("%s/%d", p.Protocol, p.NodePort)
			if nodePorts.Has(key) {
				allErrs = append(allErrs, field.Duplicate(pp.Child("nodePort"), p.NodePort))
			}
			nodePorts.Insert(key)
		}
		key := fmt.Sprintf("%s/%d", p.Protocol, p.Port)
		if ports.Has(key) {
			allErrs = append(allErrs, field.Duplicate(pp, corev1.ServicePort{Protocol: p.Protocol, Port: p.Port}))
		}
		ports.Insert(key)
	}

	if len(s.LoadBalancerSourceRanges) > 0 {
		fp := specPath.Child("LoadBalancerSourceRanges")
		if s.Type != corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, field.Forbidden(fp, "may only be used when `type` is 'LoadBalancer'"))
		}
		for i, v := range s.LoadBalancerSourceRanges {
			allErrs = append(allErrs, validation.IsValidCIDR(fp.Index(i), strings.TrimSpace(v))...)
		}
	}
	if s.AllocateLoadBalancerNodePorts != nil && s.Type != corev1.ServiceTypeLoadBalancer {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("allocateLoadBalancerNodePorts"), "may only be used when `type` is 'LoadBalancer'"))
	}
	if s.Type == corev1.ServiceTypeLoadBalancer && s.AllocateLoadBalancerNodePorts == nil {
		allErrs = append(allErrs, field.Required(specPath.Child("allocateLoadBalancerNodePorts"), ""))
	}
	if s.LoadBalancerClass != nil {
		if s.Type != corev1.ServiceTypeLoadBalancer {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("loadBalancerClass"), "may only be used when `type` is 'LoadBalancer'"))
		} else {
			allErrs = append(allErrs, validateQualifiedName(*s.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
		}
	}

	if !serviceExternallyAccessible(svc) {
		if s.ExternalTrafficPolicy != "" {
			allErrs = append(allErrs, field.Invalid(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, "may only be set for externally-accessible services"))
		}
	} else if s.ExternalTrafficPolicy == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("externalTrafficPolicy"), ""))
	} else if !supportedExternalTrafficPolicy.Has(s.ExternalTrafficPolicy) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("externalTrafficPolicy"), s.ExternalTrafficPolicy, sets.List(supportedExternalTrafficPolicy)))
	}
	needsHealthCheck := s.Type == corev1.ServiceTypeLoadBalancer && s.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if !needsHealthCheck && s.HealthCheckNodePort != 0 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("healthCheckNodePort"), s.HealthCheckNodePort,
			"may only be set when `type` is 'LoadBalancer' and `externalTrafficPolicy` is 'Local'"))
	} else if needsHealthCheck && s.HealthCheckNodePort != 0 {
		for _, msg := range validation.IsValidPortNum(int(s.HealthCheckNodePort)) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("healthCheckNodePort"), s.HealthCheckNodePort, msg))
		}
	}
	if s.InternalTrafficPolicy == nil {
		if s.Type == corev1.ServiceTypeNodePort || s.Type == corev1.ServiceTypeLoadBalancer || s.Type == corev1.ServiceTypeClusterIP {
			allErrs = append(allErrs, field.Required(specPath.Child("internalTrafficPolicy"), ""))
		}
	} else if !supportedInternalTrafficPolicy.Has(*s.InternalTrafficPolicy) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("internalTrafficPolicy"), *s.InternalTrafficPolicy, sets.List(supportedInternalTrafficPolicy)))
	}
	if s.TrafficDistribution != nil {
		switch *s.TrafficDistribution {
		case corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode:
		default:
			allErrs = append(allErrs, field.NotSupported(specPath.Child("trafficDistribution"), *s.TrafficDistribution, []string{
				corev1.ServiceTrafficDistributionPreferClose, corev1.ServiceTrafficDistributionPreferSameZone, corev1.ServiceTrafficDistributionPreferSameNode}))
		}
	}
	return allErrs
}

func validateServicePort(sp *corev1.ServicePort, requireName bool, names sets.Set[string], fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if requireName && sp.Name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else if sp.Name != "" {
		allErrs = append(allErrs, validateDNS1123Label(sp.Name, fldPath.Child("name"))...)
		if names.Has(sp.Name) {
			allErrs = append(allErrs, field.Duplicate(fldPath.Child("name"), sp.Name))
		} else {
			names.Insert(sp.Name)
		}
	}
	for _, msg := range validation.IsValidPortNum(int(sp.Port)) {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("port"), sp.Port, msg))
	}
	if sp.Protocol == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("protocol"), ""))
	} else if !supportedPortProtocols.Has(sp.Protocol) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("protocol"), sp.Protocol, sets.List(supportedPortProtocols)))
	}
	allErrs = append(allErrs, validatePortNumOrName(sp.TargetPort, fldPath.Child("targetPort"))...)
	if sp.AppProtocol != nil {
		allErrs = append(allErrs, validateQualifiedName(*sp.AppProtocol, fldPath.Child("appProtocol"))...)
	}
	return allErrs
}

func validateServiceClusterIPs(svc *corev1.Service) field.ErrorList {
	s := &svc.Spec
	if s.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	var allErrs field.ErrorList
	ipsPath := specPath.Child("clusterIPs")
	if s.ClusterIP != "" {
		if len(s.ClusterIPs) == 0 {
			allErrs = append(allErrs, field.Required(ipsPath, ""))
		} else if s.ClusterIPs[0] != s.ClusterIP {
			allErrs = append(allErrs, field.Invalid(ipsPath, s.ClusterIPs, "first value must match `clusterIP`"))
		}
	} else if len(s.ClusterIPs) != 0 {
		allErrs = append(allErrs, field.Invalid(ipsPath, s.ClusterIPs, "must be empty when `clusterIP` is not specified"))
	}
	seen := sets.New[corev1.IPFamily]()
	for i, f := range s.IPFamilies {
		if !supportedIPFamilies.Has(f) {
			allErrs = append(allErrs, field.NotSupported(specPath.Child("ipFamilies").Index(i), f, sets.List(supportedIPFamilies)))
		}
		if seen.Has(f) {
			allErrs = append(allErrs, field.Duplicate(specPath.Child("ipFamilies").Index(i), f))
		}
		seen.Insert(f)
	}
	if s.IPFamilyPolicy != nil && !supportedIPFamilyPolicy.Has(*s.IPFamilyPolicy) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("ipFamilyPolicy"), *s.IPFamilyPolicy, sets.List(supportedIPFamilyPolicy)))
	}
	invalid := false
	for i, ip := range s.ClusterIPs {
		if i == 0 && ip == corev1.ClusterIPNone {
			if len(s.ClusterIPs) > 1 {
				invalid = true
				allErrs = append(allErrs, field.Invalid(ipsPath, s.ClusterIPs, "'None' must be the first and only value"))
			}
			continue
		}
		if errs := validation.IsValidIP(ipsPath.Index(i), ip); len(errs) > 0 {
			invalid = true
			allErrs = append(allErrs, errs...)
		}
	}
	if len(s.ClusterIPs) > 2 {
		allErrs = append(allErrs, field.Invalid(ipsPath, s.ClusterIPs, "may only hold up to 2 values"))
	}
	if invalid {
		return allErrs
	}
	if len(s.ClusterIPs) == 2 && ipFamilyOf(s.ClusterIPs[0]) == ipFamilyOf(s.ClusterIPs[1]) {
		allErrs = append(allErrs, field.Invalid(ipsPath, s.ClusterIPs, "may specify no more than one IP for each IP family"))
	}
	if !isHeadlessService(svc) {
		for i, ip := range s.ClusterIPs {
			if i >= len(s.IPFamilies) {
				break
			}
			v6 := net.ParseIP(ip) != nil && net.ParseIP(ip).To4() == nil
			if s.IPFamilies[i] == corev1.IPv4Protocol && v6 {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv4 value as indicated by `ipFamilies[%v]`", i)))
			}
			if s.IPFamilies[i] == corev1.IPv6Protocol && !v6 {
				allErrs = append(allErrs, field.Invalid(ipsPath.Index(i), ip, fmt.Sprintf("expected an IPv6 value as indicated by `ipFamilies[%v]`", i)))
			}
		}
	}
	return allErrs
}

func validateServiceUpdate(svc, old *corev1.Service) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&svc.ObjectMeta, &old.ObjectMeta)
	// A changed clusterIP with untouched clusterIPs means the user edited
	// the singular field; judge the change on clusterIPs, as Kubernetes does.
	cur := svc
	if svc.Spec.ClusterIP != old.Spec.ClusterIP && sameStrings(svc.Spec.ClusterIPs, old.Spec.ClusterIPs) {
		cur = svc.DeepCopy()
		if cur.Spec.ClusterIP == "" {
			cur.Spec.ClusterIPs = nil
		} else if len(cur.Spec.ClusterIPs) > 0 {
			cur.Spec.ClusterIPs[0] = cur.Spec.ClusterIP
		}
	}
	allErrs = append(allErrs, validateClusterIPsUpdate(cur, old)...)
	allErrs = append(allErrs, validateIPFamiliesUpdate(cur, old)...)
	if old.Spec.Type == corev1.ServiceTypeLoadBalancer && cur.Spec.Type == corev1.ServiceTypeLoadBalancer {
		allErrs = append(allErrs, validateImmutable(cur.Spec.LoadBalancerClass, old.Spec.LoadBalancerClass, specPath.Child("loadBalancerClass"))...)
	}
	oldHC := old.Spec.Type == corev1.ServiceTypeLoadBalancer && old.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	newHC := cur.Spec.Type == corev1.ServiceTypeLoadBalancer && cur.Spec.ExternalTrafficPolicy == corev1.ServiceExternalTrafficPolicyLocal
	if oldHC && newHC && cur.Spec.HealthCheckNodePort != old.Spec.HealthCheckNodePort && old.Spec.HealthCheckNodePort != 0 {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("healthCheckNodePort"), msgFieldImmutable))
	}
	return append(allErrs, validateServiceSpec(cur)...)
}

func sameStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func validateClusterIPsUpdate(svc, old *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadlessService(svc) && isHeadlessService(old) {
		return nil
	}
	var allErrs field.ErrorList
	p0 := specPath.Child("clusterIPs").Index(0)
	n, o := svc.Spec.ClusterIPs, old.Spec.ClusterIPs
	switch {
	case len(o) == len(n):
		for i := range o {
			if o[i] != n[i] {
				allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(i), n, "may not change once set"))
			}
		}
	case len(o) > len(n):
		if len(n) == 0 {
			allErrs = append(allErrs, field.Invalid(p0, n, "primary clusterIP can not be unset"))
		}
		if len(o) > 0 && len(n) > 0 && n[0] != o[0] {
			allErrs = append(allErrs, field.Invalid(p0, n, "may not change once set"))
		}
		if len(n) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			allErrs = append(allErrs, field.Invalid(p0, n, "`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary clusterIP"))
		}
	default:
		if len(o) > 0 && n[0] != o[0] {
			allErrs = append(allErrs, field.Invalid(p0, n, "may not change once set"))
		}
	}
	return allErrs
}

func validateIPFamiliesUpdate(svc, old *corev1.Service) field.ErrorList {
	if svc.Spec.Type == corev1.ServiceTypeExternalName || old.Spec.Type == corev1.ServiceTypeExternalName {
		return nil
	}
	if isHeadlessService(svc) || isHeadlessService(old) {
		return nil
	}
	var allErrs field.ErrorList
	p0 := specPath.Child("ipFamilies").Index(0)
	n, o := svc.Spec.IPFamilies, old.Spec.IPFamilies
	switch {
	case len(o) == len(n):
		for i := range o {
			if o[i] != n[i] {
				allErrs = append(allErrs, field.Invalid(p0, n, "may not change once set"))
			}
		}
	case len(o) > len(n):
		if len(n) > 0 && n[0] != o[0] {
			allErrs = append(allErrs, field.Invalid(p0, svc.Spec.ClusterIPs, "may not change once set"))
		}
		if len(n) == 1 && (svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack) {
			allErrs = append(allErrs, field.Invalid(specPath.Child("clusterIPs").Index(0), svc.Spec.ClusterIPs,
				"`ipFamilyPolicy` must be set to 'SingleStack' when releasing the secondary ipFamily"))
		}
	default:
		if len(o) > 0 && n[0] != o[0] {
			allErrs = append(allErrs, field.Invalid(p0, svc.Spec.ClusterIPs, "may not change once set"))
		}
	}
	return allErrs
}
