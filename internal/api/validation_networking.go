package api

import (
	"fmt"
	"net"
	"strings"

	networkingv1 "k8s.io/api/networking/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const ingressClassAnnotation = "kubernetes.io/ingress.class"

var (
	ingressInvalidPathSequences = []string{"//", "/./", "/../", "%2f", "%2F"}
	ingressInvalidPathSuffixes  = []string{"/..", "/."}
	supportedPathTypes          = []networkingv1.PathType{networkingv1.PathTypeExact, networkingv1.PathTypeImplementationSpecific, networkingv1.PathTypePrefix}
)

// --- Ingress ---

func validateIngress(ing *networkingv1.Ingress) field.ErrorList {
	allErrs := validateObjectMetaCreate(&ing.ObjectMeta, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateIngressSpec(&ing.Spec)...)
	if v, ok := ing.Annotations[ingressClassAnnotation]; ok && ing.Spec.IngressClassName != nil && v != *ing.Spec.IngressClassName {
		allErrs = append(allErrs, field.Invalid(metaPath.Child("annotations").Key(ingressClassAnnotation), v, "must match `ingressClassName` when both are specified"))
	}
	return allErrs
}

func validateIngressUpdate(ing, old *networkingv1.Ingress) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ing.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateIngressSpec(&ing.Spec)...)
}

func validateIngressSpec(s *networkingv1.IngressSpec) field.ErrorList {
	var allErrs field.ErrorList
	if len(s.Rules) == 0 && s.DefaultBackend == nil {
		allErrs = append(allErrs, field.Invalid(specPath, s.Rules, "either `defaultBackend` or `rules` must be specified"))
	}
	if s.DefaultBackend != nil {
		allErrs = append(allErrs, validateIngressBackend(s.DefaultBackend, specPath.Child("defaultBackend"))...)
	}
	for i := range s.Rules {
		r := &s.Rules[i]
		rp := specPath.Child("rules").Index(i)
		if r.Host != "" {
			if net.ParseIP(r.Host) != nil {
				allErrs = append(allErrs, field.Invalid(rp.Child("host"), r.Host, "must be a DNS name, not an IP address"))
			}
			msgs := validation.IsDNS1123Subdomain(r.Host)
			if strings.Contains(r.Host, "*") {
				msgs = validation.IsWildcardDNS1123Subdomain(r.Host)
			}
			for _, msg := range msgs {
				allErrs = append(allErrs, field.Invalid(rp.Child("host"), r.Host, msg))
			}
		}
		if r.HTTP != nil {
			hp := rp.Child("http")
			if len(r.HTTP.Paths) == 0 {
				allErrs = append(allErrs, field.Required(hp.Child("paths"), ""))
			}
			for j := range r.HTTP.Paths {
				allErrs = append(allErrs, validateIngressPath(&r.HTTP.Paths[j], hp.Child("paths").Index(j))...)
			}
		}
	}
	for i, t := range s.TLS {
		tp := specPath.Child("tls").Index(i)
		for j, h := range t.Hosts {
			msgs := validation.IsDNS1123Subdomain(h)
			if strings.Contains(h, "*") {
				msgs = validation.IsWildcardDNS1123Subdomain(h)
			}
			for _, msg := range msgs {
				allErrs = append(allErrs, field.Invalid(tp.Child("hosts").Index(j), h, msg))
			}
		}
		if t.SecretName != "" {
			allErrs = append(allErrs, validateNameRef(t.SecretName, nameIsDNSSubdomain, tp.Child("secretName"))...)
		}
	}
	if s.IngressClassName != nil {
		allErrs = append(allErrs, validateNameRef(*s.IngressClassName, nameIsDNSSubdomain, specPath.Child("ingressClassName"))...)
	}
	return allErrs
}

func validateIngressPath(p *networkingv1.HTTPIngressPath, fldPath *field.Path) field.ErrorList {
	if p.PathType == nil {
		return field.ErrorList{field.Required(fldPath.Child("pathType"), "pathType must be specified")}
	}
	var allErrs field.ErrorList
	switch *p.PathType {
	case networkingv1.PathTypeExact, networkingv1.PathTypePrefix:
		if !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, "must be an absolute path"))
		}
		if p.Path != "" {
			for _, seq := range ingressInvalidPathSequences {
				if strings.Contains(p.Path, seq) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, fmt.Sprintf("must not contain '%s'", seq)))
				}
			}
			for _, suf := range ingressInvalidPathSuffixes {
				if strings.HasSuffix(p.Path, suf) {
					allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, fmt.Sprintf("cannot end with '%s'", suf)))
				}
			}
		}
	case networkingv1.PathTypeImplementationSpecific:
		if p.Path != "" && !strings.HasPrefix(p.Path, "/") {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("path"), p.Path, "must be an absolute path"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("pathType"), *p.PathType, supportedPathTypes))
	}
	return append(allErrs, validateIngressBackend(&p.Backend, fldPath.Child("backend"))...)
}

