package api

import (
	"encoding/json"
	"fmt"
	"net"
	"reflect"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	eventsv1 "k8s.io/api/events/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// maxSecretSize bounds the data of a Secret or ConfigMap (1 MiB).
const maxSecretSize = 1 * 1024 * 1024

const msgImmutableSet = "field is immutable when `immutable` is set"

// --- Namespace ---

func validateNamespace(ns *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMetaCreate(&ns.ObjectMeta, false, nameIsDNSLabel)
	return append(allErrs, validateNamespaceFinalizers(ns)...)
}

func validateNamespaceFinalizers(ns *corev1.Namespace) field.ErrorList {
	var allErrs field.ErrorList
	p := specPath.Child("finalizers")
	for _, f := range ns.Spec.Finalizers {
		allErrs = append(allErrs, validateQualifiedName(string(f), p)...)
		allErrs = append(allErrs, validateKubeFinalizerName(string(f), p)...)
	}
	return allErrs
}

func validateNamespaceUpdate(ns, old *corev1.Namespace) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ns.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateNamespaceFinalizers(ns)...)
}

// --- ConfigMap and Secret ---

func validateConfigMap(cm *corev1.ConfigMap) field.ErrorList {
	allErrs := validateObjectMetaCreate(&cm.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateConfigMapData(cm)...)
}

func validateConfigMapData(cm *corev1.ConfigMap) field.ErrorList {
	var allErrs field.ErrorList
	total := 0
	for _, k := range sortedKeys(cm.Data) {
		for _, msg := range validation.IsConfigMapKey(k) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("data").Key(k), k, msg))
		}
		if _, dup := cm.BinaryData[k]; dup {
			allErrs = append(allErrs, field.Invalid(field.NewPath("data").Key(k), k, "duplicate of key present in binaryData"))
		}
		total += len(cm.Data[k])
	}
	for _, k := range sortedKeys(cm.BinaryData) {
		for _, msg := range validation.IsConfigMapKey(k) {
			allErrs = append(allErrs, field.Invalid(field.NewPath("binaryData").Key(k), k, msg))
		}
		total += len(cm.BinaryData[k])
	}
	if total > maxSecretSize {
		allErrs = append(allErrs, field.TooLong(field.NewPath(""), "", maxSecretSize))
	}
	return allErrs
}

func validateConfigMapUpdate(cm, old *corev1.ConfigMap) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&cm.ObjectMeta, &old.ObjectMeta)
	if old.Immutable != nil && *old.Immutable {
		if cm.Immutable == nil || !*cm.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), msgImmutableSet))
		}
		if !reflect.DeepEqual(cm.Data, old.Data) && (len(cm.Data) != 0 || len(old.Data) != 0) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), msgImmutableSet))
		}
		if !reflect.DeepEqual(cm.BinaryData, old.BinaryData) && (len(cm.BinaryData) != 0 || len(old.BinaryData) != 0) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("binaryData"), msgImmutableSet))
		}
	}
	return append(allErrs, validateConfigMapData(cm)...)
}

func validateSecret(s *corev1.Secret) field.ErrorList {
	allErrs := validateObjectMetaCreate(&s.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateSecretData(s)...)
}

