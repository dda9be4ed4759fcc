package api

import (
	"fmt"
	"math"
	"strings"

	apiequality "k8s.io/apimachinery/pkg/api/equality"
	"k8s.io/apimachinery/pkg/api/resource"
	apimachineryvalidation "k8s.io/apimachinery/pkg/api/validation"
	pathvalidation "k8s.io/apimachinery/pkg/api/validation/path"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Messages shared by several validators; the text is what Kubernetes prints.
const (
	msgFieldImmutable = apimachineryvalidation.FieldImmutableErrorMsg // "field is immutable"
	msgNegative       = apimachineryvalidation.IsNegativeErrorMsg     // "must be greater than or equal to 0"
	msgNotPositive    = "must be greater than zero"
	msgNotInteger     = "must be an integer"
)

// validateNameFunc checks an object name (prefix: it is a generateName that
// will get a random suffix) and returns one message per problem.
type validateNameFunc func(name string, prefix bool) []string

var (
	nameIsDNSSubdomain validateNameFunc = apimachineryvalidation.NameIsDNSSubdomain
	nameIsDNSLabel     validateNameFunc = apimachineryvalidation.NameIsDNSLabel
	nameIsDNS1035Label validateNameFunc = apimachineryvalidation.NameIsDNS1035Label
	nameIsPathSegment  validateNameFunc = pathvalidation.ValidatePathSegmentName
	metaPath                            = field.NewPath("metadata")
	specPath                            = field.NewPath("spec")
	strictSelectorOpts                  = metav1validation.LabelSelectorValidationOptions{}
)

// validateObjectMetaCreate checks metadata of a new object the way
// Kubernetes' ValidateObjectMeta does. A name may still be empty when
// generateName is set: the API server generates it, possibly after
// validation, so only the prefix is checked then.
func validateObjectMetaCreate(meta *metav1.ObjectMeta, namespaced bool, nameFn validateNameFunc) field.ErrorList {
	var allErrs field.ErrorList
	if meta.GenerateName != "" {
		for _, msg := range nameFn(meta.GenerateName, true) {
			allErrs = append(allErrs, field.Invalid(metaPath.Child("generateName"), meta.GenerateName, msg))
		}
	}
	if meta.Name == "" {
		if meta.GenerateName == "" {
			allErrs = append(allErrs, field.Required(metaPath.Child("name"), "name or generateName is required"))
		}
	} else {
		for _, msg := range nameFn(meta.Name, false) {
			allErrs = append(allErrs, field.Invalid(metaPath.Child("name"), meta.Name, msg))
		}
	}
	if namespaced {
		if meta.Namespace == "" {
			allErrs = append(allErrs, field.Required(metaPath.Child("namespace"), ""))
		} else {
			for _, msg := range apimachineryvalidation.ValidateNamespaceName(meta.Namespace, false) {
				allErrs = append(allErrs, field.Invalid(metaPath.Child("namespace"), meta.Namespace, msg))
			}
		}
	} else if meta.Namespace != "" {
		allErrs = append(allErrs, field.Forbidden(metaPath.Child("namespace"), "not allowed on this type"))
	}
	allErrs = append(allErrs, apimachineryvalidation.ValidateNonnegativeField(meta.Generation, metaPath.Child("generation"))...)
	allErrs = append(allErrs, validateMetaContent(meta)...)
	return allErrs
}

// validateObjectMetaUpdate checks metadata of an updated object. The API
// server itself enforces immutability of name, namespace, uid,
// creationTimestamp, resourceVersion and generation; this covers the
// content rules and the "no new finalizers while deleting" rule.
func validateObjectMetaUpdate(meta, old *metav1.ObjectMeta) field.ErrorList {
	var allErrs field.ErrorList
	if old.DeletionTimestamp != nil {
		allErrs = append(allErrs, apimachineryvalidation.ValidateNoNewFinalizers(meta.Finalizers, old.Finalizers, metaPath.Child("finalizers"))...)
	}
	allErrs = append(allErrs, validateMetaContent(meta)...)
	return allErrs
}

func validateMetaContent(meta *metav1.ObjectMeta) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, metav1validation.ValidateLabels(meta.Labels, metaPath.Child("labels"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateAnnotations(meta.Annotations, metaPath.Child("annotations"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateOwnerReferences(meta.OwnerReferences, metaPath.Child("ownerReferences"))...)
	allErrs = append(allErrs, apimachineryvalidation.ValidateFinalizers(meta.Finalizers, metaPath.Child("finalizers"))...)
	for i, f := range meta.Finalizers {
		allErrs = append(allErrs, validateKubeFinalizerName(f, metaPath.Child("finalizers").Index(i))...)
	}
	allErrs = append(allErrs, metav1validation.ValidateManagedFields(meta.ManagedFields, metaPath.Child("managedFields"))...)
	return allErrs
}

// standardFinalizers are the finalizer names that need no domain prefix.
var standardFinalizers = sets.New("kubernetes", metav1.FinalizerOrphanDependents, metav1.FinalizerDeleteDependents)

func validateKubeFinalizerName(name string, fldPath *field.Path) field.ErrorList {
	if !strings.Contains(name, "/") && !standardFinalizers.Has(name) {
		return field.ErrorList{field.Invalid(fldPath, name, "name is neither a standard finalizer name nor is it fully qualified")}
	}
	return nil
}

// validateTemplateMeta checks the labels and annotations of an embedded
// template's metadata (pod templates, volume claim templates).
func validateTemplateMeta(meta *metav1.ObjectMeta, fldPath *field.Path) field.ErrorList {
	allErrs := metav1validation.ValidateLabels(meta.Labels, fldPath.Child("labels"))
	allErrs = append(allErrs, apimachineryvalidation.ValidateAnnotations(meta.Annotations, fldPath.Child("annotations"))...)
	return allErrs
}

// --- small shared checks ---

func validateNonnegative(value int64, fldPath *field.Path) field.ErrorList {
	return apimachineryvalidation.ValidateNonnegativeField(value, fldPath)
}

func validatePositive(value int64, fldPath *field.Path) field.ErrorList {
	if value <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value, msgNotPositive)}
	}
	return nil
}