func validateIngressBackend(b *networkingv1.IngressBackend, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch {
	case b.Resource != nil && b.Service != nil:
		return field.ErrorList{field.Invalid(fldPath, "", "cannot set both resource and service backends")}
	case b.Resource != nil:
		allErrs = append(allErrs, validateTypedLocalRef(b.Resource.APIGroup, b.Resource.Kind, b.Resource.Name, fldPath.Child("resource"))...)
	case b.Service != nil:
		sp := fldPath.Child("service")
		if b.Service.Name == "" {
			allErrs = append(allErrs, field.Required(sp.Child("name"), ""))
		} else {
			allErrs = append(allErrs, validateNameRef(b.Service.Name, nameIsDNS1035Label, sp.Child("name"))...)
		}
		hasName, hasNumber := b.Service.Port.Name != "", b.Service.Port.Number != 0
		switch {
		case hasName && hasNumber:
			allErrs = append(allErrs, field.Invalid(fldPath, "", "cannot set both port name & port number"))
		case hasName:
			for _, msg := range validation.IsValidPortName(b.Service.Port.Name) {
				allErrs = append(allErrs, field.Invalid(sp.Child("port", "name"), b.Service.Port.Name, msg))
			}
		case hasNumber:
			for _, msg := range validation.IsValidPortNum(int(b.Service.Port.Number)) {
				allErrs = append(allErrs, field.Invalid(sp.Child("port", "number"), b.Service.Port.Number, msg))
			}
		default:
			allErrs = append(allErrs, field.Required(fldPath, "port name or number is required"))
		}
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, "", "resource or service backend is required"))
	}
	return allErrs
}

func validateTypedLocalRef(apiGroup *string, kind, name string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if apiGroup != nil && *apiGroup != "" {
		allErrs = append(allErrs, validateDNS1123Subdomain(*apiGroup, fldPath.Child("apiGroup"))...)
	}
	if kind == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("kind"), ""))
	} else {
		allErrs = append(allErrs, validateNameRef(kind, nameIsPathSegment, fldPath.Child("kind"))...)
	}
	if name == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("name"), ""))
	} else {
		allErrs = append(allErrs, validateNameRef(name, nameIsPathSegment, fldPath.Child("name"))...)
	}
	return allErrs
}

// --- IngressClass ---

func validateIngressClass(ic *networkingv1.IngressClass) field.ErrorList {
	allErrs := validateObjectMetaCreate(&ic.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validateIngressClassSpec(&ic.Spec)...)
}

func validateIngressClassSpec(s *networkingv1.IngressClassSpec) field.ErrorList {
	var allErrs field.ErrorList
	cp := specPath.Child("controller")
	if len(s.Controller) > 250 {
		allErrs = append(allErrs, field.TooLong(cp, "", 250))
	}
	allErrs = append(allErrs, validation.IsDomainPrefixedPath(cp, s.Controller)...)
	if p := s.Parameters; p != nil {
		pp := specPath.Child("parameters")
		allErrs = append(allErrs, validateTypedLocalRef(p.APIGroup, p.Kind, p.Name, pp)...)
		if p.Scope == nil {
			allErrs = append(allErrs, field.Required(pp.Child("scope"), ""))
		} else {
			switch *p.Scope {
			case networkingv1.IngressClassParametersReferenceScopeCluster:
				if p.Namespace != nil {
					allErrs = append(allErrs, field.Forbidden(pp.Child("namespace"), "`parameters.scope` is set to 'Cluster'"))
				}
			case networkingv1.IngressClassParametersReferenceScopeNamespace:
				if p.Namespace == nil {
					allErrs = append(allErrs, field.Required(pp.Child("namespace"), "`parameters.scope` is set to 'Namespace'"))
				} else {
					allErrs = append(allErrs, validateNameRef(*p.Namespace, nameIsDNSLabel, pp.Child("namespace"))...)
				}
			default:
				allErrs = append(allErrs, field.NotSupported(pp.Child("scope"), *p.Scope, []string{
					networkingv1.IngressClassParametersReferenceScopeCluster, networkingv1.IngressClassParametersReferenceScopeNamespace}))
			}
		}
	}
	return allErrs
}

func validateIngressClassUpdate(ic, old *networkingv1.IngressClass) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ic.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateIngressClassSpec(&ic.Spec)...)
	if ic.Spec.Controller != old.Spec.Controller {
		allErrs = append(allErrs, field.Invalid(specPath.Child("controller"), ic.Spec.Controller, msgFieldImmutable))
	}
	return allErrs
}

