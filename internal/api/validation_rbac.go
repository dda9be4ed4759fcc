package api

import (
	rbacv1 "k8s.io/api/rbac/v1"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

// RBAC objects keep rules, roleRef and subjects at the top level, so their
// paths have no "spec." prefix.

func validatePolicyRules(rules []rbacv1.PolicyRule, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	for i, r := range rules {
		p := field.NewPath("rules").Index(i)
		if len(r.Verbs) == 0 {
			allErrs = append(allErrs, field.Required(p.Child("verbs"), "verbs must contain at least one value"))
		}
		if len(r.NonResourceURLs) > 0 {
			if namespaced {
				allErrs = append(allErrs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "namespaced rules cannot apply to non-resource URLs"))
			}
			if len(r.APIGroups) > 0 || len(r.Resources) > 0 || len(r.ResourceNames) > 0 {
				allErrs = append(allErrs, field.Invalid(p.Child("nonResourceURLs"), r.NonResourceURLs, "rules cannot apply to both regular resources and non-resource URLs"))
			}
			continue
		}
		if len(r.APIGroups) == 0 {
			allErrs = append(allErrs, field.Required(p.Child("apiGroups"), "resource rules must supply at least one api group"))
		}
		if len(r.Resources) == 0 {
			allErrs = append(allErrs, field.Required(p.Child("resources"), "resource rules must supply at least one resource"))
		}
	}
	return allErrs
}

func validateRole(r *rbacv1.Role) field.ErrorList {
	allErrs := validateObjectMetaCreate(&r.ObjectMeta, true, nameIsPathSegment)
	return append(allErrs, validatePolicyRules(r.Rules, true)...)
}

func validateRoleUpdate(r, old *rbacv1.Role) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validatePolicyRules(r.Rules, true)...)
}

func validateClusterRole(r *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validateObjectMetaCreate(&r.ObjectMeta, false, nameIsPathSegment)
	return append(allErrs, validateClusterRoleFields(r)...)
}

func validateClusterRoleFields(r *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validatePolicyRules(r.Rules, false)
	if a := r.AggregationRule; a != nil {
		p := field.NewPath("aggregationRule", "clusterRoleSelectors")
		if len(a.ClusterRoleSelectors) == 0 {
			allErrs = append(allErrs, field.Required(p, "at least one clusterRoleSelector required if aggregationRule is non-nil"))
		}
		for i := range a.ClusterRoleSelectors {
			allErrs = append(allErrs, metav1validation.ValidateLabelSelector(&a.ClusterRoleSelectors[i], strictSelectorOpts, p.Index(i))...)
		}
	}
	return allErrs
}

func validateClusterRoleUpdate(r, old *rbacv1.ClusterRole) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&r.ObjectMeta, &old.ObjectMeta)
	return append(allErrs, validateClusterRoleFields(r)...)
}

func validateRoleRef(ref rbacv1.RoleRef, kinds []string) field.ErrorList {
	var allErrs field.ErrorList
	if ref.APIGroup != rbacv1.GroupName {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("roleRef", "apiGroup"), ref.APIGroup, []string{rbacv1.GroupName}))
	}
	ok := false
	for _, k := range kinds {
		ok = ok || ref.Kind == k
	}
	if !ok {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("roleRef", "kind"), ref.Kind, kinds))
	}
	if ref.Name == "" {
		allErrs = append(allErrs, field.Required(field.NewPath("roleRef", "name"), ""))
	} else {
		allErrs = append(allErrs, validateNameRef(ref.Name, nameIsPathSegment, field.NewPath("roleRef", "name"))...)
	}
	return allErrs
}

func validateSubjects(subjects []rbacv1.Subject, namespaced bool) field.ErrorList {
	var allErrs field.ErrorList
	for i, s := range subjects {
		p := field.NewPath("subjects").Index(i)
		if s.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		}
		switch s.Kind {
		case rbacv1.ServiceAccountKind:
			if s.Name != "" {
				allErrs = append(allErrs, validateNameRef(s.Name, nameIsDNSSubdomain, p.Child("name"))...)
			}
			if s.APIGroup != "" {
				allErrs = append(allErrs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{""}))
			}
			if !namespaced && s.Namespace == "" {
				allErrs = append(allErrs, field.Required(p.Child("namespace"), ""))
			}
		case rbacv1.UserKind, rbacv1.GroupKind:
			if s.APIGroup != rbacv1.GroupName {
				allErrs = append(allErrs, field.NotSupported(p.Child("apiGroup"), s.APIGroup, []string{rbacv1.GroupName}))
			}
		default:
			allErrs = append(allErrs, field.NotSupported(p.Child("kind"), s.Kind, []string{rbacv1.ServiceAccountKind, rbacv1.UserKind, rbacv1.GroupKind}))
		}
	}
	return allErrs
}

func validateRoleBinding(b *rbacv1.RoleBinding) field.ErrorList {
	allErrs := validateObjectMetaCreate(&b.ObjectMeta, true, nameIsPathSegment)
	allErrs = append(allErrs, validateRoleRef(b.RoleRef, []string{"Role", "ClusterRole"})...)
	return append(allErrs, validateSubjects(b.Subjects, true)...)
}

func validateRoleBindingUpdate(b, old *rbacv1.RoleBinding) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&b.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateRoleRef(b.RoleRef, []string{"Role", "ClusterRole"})...)
	allErrs = append(allErrs, validateSubjects(b.Subjects, true)...)
	if b.RoleRef != old.RoleRef {
		allErrs = append(allErrs, field.Invalid(field.NewPath("roleRef"), b.RoleRef, "cannot change roleRef"))
	}
	return allErrs
}

func validateClusterRoleBinding(b *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := validateObjectMetaCreate(&b.ObjectMeta, false, nameIsPathSegment)
	allErrs = append(allErrs, validateRoleRef(b.RoleRef, []string{"ClusterRole"})...)
	return append(allErrs, validateSubjects(b.Subjects, false)...)
}

func validateClusterRoleBindingUpdate(b, old *rbacv1.ClusterRoleBinding) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&b.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateRoleRef(b.RoleRef, []string{"ClusterRole"})...)
	allErrs = append(allErrs, validateSubjects(b.Subjects, false)...)
	if b.RoleRef != old.RoleRef {
		allErrs = append(allErrs, field.Invalid(field.NewPath("roleRef"), b.RoleRef, "cannot change roleRef"))
	}
	return allErrs
}
