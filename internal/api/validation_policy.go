package api

import (
	"fmt"
	"strings"

	policyv1 "k8s.io/api/policy/v1"
	schedulingv1 "k8s.io/api/scheduling/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// --- PodDisruptionBudget ---

func validatePDB(pdb *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateObjectMetaCreate(&pdb.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validatePDBSpec(&pdb.Spec)...)
}

func validatePDBUpdate(pdb, old *policyv1.PodDisruptionBudget) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pdb.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validatePDBSpec(&pdb.Spec)...)
}

func validatePDBSpec(s *policyv1.PodDisruptionBudgetSpec) field.ErrorList {
	var allErrs field.ErrorList
	if s.MinAvailable != nil && s.MaxUnavailable != nil {
		allErrs = append(allErrs, field.Invalid(specPath, s, "minAvailable and maxUnavailable cannot be both set"))
	}
	if s.MinAvailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*s.MinAvailable, specPath.Child("minAvailable"))...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(*s.MinAvailable, specPath.Child("minAvailable"))...)
	}
	if s.MaxUnavailable != nil {
		allErrs = append(allErrs, validatePositiveIntOrPercent(*s.MaxUnavailable, specPath.Child("maxUnavailable"))...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(*s.MaxUnavailable, specPath.Child("maxUnavailable"))...)
	}
	allErrs = append(allErrs, metav1validation.ValidateLabelSelector(s.Selector, strictSelectorOpts, specPath.Child("selector"))...)
	if p := s.UnhealthyPodEvictionPolicy; p != nil && *p != policyv1.IfHealthyBudget && *p != policyv1.AlwaysAllow {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("unhealthyPodEvictionPolicy"), *p,
			[]policyv1.UnhealthyPodEvictionPolicyType{policyv1.AlwaysAllow, policyv1.IfHealthyBudget}))
	}
	return allErrs
}

// --- PriorityClass ---

const (
	highestUserDefinablePriority = 1000000000
	systemPriorityClassPrefix    = "system-"
)

// systemPriorityClasses are the built-in classes a "system-" name may denote.
var systemPriorityClasses = []struct {
	Name  string
	Value int32
}{
	{"system-node-critical", 2000001000},
	{"system-cluster-critical", 2000000000},
}

func isKnownSystemPriorityClass(pc *schedulingv1.PriorityClass) error {
	for _, s := range systemPriorityClasses {
		if s.Name != pc.Name {
			continue
		}
		if s.Value != pc.Value {
			return fmt.Errorf("value of %v PriorityClass must be %v", s.Name, s.Value)
		}
		if pc.GlobalDefault {
			return fmt.Errorf("globalDefault of %v PriorityClass must be %v", s.Name, false)
		}
		return nil
	}
	return fmt.Errorf("%v is not a known system priority class", pc.Name)
}

func validatePriorityClass(pc *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := validateObjectMetaCreate(&pc.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validatePriorityClassFields(pc)...)
}

func validatePriorityClassFields(pc *schedulingv1.PriorityClass) field.ErrorList {
	var allErrs field.ErrorList
	if strings.HasPrefix(pc.Name, systemPriorityClassPrefix) {
		if err := isKnownSystemPriorityClass(pc); err != nil {
			allErrs = append(allErrs, field.Forbidden(metaPath.Child("name"),
				"priority class names with '"+systemPriorityClassPrefix+"' prefix are reserved for system use only. error: "+err.Error()))
		}
	} else if pc.Value > highestUserDefinablePriority {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"),
			fmt.Sprintf("maximum allowed value of a user defined priority is %v", highestUserDefinablePriority)))
	}
	if pc.PreemptionPolicy != nil {
		allErrs = append(allErrs, validatePreemptionPolicy(*pc.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	return allErrs
}

func validatePriorityClassUpdate(pc, old *schedulingv1.PriorityClass) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pc.ObjectMeta, &old.ObjectMeta)
	if pc.Value != old.Value {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("value"), "may not be changed in an update."))
	}
	allErrs = append(allErrs, validateImmutable(pc.PreemptionPolicy, old.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	if pc.PreemptionPolicy != nil {
		allErrs = append(allErrs, validatePreemptionPolicy(*pc.PreemptionPolicy, field.NewPath("preemptionPolicy"))...)
	}
	return allErrs
}