func validateSecretData(s *corev1.Secret) field.ErrorList {
	var allErrs field.ErrorList
	dataPath := field.NewPath("data")
	total := 0
	for _, k := range sortedKeys(s.Data) {
		for _, msg := range validation.IsConfigMapKey(k) {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(k), k, msg))
		}
		total += len(s.Data[k])
	}
	if total > maxSecretSize {
		allErrs = append(allErrs, field.TooLong(dataPath, "", maxSecretSize))
	}
	switch s.Type {
	case corev1.SecretTypeServiceAccountToken:
		if s.Annotations[corev1.ServiceAccountNameKey] == "" {
			allErrs = append(allErrs, field.Required(metaPath.Child("annotations").Key(corev1.ServiceAccountNameKey), ""))
		}
	case corev1.SecretTypeDockercfg, corev1.SecretTypeDockerConfigJson:
		key := corev1.DockerConfigKey
		if s.Type == corev1.SecretTypeDockerConfigJson {
			key = corev1.DockerConfigJsonKey
		}
		b, ok := s.Data[key]
		if !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(key), ""))
			break
		}
		if err := json.Unmarshal(b, &map[string]interface{}{}); err != nil {
			allErrs = append(allErrs, field.Invalid(dataPath.Key(key), "<secret contents redacted>", err.Error()))
		}
	case corev1.SecretTypeBasicAuth:
		_, u := s.Data[corev1.BasicAuthUsernameKey]
		_, p := s.Data[corev1.BasicAuthPasswordKey]
		if !u && !p {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.BasicAuthUsernameKey), ""),
				field.Required(dataPath.Key(corev1.BasicAuthPasswordKey), ""))
		}
	case corev1.SecretTypeSSHAuth:
		if len(s.Data[corev1.SSHAuthPrivateKey]) == 0 {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.SSHAuthPrivateKey), ""))
		}
	case corev1.SecretTypeTLS:
		if _, ok := s.Data[corev1.TLSCertKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSCertKey), ""))
		}
		if _, ok := s.Data[corev1.TLSPrivateKeyKey]; !ok {
			allErrs = append(allErrs, field.Required(dataPath.Key(corev1.TLSPrivateKeyKey), ""))
		}
	}
	return allErrs
}

func validateSecretUpdate(s, old *corev1.Secret) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&s.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateImmutable(s.Type, old.Type, field.NewPath("type"))...)
	if old.Immutable != nil && *old.Immutable {
		if s.Immutable == nil || !*s.Immutable {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("immutable"), msgImmutableSet))
		}
		if !reflect.DeepEqual(s.Data, old.Data) && (len(s.Data) != 0 || len(old.Data) != 0) {
			allErrs = append(allErrs, field.Forbidden(field.NewPath("data"), msgImmutableSet))
		}
	}
	return append(allErrs, validateSecretData(s)...)
}

func sortedKeys[V any](m map[string]V) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// --- ServiceAccount ---

func validateServiceAccount(sa *corev1.ServiceAccount) field.ErrorList {
	allErrs := validateObjectMetaCreate(&sa.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateServiceAccountRefs(sa)...)
}

func validateServiceAccountRefs(sa *corev1.ServiceAccount) field.ErrorList {
	var allErrs field.ErrorList
	for i, s := range sa.ImagePullSecrets {
		if s.Name == "" {
			allErrs = append(allErrs, field.Required(field.NewPath("imagePullSecrets").Index(i).Child("name"), ""))
		}
	}
	return allErrs
}

func validateServiceAccountUpdate(sa, old *corev1.ServiceAccount) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&sa.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateServiceAccountRefs(sa)...)
}

// --- Endpoints ---

func validateEndpoints(ep *corev1.Endpoints) field.ErrorList {
	allErrs := validateObjectMetaCreate(&ep.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateEndpointSubsets(ep.Subsets)...)
}

func validateEndpointsUpdate(ep, old *corev1.Endpoints) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ep.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateEndpointSubsets(ep.Subsets)...)
}

func validateEndpointSubsets(subsets []corev1.EndpointSubset) field.ErrorList {
	var allErrs field.ErrorList
	for i := range subsets {
		ss := &subsets[i]
		p := field.NewPath("subsets").Index(i)
		if len(ss.Addresses) == 0 && len(ss.NotReadyAddresses) == 0 {
			allErrs = append(allErrs, field.Required(p, "must specify `addresses` or `notReadyAddresses`"))
		}
		for j := range ss.Addresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.Addresses[j], p.Child("addresses").Index(j))...)
		}
		for j := range ss.NotReadyAddresses {
			allErrs = append(allErrs, validateEndpointAddress(&ss.NotReadyAddresses[j], p.Child("notReadyAddresses").Index(j))...)
		}
		for j, port := range ss.Ports {
			pp := p.Child("ports").Index(j)
			if len(ss.Ports) > 1 && port.Name == "" {
				allErrs = append(allErrs, field.Required(pp.Child("name"), ""))
			} else if port.Name != "" {
				allErrs = append(allErrs, validateDNS1123Label(port.Name, pp.Child("name"))...)
			}
			for _, msg := range validation.IsValidPortNum(int(port.Port)) {
				allErrs = append(allErrs, field.Invalid(pp.Child("port"), port.Port, msg))
			}
			if port.Protocol == "" {
				allErrs = append(allErrs, field.Required(pp.Child("protocol"), ""))
			} else if !supportedPortProtocols.Has(port.Protocol) {
				allErrs = append(allErrs, field.NotSupported(pp.Child("protocol"), port.Protocol, sets.List(supportedPortProtocols)))
			}
			if port.AppProtocol != nil {
				allErrs = append(allErrs, validateQualifiedName(*port.AppProtocol, pp.Child("appProtocol"))...)
			}
		}
	}
	return allErrs
}