// --- NetworkPolicy ---

func validateNetworkPolicy(np *networkingv1.NetworkPolicy) field.ErrorList {
	allErrs := validateObjectMetaCreate(&np.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateNetworkPolicySpec(&np.Spec)...)
}

func validateNetworkPolicyUpdate(np, old *networkingv1.NetworkPolicy) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&np.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateNetworkPolicySpec(&np.Spec)...)
}

func validateNetworkPolicySpec(s *networkingv1.NetworkPolicySpec) field.ErrorList {
	allErrs := metav1validation.ValidateLabelSelector(&s.PodSelector, strictSelectorOpts, specPath.Child("podSelector"))
	for i, rule := range s.Ingress {
		rp := specPath.Child("ingress").Index(i)
		for j := range rule.Ports {
			allErrs = append(allErrs, validateNetworkPolicyPort(&rule.Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range rule.From {
			allErrs = append(allErrs, validateNetworkPolicyPeer(&rule.From[j], rp.Child("from").Index(j))...)
		}
	}
	for i, rule := range s.Egress {
		rp := specPath.Child("egress").Index(i)
		for j := range rule.Ports {
			allErrs = append(allErrs, validateNetworkPolicyPort(&rule.Ports[j], rp.Child("ports").Index(j))...)
		}
		for j := range rule.To {
			allErrs = append(allErrs, validateNetworkPolicyPeer(&rule.To[j], rp.Child("to").Index(j))...)
		}
	}
	allowed := []networkingv1.PolicyType{networkingv1.PolicyTypeEgress, networkingv1.PolicyTypeIngress}
	for i, t := range s.PolicyTypes {
		if t != networkingv1.PolicyTypeIngress && t != networkingv1.PolicyTypeEgress {
			allErrs = append(allErrs, field.NotSupported(specPath.Child("policyTypes").Index(i), t, allowed))
		}
	}
	if len(s.PolicyTypes) > len(allowed) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("policyTypes"), s.PolicyTypes, "may not specify more than two policyTypes"))
	}
	return allErrs
}

func validateNetworkPolicyPort(p *networkingv1.NetworkPolicyPort, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if p.Protocol != nil && !supportedPortProtocols.Has(*p.Protocol) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("protocol"), *p.Protocol, sets.List(supportedPortProtocols)))
	}
	if p.Port != nil {
		allErrs = append(allErrs, validatePortNumOrName(*p.Port, fldPath.Child("port"))...)
		if p.EndPort != nil {
			if p.Port.Type != intstr.Int {
				allErrs = append(allErrs, field.Forbidden(fldPath.Child("endPort"), "may not be specified when `port` is non-numeric"))
			} else if *p.EndPort < p.Port.IntVal {
				allErrs = append(allErrs, field.Invalid(fldPath.Child("endPort"), *p.EndPort, "must be greater than or equal to `port`"))
			}
		}
	} else if p.EndPort != nil {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child("endPort"), "may not be specified when `port` is not specified"))
	}
	return allErrs
}

func validateNetworkPolicyPeer(p *networkingv1.NetworkPolicyPeer, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	n := 0
	if p.PodSelector != nil {
		n++
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(p.PodSelector, strictSelectorOpts, fldPath.Child("podSelector"))...)
	}
	if p.NamespaceSelector != nil {
		n++
		allErrs = append(allErrs, metav1validation.ValidateLabelSelector(p.NamespaceSelector, strictSelectorOpts, fldPath.Child("namespaceSelector"))...)
	}
	if b := p.IPBlock; b != nil {
		n++
		bp := fldPath.Child("ipBlock")
		if b.CIDR == "" {
			allErrs = append(allErrs, field.Required(bp.Child("cidr"), ""))
		} else if errs := validation.IsValidCIDR(bp.Child("cidr"), b.CIDR); len(errs) > 0 {
			allErrs = append(allErrs, errs...)
		} else {
			_, outer, _ := net.ParseCIDR(b.CIDR)
			for i, e := range b.Except {
				ep := bp.Child("except").Index(i)
				if errs := validation.IsValidCIDR(ep, e); len(errs) > 0 {
					allErrs = append(allErrs, errs...)
					continue
				}
				_, inner, _ := net.ParseCIDR(e)
				oOnes, _ := outer.Mask.Size()
				iOnes, _ := inner.Mask.Size()
				if !outer.Contains(inner.IP) || iOnes <= oOnes {
					allErrs = append(allErrs, field.Invalid(ep, e, "must be a strict subset of `cidr`"))
				}
			}
		}
	}
	switch {
	case n == 0:
		allErrs = append(allErrs, field.Required(fldPath, "must specify a peer"))
	case p.IPBlock != nil && n > 1:
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not specify both ipBlock and another peer"))
	}
	return allErrs
}