func validateImmutable(newVal, oldVal interface{}, fldPath *field.Path) field.ErrorList {
	if !apiequality.Semantic.DeepEqual(newVal, oldVal) {
		return field.ErrorList{field.Invalid(fldPath, newVal, msgFieldImmutable)}
	}
	return nil
}

func validateDNS1123Label(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Label(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateDNS1123Subdomain(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsDNS1123Subdomain(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

func validateQualifiedName(value string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range validation.IsQualifiedName(value) {
		allErrs = append(allErrs, field.Invalid(fldPath, value, msg))
	}
	return allErrs
}

// validateNameRef checks a reference to another object by name with the
// referenced kind's name rule.
func validateNameRef(name string, nameFn validateNameFunc, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	for _, msg := range nameFn(name, false) {
		allErrs = append(allErrs, field.Invalid(fldPath, name, msg))
	}
	return allErrs
}

func validateNonnegativeQuantity(value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if value.Cmp(resource.Quantity{}) < 0 {
		return field.ErrorList{field.Invalid(fldPath, value.String(), msgNegative)}
	}
	return nil
}

func validatePositiveQuantity(value resource.Quantity, fldPath *field.Path) field.ErrorList {
	if value.Cmp(resource.Quantity{}) <= 0 {
		return field.ErrorList{field.Invalid(fldPath, value.String(), msgNotPositive)}
	}
	return nil
}

// validateRequiredSelector checks a workload selector: present, well
// formed and not empty (kind names the workload in the message).
func validateRequiredSelector(sel *metav1.LabelSelector, kind string, fldPath *field.Path) field.ErrorList {
	if sel == nil {
		return field.ErrorList{field.Required(fldPath, "")}
	}
	allErrs := metav1validation.ValidateLabelSelector(sel, strictSelectorOpts, fldPath)
	if len(sel.MatchLabels)+len(sel.MatchExpressions) == 0 {
		allErrs = append(allErrs, field.Invalid(fldPath, sel, "empty selector is invalid for "+kind))
	}
	return allErrs
}

// validatePositiveIntOrPercent accepts a non-negative integer or a percent string.
func validatePositiveIntOrPercent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch v.Type {
	case intstr.String:
		for _, msg := range validation.IsValidPercent(v.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath, v, msg))
		}
	case intstr.Int:
		allErrs = append(allErrs, validateNonnegative(int64(v.IntValue()), fldPath)...)
	default:
		allErrs = append(allErrs, field.Invalid(fldPath, v, "must be an integer or percentage (e.g '5%')"))
	}
	return allErrs
}

// intOrPercentValue returns the integer or the percentage number of v, and
// whether it is a percentage.
func intOrPercentValue(v intstr.IntOrString) (int, bool) {
	if v.Type == intstr.String {
		s := strings.TrimSuffix(v.StrVal, "%")
		n := 0
		for _, c := range s {
			if c < '0' || c > '9' {
				return 0, true
			}
			if n > math.MaxInt32 {
				return n, true
			}
			n = n*10 + int(c-'0')
		}
		return n, true
	}
	return v.IntValue(), false
}

func validateNotMoreThan100Percent(v intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	value, isPercent := intOrPercentValue(v)
	if !isPercent || value <= 100 {
		return nil
	}
	return field.ErrorList{field.Invalid(fldPath, v, "must not be greater than 100%")}
}

// validatePortNumOrName checks an int-or-string port reference.
func validatePortNumOrName(port intstr.IntOrString, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch port.Type {
	case intstr.Int:
		for _, msg := range validation.IsValidPortNum(port.IntValue()) {
			allErrs = append(allErrs, field.Invalid(fldPath, port.IntValue(), msg))
		}
	case intstr.String:
		for _, msg := range validation.IsValidPortName(port.StrVal) {
			allErrs = append(allErrs, field.Invalid(fldPath, port.StrVal, msg))
		}
	default:
		allErrs = append(allErrs, field.InternalError(fldPath, fmt.Errorf("unknown type: %v", port.Type)))
	}
	return allErrs
}

func strategyPtr[T any](v T) *T { return &v }