func validateEndpointAddress(a *corev1.EndpointAddress, fldPath *field.Path) field.ErrorList {
	allErrs := validation.IsValidIP(fldPath.Child("ip"), a.IP)
	if a.Hostname != "" {
		allErrs = append(allErrs, validateDNS1123Label(a.Hostname, fldPath.Child("hostname"))...)
	}
	if a.NodeName != nil {
		allErrs = append(allErrs, validateNameRef(*a.NodeName, nameIsDNSSubdomain, fldPath.Child("nodeName"))...)
	}
	if len(allErrs) == 0 {
		allErrs = append(allErrs, validateNonSpecialIP(a.IP, fldPath.Child("ip"))...)
	}
	return allErrs
}

func validateNonSpecialIP(s string, fldPath *field.Path) field.ErrorList {
	ip := net.ParseIP(s)
	switch {
	case ip == nil:
		return field.ErrorList{field.Invalid(fldPath, s, "must be a valid IP address")}
	case ip.IsUnspecified():
		return field.ErrorList{field.Invalid(fldPath, s, fmt.Sprintf("may not be unspecified (%v)", s))}
	case ip.IsLoopback():
		return field.ErrorList{field.Invalid(fldPath, s, "may not be in the loopback range (127.0.0.0/8, ::1/128)")}
	case ip.IsLinkLocalMulticast():
		return field.ErrorList{field.Invalid(fldPath, s, "may not be in the link-local multicast range (224.0.0.0/24, ff02::/10)")}
	case ip.IsLinkLocalUnicast():
		return field.ErrorList{field.Invalid(fldPath, s, "may not be in the link-local range (169.254.0.0/16, fe80::/10)")}
	}
	return nil
}

// --- Node ---

func validateNode(n *corev1.Node) field.ErrorList {
	allErrs := validateObjectMetaCreate(&n.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validateNodeSpec(n)...)
}

func validateNodeSpec(n *corev1.Node) field.ErrorList {
	var allErrs field.ErrorList
	unique := map[corev1.TaintEffect]sets.Set[string]{}
	for i, t := range n.Spec.Taints {
		p := specPath.Child("taints").Index(i)
		allErrs = append(allErrs, metav1validation.ValidateLabelName(t.Key, p.Child("key"))...)
		if errs := validation.IsValidLabelValue(t.Value); len(errs) != 0 {
			allErrs = append(allErrs, field.Invalid(p.Child("value"), t.Value, strings.Join(errs, ";")))
		}
		allErrs = append(allErrs, validateTaintEffect(t.Effect, p.Child("effect"))...)
		if unique[t.Effect] == nil {
			unique[t.Effect] = sets.New[string]()
		}
		if unique[t.Effect].Has(t.Key) {
			e := field.Duplicate(p, t)
			e.Detail = "taints must be unique by key and effect pair"
			allErrs = append(allErrs, e)
			continue
		}
		unique[t.Effect].Insert(t.Key)
	}
	cidrs := specPath.Child("podCIDRs")
	for i, c := range n.Spec.PodCIDRs {
		allErrs = append(allErrs, validation.IsValidCIDR(cidrs.Index(i), c)...)
	}
	if len(n.Spec.PodCIDRs) > 1 {
		_, a, errA := net.ParseCIDR(n.Spec.PodCIDRs[0])
		_, b, errB := net.ParseCIDR(n.Spec.PodCIDRs[1])
		if len(n.Spec.PodCIDRs) > 2 || (errA == nil && errB == nil && (a.IP.To4() == nil) == (b.IP.To4() == nil)) {
			allErrs = append(allErrs, field.Invalid(cidrs, n.Spec.PodCIDRs, "may specify no more than one CIDR for each IP family"))
		}
	}
	if n.Spec.PodCIDR != "" && (len(n.Spec.PodCIDRs) == 0 || n.Spec.PodCIDRs[0] != n.Spec.PodCIDR) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("podCIDR"), n.Spec.PodCIDR, "must match the first value of `podCIDRs`"))
	}
	return allErrs
}

