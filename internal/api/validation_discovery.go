package api

import (
	"net"

	coordinationv1 "k8s.io/api/coordination/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const (
	endpointSliceMaxEndpoints = 1000
	endpointSliceMaxAddresses = 100
	endpointSliceMaxPorts     = 20000
	endpointSliceMaxTopology  = 16
)

var supportedAddressTypes = []discoveryv1.AddressType{discoveryv1.AddressTypeFQDN, discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6}

// --- EndpointSlice ---

func validateEndpointSlice(es *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMetaCreate(&es.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateEndpointSliceFields(es)...)
}

func validateEndpointSliceFields(es *discoveryv1.EndpointSlice) field.ErrorList {
	var allErrs field.ErrorList
	ep := field.NewPath("endpoints")
	if len(es.Endpoints) > endpointSliceMaxEndpoints {
		allErrs = append(allErrs, field.TooMany(ep, len(es.Endpoints), endpointSliceMaxEndpoints))
	} else {
		for i := range es.Endpoints {
			allErrs = append(allErrs, validateSliceEndpoint(&es.Endpoints[i], es.AddressType, ep.Index(i))...)
		}
	}
	pp := field.NewPath("ports")
	if len(es.Ports) > endpointSliceMaxPorts {
		allErrs = append(allErrs, field.TooMany(pp, len(es.Ports), endpointSliceMaxPorts))
	} else {
		names := sets.New[string]()
		for i, p := range es.Ports {
			ip := pp.Index(i)
			name := ""
			if p.Name != nil {
				name = *p.Name
			}
			if name != "" {
				allErrs = append(allErrs, validateDNS1123Label(name, ip.Child("name"))...)
			}
			if names.Has(name) {
				allErrs = append(allErrs, field.Duplicate(ip.Child("name"), name))
			}
			names.Insert(name)
			if p.Protocol == nil {
				allErrs = append(allErrs, field.Required(ip.Child("protocol"), ""))
			} else if !supportedPortProtocols.Has(*p.Protocol) {
				allErrs = append(allErrs, field.NotSupported(ip.Child("protocol"), *p.Protocol, sets.List(supportedPortProtocols)))
			}
			if p.AppProtocol != nil {
				allErrs = append(allErrs, validateQualifiedName(*p.AppProtocol, ip.Child("appProtocol"))...)
			}
		}
	}
	atp := field.NewPath("addressType")
	switch es.AddressType {
	case "":
		allErrs = append(allErrs, field.Required(atp, ""))
	case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6, discoveryv1.AddressTypeFQDN:
	default:
		allErrs = append(allErrs, field.NotSupported(atp, es.AddressType, supportedAddressTypes))
	}
	return allErrs
}

func validateSliceEndpoint(e *discoveryv1.Endpoint, addrType discoveryv1.AddressType, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	ap := fldPath.Child("addresses")
	if len(e.Addresses) == 0 {
		allErrs = append(allErrs, field.Required(ap, "must contain at least 1 address"))
	} else if len(e.Addresses) > endpointSliceMaxAddresses {
		allErrs = append(allErrs, field.TooMany(ap, len(e.Addresses), endpointSliceMaxAddresses))
	}
	for i, a := range e.Addresses {
		p := ap.Index(i)
		switch addrType {
		case discoveryv1.AddressTypeIPv4, discoveryv1.AddressTypeIPv6:
			ip := net.ParseIP(a)
			switch {
			case ip == nil:
				allErrs = append(allErrs, validation.IsValidIP(p, a)...)
			case addrType == discoveryv1.AddressTypeIPv4 && ip.To4() == nil:
				allErrs = append(allErrs, field.Invalid(p, a, "must be a valid IPv4 address"))
			case addrType == discoveryv1.AddressTypeIPv6 && ip.To4() != nil:
				allErrs = append(allErrs, field.Invalid(p, a, "must be a valid IPv6 address"))
			default:
				allErrs = append(allErrs, validateNonSpecialIP(a, p)...)
			}
		case discoveryv1.AddressTypeFQDN:
			allErrs = append(allErrs, validation.IsFullyQualifiedDomainName(p, a)...)
		}
	}
	if e.NodeName != nil {
		allErrs = append(allErrs, validateNameRef(*e.NodeName, nameIsDNSSubdomain, fldPath.Child("nodeName"))...)
	}
	tp := fldPath.Child("deprecatedTopology")
	if len(e.DeprecatedTopology) > endpointSliceMaxTopology {
		allErrs = append(allErrs, field.TooMany(tp, len(e.DeprecatedTopology), endpointSliceMaxTopology))
	}
	allErrs = append(allErrs, metav1validation.ValidateLabels(e.DeprecatedTopology, tp)...)
	if e.Zone != nil {
		for _, msg := range validation.IsValidLabelValue(*e.Zone) {
			allErrs = append(allErrs, field.Invalid(fldPath.Child("zone"), *e.Zone, msg))
		}
	}
	if e.Hostname != nil {
		allErrs = append(allErrs, validateDNS1123Label(*e.Hostname, fldPath.Child("hostname"))...)
	}
	return allErrs
}

func validateEndpointSliceUpdate(es, old *discoveryv1.EndpointSlice) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&es.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateEndpointSliceFields(es)...)
	return append(allErrs, validateImmutable(es.AddressType, old.AddressType, field.NewPath("addressType"))...)
}

// --- Lease ---

func validateLease(l *coordinationv1.Lease) field.ErrorList {
	allErrs := validateObjectMetaCreate(&l.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateLeaseSpec(&l.Spec)...)
}

func validateLeaseUpdate(l, old *coordinationv1.Lease) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&l.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateLeaseSpec(&l.Spec)...)
}

func validateLeaseSpec(s *coordinationv1.LeaseSpec) field.ErrorList {
	var allErrs field.ErrorList
	if s.LeaseDurationSeconds != nil && *s.LeaseDurationSeconds <= 0 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("leaseDurationSeconds"), *s.LeaseDurationSeconds, "must be greater than 0"))
	}
	if s.LeaseTransitions != nil && *s.LeaseTransitions < 0 {
		allErrs = append(allErrs, field.Invalid(specPath.Child("leaseTransitions"), *s.LeaseTransitions, msgNegative))
	}
	if s.Strategy != nil && *s.Strategy != coordinationv1.OldestEmulationVersion {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("strategy"), *s.Strategy,
			[]coordinationv1.CoordinatedLeaseStrategy{coordinationv1.OldestEmulationVersion}))
	}
	if s.PreferredHolder != nil && *s.PreferredHolder != "" && (s.Strategy == nil || *s.Strategy == "") {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("preferredHolder"), "may only be specified if `strategy` is defined"))
	}
	return allErrs
}