func validateNodeUpdate(n, old *corev1.Node) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&n.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateNodeSpec(n)...)
	for _, name := range sortedResourceNames(n.Status.Capacity) {
		allErrs = append(allErrs, validateResourceQuantityValue(string(name), n.Status.Capacity[name], field.NewPath("status", "capacity", string(name)))...)
	}
	for _, name := range sortedResourceNames(n.Status.Allocatable) {
		allErrs = append(allErrs, validateResourceQuantityValue(string(name), n.Status.Allocatable[name], field.NewPath("status", "allocatable", string(name)))...)
	}
	seen := map[corev1.NodeAddress]bool{}
	for i, a := range n.Status.Addresses {
		if seen[a] {
			allErrs = append(allErrs, field.Duplicate(field.NewPath("status", "addresses").Index(i), a))
		}
		seen[a] = true
	}
	if len(old.Spec.PodCIDRs) > 0 && !sameStrings(old.Spec.PodCIDRs, n.Spec.PodCIDRs) {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("podCIDRs"), "node updates may not change podCIDR except from \"\" to valid"))
	}
	if old.Spec.ProviderID != "" && old.Spec.ProviderID != n.Spec.ProviderID {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("providerID"), "node updates may not change providerID except from \"\" to valid"))
	}
	return allErrs
}

// --- Events ---

const (
	eventReasonMax   = 128
	eventActionMax   = 128
	eventInstanceMax = 128
	eventNoteMax     = 1024
)

// validateCoreEvent follows Kubernetes' rules for core/v1 Events, which
// are lenient for compatibility with old clients.
func validateCoreEvent(e *corev1.Event) field.ErrorList {
	allErrs := validateObjectMetaCreate(&e.ObjectMeta, true, nameIsPathSegment)
	return append(allErrs, validateCoreEventFields(e)...)
}

func validateCoreEventFields(e *corev1.Event) field.ErrorList {
	var allErrs field.ErrorList
	nsPath := field.NewPath("involvedObject", "namespace")
	if e.EventTime.IsZero() {
		if e.InvolvedObject.Namespace == "" {
			if e.Namespace != metav1.NamespaceNone && e.Namespace != metav1.NamespaceDefault {
				allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
			}
		} else if e.Namespace != e.InvolvedObject.Namespace {
			allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
		}
		return allErrs
	}
	if e.InvolvedObject.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		allErrs = append(allErrs, field.Invalid(nsPath, e.InvolvedObject.Namespace, "does not match event.namespace"))
	}
	allErrs = append(allErrs, validateEventReporting(e.ReportingController, e.ReportingInstance, e.Action, e.Reason, e.Message,
		field.NewPath("reportingComponent"), field.NewPath("message"))...)
	return allErrs
}

func validateEventReporting(controller, instance, action, reason, note string, controllerPath, notePath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if controller == "" {
		allErrs = append(allErrs, field.Required(controllerPath, ""))
	}
	allErrs = append(allErrs, validateQualifiedName(controller, controllerPath)...)
	if instance == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("reportingInstance"), ""))
	}
	if len(instance) > eventInstanceMax {
		allErrs = append(allErrs, field.Invalid(field.NewPath("reportingInstance"), "", fmt.Sprintf("can have at most %v characters", eventInstanceMax)))
	}
	if action == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("action"), ""))
	}
	if len(action) > eventActionMax {
		allErrs = append(allErrs, field.Invalid(field.NewPath("action"), "", fmt.Sprintf("can have at most %v characters", eventActionMax)))
	}
	if reason == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("reason"), ""))
	}
	if len(reason) > eventReasonMax {
		allErrs = append(allErrs, field.Invalid(field.NewPath("reason"), "", fmt.Sprintf("can have at most %v characters", eventReasonMax)))
	}
	if len(note) > eventNoteMax {
		allErrs = append(allErrs, field.Invalid(notePath, "", fmt.Sprintf("can have at most %v characters", eventNoteMax)))
	}
	return allErrs
}

func validateCoreEventUpdate(e, old *corev1.Event) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateCoreEventFields(e)...)
}

// validateEventsV1 applies the strict rules Kubernetes uses for
// events.k8s.io/v1 Events (paths use that API's field names).
func validateEventsV1(e *eventsv1.Event) field.ErrorList {
	allErrs := validateObjectMetaCreate(&e.ObjectMeta, true, nameIsDNSSubdomain)
	allErrs = append(allErrs, validateEventsV1Fields(e)...)
	if !e.DeprecatedFirstTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedFirstTimestamp"), "", "needs to be unset"))
	}
	if !e.DeprecatedLastTimestamp.IsZero() {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedLastTimestamp"), "", "needs to be unset"))
	}
	if e.DeprecatedCount != 0 {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedCount"), "", "needs to be unset"))
	}
	if e.DeprecatedSource.Component != "" || e.DeprecatedSource.Host != "" {
		allErrs = append(allErrs, field.Invalid(field.NewPath("deprecatedSource"), "", "needs to be unset"))
	}
	return allErrs
}

func validateEventsV1Fields(e *eventsv1.Event) field.ErrorList {
	var allErrs field.ErrorList
	if e.EventTime.IsZero() {
		allErrs = append(allErrs, field.Required(field.NewPath("eventTime"), ""))
	}
	if e.Regarding.Namespace == "" && e.Namespace != metav1.NamespaceDefault && e.Namespace != metav1.NamespaceSystem {
		allErrs = append(allErrs, field.Invalid(field.NewPath("regarding", "namespace"), e.Regarding.Namespace, "does not match event.namespace"))
	}
	allErrs = append(allErrs, validateEventReporting(e.ReportingController, e.ReportingInstance, e.Action, e.Reason, e.Note,
		field.NewPath("reportingController"), field.NewPath("note"))...)
	if e.Type != corev1.EventTypeNormal && e.Type != corev1.EventTypeWarning {
		allErrs = append(allErrs, field.Invalid(field.NewPath("type"), "", fmt.Sprintf("has invalid value: %v", e.Type)))
	}
	if s := e.Series; s != nil {
		if s.Count < 2 {
			allErrs = append(allErrs, field.Invalid(field.NewPath("series", "count"), "", "should be at least 2"))
		}
		if s.LastObservedTime.Time == (time.Time{}) {
			allErrs = append(allErrs, field.Required(field.NewPath("series", "lastObservedTime"), ""))
		}
	}
	return allErrs
}

func validateEventsV1Update(e, old *eventsv1.Event) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&e.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateEventsV1Fields(e)...)
	for _, f := range []struct {
		name     string
		now, was interface{}
	}{
		{"regarding", e.Regarding, old.Regarding}, {"reason", e.Reason, old.Reason}, {"note", e.Note, old.Note},
		{"deprecatedSource", e.DeprecatedSource, old.DeprecatedSource},
		{"deprecatedFirstTimestamp", e.DeprecatedFirstTimestamp, old.DeprecatedFirstTimestamp},
		{"deprecatedLastTimestamp", e.DeprecatedLastTimestamp, old.DeprecatedLastTimestamp},
		{"deprecatedCount", e.DeprecatedCount, old.DeprecatedCount}, {"type", e.Type, old.Type},
		{"eventTime", e.EventTime, old.EventTime}, {"action", e.Action, old.Action}, {"related", e.Related, old.Related},
		{"reportingController", e.ReportingController, old.ReportingController},
		{"reportingInstance", e.ReportingInstance, old.ReportingInstance},
	} {
		allErrs = append(allErrs, validateImmutable(f.now, f.was, field.NewPath(f.name))...)
	}
	return allErrs
}

// --- ResourceQuota and LimitRange ---

var standardQuotaResources = sets.New("pods", "services", "replicationcontrollers", "resourcequotas", "secrets",
	"configmaps", "persistentvolumeclaims", "services.nodeports", "services.loadbalancers",
	"requests.cpu", "requests.memory", "requests.storage", "requests.ephemeral-storage",
	"limits.cpu", "limits.memory", "limits.ephemeral-storage", "cpu", "memory", "ephemeral-storage")

var supportedQuotaScopes = []corev1.ResourceQuotaScope{corev1.ResourceQuotaScopeTerminating, corev1.ResourceQuotaScopeNotTerminating,
	corev1.ResourceQuotaScopeBestEffort, corev1.ResourceQuotaScopeNotBestEffort, corev1.ResourceQuotaScopePriorityClass,
	corev1.ResourceQuotaScopeCrossNamespacePodAffinity, corev1.ResourceQuotaScopeVolumeAttributesClass}

func validateResourceQuota(q *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMetaCreate(&q.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateResourceQuotaSpec(q)...)
}

func validateResourceQuotaSpec(q *corev1.ResourceQuota) field.ErrorList {
	var allErrs field.ErrorList
	for _, list := range []struct {
		path *field.Path
		l    corev1.ResourceList
	}{{specPath.Child("hard"), q.Spec.Hard}, {field.NewPath("status", "hard"), q.Status.Hard}, {field.NewPath("status", "used"), q.Status.Used}} {
		for _, name := range sortedResourceNames(list.l) {
			p := list.path.Key(string(name))
			errs := validateResourceName(string(name), p)
			if len(errs) == 0 && !strings.Contains(string(name), "/") && !standardQuotaResources.Has(string(name)) &&
				!strings.HasPrefix(string(name), "requests.hugepages-") {
				errs = append(errs, field.Invalid(p, name, "must be a standard resource for quota"))
			}
			allErrs = append(allErrs, errs...)
			allErrs = append(allErrs, validateResourceQuantityValue(string(name), list.l[name], p)...)
		}
	}
	supported := sets.New(supportedQuotaScopes...)
	for _, s := range q.Spec.Scopes {
		if !supported.Has(s) {
			allErrs = append(allErrs, field.NotSupported(specPath.Child("scopes"), s, supportedQuotaScopes))
		}
	}
	if sel := q.Spec.ScopeSelector; sel != nil {
		for i, r := range sel.MatchExpressions {
			p := specPath.Child("scopeSelector", "matchExpressions").Index(i)
			if !supported.Has(r.ScopeName) {
				allErrs = append(allErrs, field.NotSupported(p.Child("scopeName"), r.ScopeName, supportedQuotaScopes))
			}
			switch r.Operator {
			case corev1.ScopeSelectorOpIn, corev1.ScopeSelectorOpNotIn:
				if len(r.Values) == 0 {
					allErrs = append(allErrs, field.Required(p.Child("values"), "must be at least one value when `operator` is 'In' or 'NotIn' for scope selector"))
				}
			case corev1.ScopeSelectorOpExists, corev1.ScopeSelectorOpDoesNotExist:
				if len(r.Values) != 0 {
					allErrs = append(allErrs, field.Invalid(p.Child("values"), r.Values, "must be no value when `operator` is 'Exist' or 'DoesNotExist' for scope selector"))
				}
			default:
				allErrs = append(allErrs, field.Invalid(p.Child("operator"), r.Operator, "not a valid selector operator"))
			}
		}
	}
	return allErrs
}

func validateResourceQuotaUpdate(q, old *corev1.ResourceQuota) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&q.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateResourceQuotaSpec(q)...)
	if !reflect.DeepEqual(q.Spec.Scopes, old.Spec.Scopes) {
		allErrs = append(allErrs, field.Invalid(specPath.Child("scopes"), q.Spec.Scopes, msgFieldImmutable))
	}
	return allErrs
}

func validateLimitRange(lr *corev1.LimitRange) field.ErrorList {
	allErrs := validateObjectMetaCreate(&lr.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateLimitRangeSpec(lr)...)
}

func validateLimitRangeSpec(lr *corev1.LimitRange) field.ErrorList {
	var allErrs field.ErrorList
	types := sets.New[corev1.LimitType]()
	for i := range lr.Spec.Limits {
		item := &lr.Spec.Limits[i]
		p := specPath.Child("limits").Index(i)
		switch item.Type {
		case corev1.LimitTypePod, corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim:
		default:
			allErrs = append(allErrs, field.NotSupported(p.Child("type"), item.Type,
				[]corev1.LimitType{corev1.LimitTypeContainer, corev1.LimitTypePersistentVolumeClaim, corev1.LimitTypePod}))
		}
		if types.Has(item.Type) {
			allErrs = append(allErrs, field.Duplicate(p.Child("type"), item.Type))
		}
		types.Insert(item.Type)
		if item.Type == corev1.LimitTypePod {
			if len(item.Default) > 0 {
				allErrs = append(allErrs, field.Forbidden(p.Child("default"), "may not be specified when `type` is 'Pod'"))
			}
			if len(item.DefaultRequest) > 0 {
				allErrs = append(allErrs, field.Forbidden(p.Child("defaultRequest"), "may not be specified when `type` is 'Pod'"))
			}
		}
		keys := sets.New[corev1.ResourceName]()
		for _, l := range []struct {
			name string
			list corev1.ResourceList
		}{{"max", item.Max}, {"min", item.Min}, {"default", item.Default}, {"defaultRequest", item.DefaultRequest}, {"maxLimitRequestRatio", item.MaxLimitRequestRatio}} {
			for _, k := range sortedResourceNames(l.list) {
				allErrs = append(allErrs, validateResourceName(string(k), p.Child(l.name).Key(string(k)))...)
				allErrs = append(allErrs, validateNonnegativeQuantity(l.list[k], p.Child(l.name).Key(string(k)))...)
				keys.Insert(k)
			}
		}
		for _, k := range sets.List(keys) {
			allErrs = append(allErrs, validateLimitRangeResource(item, k, p)...)
		}
	}
	return allErrs
}

func validateLimitRangeResource(item *corev1.LimitRangeItem, k corev1.ResourceName, p *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	minQ, hasMin := item.Min[k]
	maxQ, hasMax := item.Max[k]
	defQ, hasDef := item.Default[k]
	reqQ, hasReq := item.DefaultRequest[k]
	ratio, hasRatio := item.MaxLimitRequestRatio[k]
	key := string(k)
	if hasMin && hasMax && minQ.Cmp(maxQ) > 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("min").Key(key), minQ.String(), fmt.Sprintf("min value %s is greater than max value %s", minQ.String(), maxQ.String())))
	}
	if hasReq && hasMin && minQ.Cmp(reqQ) > 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("min value %s is greater than default request value %s", minQ.String(), reqQ.String())))
	}
	if hasReq && hasMax && reqQ.Cmp(maxQ) > 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("default request value %s is greater than max value %s", reqQ.String(), maxQ.String())))
	}
	if hasReq && hasDef && reqQ.Cmp(defQ) > 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("defaultRequest").Key(key), reqQ.String(), fmt.Sprintf("default request value %s is greater than default limit value %s", reqQ.String(), defQ.String())))
	}
	if hasDef && hasMin && minQ.Cmp(defQ) > 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("default").Key(key), minQ.String(), fmt.Sprintf("min value %s is greater than default value %s", minQ.String(), defQ.String())))
	}
	if hasDef && hasMax && defQ.Cmp(maxQ) > 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("default").Key(key), maxQ.String(), fmt.Sprintf("default value %s is greater than max value %s", defQ.String(), maxQ.String())))
	}
	if hasRatio && ratio.Cmp(*resource.NewQuantity(1, resource.DecimalSI)) < 0 {
		allErrs = append(allErrs, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is less than 1", ratio.String())))
	}
	if hasRatio && hasMin && hasMax && minQ.Sign() > 0 {
		limit := float64(maxQ.MilliValue()) / float64(minQ.MilliValue())
		if float64(ratio.MilliValue())/1000 > limit {
			allErrs = append(allErrs, field.Invalid(p.Child("maxLimitRequestRatio").Key(key), ratio.String(), fmt.Sprintf("ratio %s is greater than max/min = %f", ratio.String(), limit)))
		}
	}
	return allErrs
}

func validateLimitRangeUpdate(lr, old *corev1.LimitRange) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&lr.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateLimitRangeSpec(lr)...)
}
