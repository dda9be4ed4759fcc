package api

import (
	"fmt"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const msgSelectorMismatch = "`selector` does not match template `labels`"

// validateTemplateMatchesSelector reports template labels that the
// selector does not select.
func validateTemplateMatchesSelector(sel labels.Selector, t *corev1.PodTemplateSpec, templatePath *field.Path) field.ErrorList {
	if !sel.Empty() && !sel.Matches(labels.Set(t.Labels)) {
		return field.ErrorList{field.Invalid(templatePath.Child("metadata", "labels"), t.Labels, msgSelectorMismatch)}
	}
	return nil
}

// validateReplicatedTemplate checks the pod template of a Deployment or
// ReplicaSet against its selector (kind names the owner in messages).
func validateReplicatedTemplate(sel *metav1.LabelSelector, t *corev1.PodTemplateSpec, kind string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	selector, err := metav1.LabelSelectorAsSelector(sel)
	if err != nil {
		return field.ErrorList{field.Invalid(fldPath.Child("selector"), sel, "invalid label selector")}
	}
	tp := fldPath.Child("template")
	allErrs = append(allErrs, validateTemplateMatchesSelector(selector, t, tp)...)
	allErrs = append(allErrs, validatePodTemplateSpec(t, tp)...)
	if t.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(tp.Child("spec", "restartPolicy"), t.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if t.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in "+kind+" is not Supported"))
	}
	return allErrs
}

func validateReplicas(replicas *int32, fldPath *field.Path) field.ErrorList {
	if replicas == nil {
		return nil
	}
	return validateNonnegative(int64(*replicas), fldPath)
}

// --- Deployment ---

func validateDeployment(d *appsv1.Deployment) field.ErrorList {
	allErrs := validateObjectMetaCreate(&d.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateDeploymentSpec(&d.Spec, specPath)...)
}

func validateDeploymentSpec(spec *appsv1.DeploymentSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateReplicas(spec.Replicas, fldPath.Child("replicas"))
	allErrs = append(allErrs, validateRequiredSelector(spec.Selector, "deployment", fldPath.Child("selector"))...)
	allErrs = append(allErrs, validateReplicatedTemplate(spec.Selector, &spec.Template, "ReplicaSet", fldPath)...)
	allErrs = append(allErrs, validateDeploymentStrategy(&spec.Strategy, fldPath.Child("strategy"))...)
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if spec.ProgressDeadlineSeconds != nil {
		p := fldPath.Child("progressDeadlineSeconds")
		allErrs = append(allErrs, validateNonnegative(int64(*spec.ProgressDeadlineSeconds), p)...)
		if *spec.ProgressDeadlineSeconds <= spec.MinReadySeconds {
			allErrs = append(allErrs, field.Invalid(p, *spec.ProgressDeadlineSeconds, "must be greater than minReadySeconds"))
		}
	}
	return allErrs
}

func validateDeploymentStrategy(s *appsv1.DeploymentStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch s.Type {
	case appsv1.RecreateDeploymentStrategyType:
		if s.RollingUpdate != nil {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("rollingUpdate"), "may not be specified when strategy `type` is 'Recreate'"))
		}
	case appsv1.RollingUpdateDeploymentStrategyType:
		if s.RollingUpdate == nil {
			allErrs = append(allErrs, field.Required(fldPath.Child("rollingUpdate"), "this should be defaulted and never be nil"))
			break
		}
		rp := fldPath.Child("rollingUpdate")
		unavailable, surge := intOrZero(s.RollingUpdate.MaxUnavailable), intOrZero(s.RollingUpdate.MaxSurge)
		allErrs = append(allErrs, validatePositiveIntOrPercent(unavailable, rp.Child("maxUnavailable"))...)
		allErrs = append(allErrs, validatePositiveIntOrPercent(surge, rp.Child("maxSurge"))...)
		if v, _ := intOrPercentValue(unavailable); v == 0 {
			if w, _ := intOrPercentValue(surge); w == 0 {
				allErrs = append(allErrs, field.Invalid(rp.Child("maxUnavailable"), unavailable, "may not be 0 when `maxSurge` is 0"))
			}
		}
		allErrs = append(allErrs, validateNotMoreThan100Percent(unavailable, rp.Child("maxUnavailable"))...)
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath, s,
			[]appsv1.DeploymentStrategyType{appsv1.RecreateDeploymentStrategyType, appsv1.RollingUpdateDeploymentStrategyType}))
	}
	return allErrs
}

func intOrZero(v *intstr.IntOrString) intstr.IntOrString {
	if v == nil {
		return intstr.FromInt32(0)
	}
	return *v
}

func validateDeploymentUpdate(d, old *appsv1.Deployment) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&d.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateDeploymentSpec(&d.Spec, specPath)...)
	allErrs = append(allErrs, validateImmutable(d.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return allErrs
}

// --- ReplicaSet ---

func validateReplicaSet(rs *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateObjectMetaCreate(&rs.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateReplicaSetSpec(&rs.Spec, specPath)...)
}

func validateReplicaSetSpec(spec *appsv1.ReplicaSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateReplicas(spec.Replicas, fldPath.Child("replicas"))
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateRequiredSelector(spec.Selector, "deployment", fldPath.Child("selector"))...)
	allErrs = append(allErrs, validateReplicatedTemplate(spec.Selector, &spec.Template, "ReplicaSet", fldPath)...)
	return allErrs
}

func validateReplicaSetUpdate(rs, old *appsv1.ReplicaSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&rs.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateReplicaSetSpec(&rs.Spec, specPath)...)
	allErrs = append(allErrs, validateImmutable(rs.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return allErrs
}

// --- DaemonSet ---

func validateDaemonSet(ds *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateObjectMetaCreate(&ds.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateDaemonSetSpec(&ds.Spec, specPath)...)
}

func validateDaemonSetSpec(spec *appsv1.DaemonSetSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateRequiredSelector(spec.Selector, "daemonset", fldPath.Child("selector"))
	tp := fldPath.Child("template")
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err == nil && spec.Selector != nil {
		if !selector.Matches(labels.Set(spec.Template.Labels)) {
			allErrs = append(allErrs, field.Invalid(tp.Child("metadata", "labels"), spec.Template.Labels, msgSelectorMismatch))
		}
	}
	allErrs = append(allErrs, validatePodTemplateSpec(&spec.Template, tp)...)
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(tp.Child("spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Invalid(tp.Child("spec", "activeDeadlineSeconds"), *spec.Template.Spec.ActiveDeadlineSeconds, "activeDeadlineSeconds must be nil for daemons"))
	}
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	allErrs = append(allErrs, validateDaemonSetUpdateStrategy(&spec.UpdateStrategy, fldPath.Child("updateStrategy"))...)
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	return allErrs
}

func validateDaemonSetUpdateStrategy(s *appsv1.DaemonSetUpdateStrategy, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch s.Type {
	case appsv1.OnDeleteDaemonSetStrategyType:
	case appsv1.RollingUpdateDaemonSetStrategyType:
		if s.RollingUpdate == nil {
			return field.ErrorList{field.Required(fldPath.Child("rollingUpdate"), "")}
		}
		rp := fldPath.Child("rollingUpdate")
		unavailable, surge := intOrZero(s.RollingUpdate.MaxUnavailable), intOrZero(s.RollingUpdate.MaxSurge)
		allErrs = append(allErrs, validatePositiveIntOrPercent(unavailable, rp.Child("maxUnavailable"))...)
		allErrs = append(allErrs, validatePositiveIntOrPercent(surge, rp.Child("maxSurge"))...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(unavailable, rp.Child("maxUnavailable"))...)
		allErrs = append(allErrs, validateNotMoreThan100Percent(surge, rp.Child("maxSurge"))...)
		u, _ := intOrPercentValue(unavailable)
		g, _ := intOrPercentValue(surge)
		switch {
		case u != 0 && g != 0:
			allErrs = append(allErrs, field.Invalid(rp.Child("maxSurge"), surge, "may not be set when maxUnavailable is non-zero"))
		case u == 0 && g == 0:
			allErrs = append(allErrs, field.Required(rp.Child("maxUnavailable"), "cannot be 0 when maxSurge is 0"))
		}
	default:
		allErrs = append(allErrs, field.NotSupported(fldPath, s,
			[]appsv1.DaemonSetUpdateStrategyType{appsv1.RollingUpdateDaemonSetStrategyType, appsv1.OnDeleteDaemonSetStrategyType}))
	}
	return allErrs
}

func validateDaemonSetUpdate(ds, old *appsv1.DaemonSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ds.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateDaemonSetSpec(&ds.Spec, specPath)...)
	allErrs = append(allErrs, validateImmutable(ds.Spec.Selector, old.Spec.Selector, specPath.Child("selector"))...)
	return allErrs
}

// --- StatefulSet ---

func validateStatefulSet(ss *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateObjectMetaCreate(&ss.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateStatefulSetSpec(&ss.Spec, specPath)...)
}

func validateStatefulSetSpec(spec *appsv1.StatefulSetSpec, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	switch spec.PodManagementPolicy {
	case "":
		allErrs = append(allErrs, field.Required(fldPath.Child("podManagementPolicy"), ""))
	case appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement:
	default:
		allErrs = append(allErrs, field.Invalid(fldPath.Child("podManagementPolicy"), spec.PodManagementPolicy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.OrderedReadyPodManagement, appsv1.ParallelPodManagement)))
	}
	up := fldPath.Child("updateStrategy")
	switch spec.UpdateStrategy.Type {
	case "":
		allErrs = append(allErrs, field.Required(up, ""))
	case appsv1.OnDeleteStatefulSetStrategyType:
		if spec.UpdateStrategy.RollingUpdate != nil {
			allErrs = append(allErrs, field.Invalid(up.Child("rollingUpdate"), spec.UpdateStrategy.RollingUpdate,
				fmt.Sprintf("only allowed for updateStrategy '%s'", appsv1.RollingUpdateStatefulSetStrategyType)))
		}
	case appsv1.RollingUpdateStatefulSetStrategyType:
		if ru := spec.UpdateStrategy.RollingUpdate; ru != nil {
			rp := up.Child("rollingUpdate")
			if ru.Partition != nil {
				allErrs = append(allErrs, validateNonnegative(int64(*ru.Partition), rp.Child("partition"))...)
			}
			if ru.MaxUnavailable != nil {
				allErrs = append(allErrs, validatePositiveIntOrPercent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
				if v, _ := intOrPercentValue(*ru.MaxUnavailable); v == 0 {
					allErrs = append(allErrs, field.Invalid(rp.Child("maxUnavailable"), *ru.MaxUnavailable, "cannot be 0"))
				}
				allErrs = append(allErrs, validateNotMoreThan100Percent(*ru.MaxUnavailable, rp.Child("maxUnavailable"))...)
			}
		}
	default:
		allErrs = append(allErrs, field.Invalid(up, spec.UpdateStrategy,
			fmt.Sprintf("must be '%s' or '%s'", appsv1.RollingUpdateStatefulSetStrategyType, appsv1.OnDeleteStatefulSetStrategyType)))
	}
	if spec.RevisionHistoryLimit != nil {
		allErrs = append(allErrs, validateNonnegative(int64(*spec.RevisionHistoryLimit), fldPath.Child("revisionHistoryLimit"))...)
	}
	if p := spec.PersistentVolumeClaimRetentionPolicy; p != nil {
		pp := fldPath.Child("persistentVolumeClaimRetentionPolicy")
		allErrs = append(allErrs, validatePVCRetentionPolicyType(p.WhenDeleted, pp.Child("whenDeleted"))...)
		allErrs = append(allErrs, validatePVCRetentionPolicyType(p.WhenScaled, pp.Child("whenScaled"))...)
	}
	allErrs = append(allErrs, validateReplicas(spec.Replicas, fldPath.Child("replicas"))...)
	allErrs = append(allErrs, validateNonnegative(int64(spec.MinReadySeconds), fldPath.Child("minReadySeconds"))...)
	if spec.Ordinals != nil {
		allErrs = append(allErrs, validateNonnegative(int64(spec.Ordinals.Start), fldPath.Child("ordinals", "start"))...)
	}
	if spec.ServiceName != "" {
		allErrs = append(allErrs, validateNameRef(spec.ServiceName, nameIsDNS1035Label, fldPath.Child("serviceName"))...)
	}
	allErrs = append(allErrs, validateRequiredSelector(spec.Selector, "statefulset", fldPath.Child("selector"))...)
	tp := fldPath.Child("template")
	if selector, err := metav1.LabelSelectorAsSelector(spec.Selector); err != nil {
		allErrs = append(allErrs, field.Invalid(fldPath.Child("selector"), spec.Selector, ""))
	} else {
		allErrs = append(allErrs, validateTemplateMatchesSelector(selector, &spec.Template, tp)...)
	}
	// Claim templates provide volumes to the pods, so mounts may name them.
	t := spec.Template.DeepCopy()
	for _, c := range spec.VolumeClaimTemplates {
		if c.Name == "" {
			continue
		}
		if volumeNamed(t.Spec.Volumes, c.Name) {
			continue
		}
		t.Spec.Volumes = append(t.Spec.Volumes, corev1.Volume{Name: c.Name, VolumeSource: corev1.VolumeSource{
			PersistentVolumeClaim: &corev1.PersistentVolumeClaimVolumeSource{ClaimName: c.Name}}})
	}
	allErrs = append(allErrs, validatePodTemplateSpec(t, tp)...)
	if spec.Template.Spec.RestartPolicy != corev1.RestartPolicyAlways {
		allErrs = append(allErrs, field.NotSupported(tp.Child("spec", "restartPolicy"), spec.Template.Spec.RestartPolicy, []corev1.RestartPolicy{corev1.RestartPolicyAlways}))
	}
	if spec.Template.Spec.ActiveDeadlineSeconds != nil {
		allErrs = append(allErrs, field.Forbidden(tp.Child("spec", "activeDeadlineSeconds"), "activeDeadlineSeconds in StatefulSet is not Supported"))
	}
	for i := range spec.VolumeClaimTemplates {
		c := &spec.VolumeClaimTemplates[i]
		cp := fldPath.Child("volumeClaimTemplates").Index(i)
		if c.Name == "" {
			allErrs = append(allErrs, field.Required(cp.Child("metadata", "name"), ""))
		} else {
			allErrs = append(allErrs, validateDNS1123Label(c.Name, cp.Child("metadata", "name"))...)
		}
		allErrs = append(allErrs, validateTemplateMeta(&c.ObjectMeta, cp.Child("metadata"))...)
		allErrs = append(allErrs, validatePVCSpec(&c.Spec, cp.Child("spec"))...)
	}
	return allErrs
}

func volumeNamed(vs []corev1.Volume, name string) bool {
	for _, v := range vs {
		if v.Name == name {
			return true
		}
	}
	return false
}

func validatePVCRetentionPolicyType(p appsv1.PersistentVolumeClaimRetentionPolicyType, fldPath *field.Path) field.ErrorList {
	switch p {
	case appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType:
		return nil
	default:
		return field.ErrorList{field.NotSupported(fldPath, p, []appsv1.PersistentVolumeClaimRetentionPolicyType{
			appsv1.RetainPersistentVolumeClaimRetentionPolicyType, appsv1.DeletePersistentVolumeClaimRetentionPolicyType})}
	}
}

func validateStatefulSetUpdate(ss, old *appsv1.StatefulSet) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&ss.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateStatefulSetSpec(&ss.Spec, specPath)...)
	n, o := ss.Spec.DeepCopy(), old.Spec.DeepCopy()
	for _, s := range []*appsv1.StatefulSetSpec{n, o} {
		s.Replicas, s.Ordinals, s.Template, s.UpdateStrategy = nil, nil, corev1.PodTemplateSpec{}, appsv1.StatefulSetUpdateStrategy{}
		s.RevisionHistoryLimit, s.PersistentVolumeClaimRetentionPolicy, s.MinReadySeconds = nil, nil, 0
	}
	if !apiequality.Semantic.DeepEqual(n, o) {
		allErrs = append(allErrs, field.Forbidden(specPath, "updates to statefulset spec for fields other than 'replicas', 'ordinals', 'template', 'updateStrategy', 'revisionHistoryLimit', 'persistentVolumeClaimRetentionPolicy' and 'minReadySeconds' are forbidden"))
	}
	return allErrs
}

// --- ControllerRevision ---

func validateControllerRevision(cr *appsv1.ControllerRevision) field.ErrorList {
	allErrs := validateObjectMetaCreate(&cr.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validateControllerRevisionFields(cr)...)
}

func validateControllerRevisionFields(cr *appsv1.ControllerRevision) field.ErrorList {
	var allErrs field.ErrorList
	if cr.Data.Raw == nil && cr.Data.Object == nil {
		allErrs = append(allErrs, field.Required(field.NewPath("data"), "data is mandatory"))
	}
	return append(allErrs, validateNonnegative(cr.Revision, field.NewPath("revision"))...)
}

func validateControllerRevisionUpdate(cr, old *appsv1.ControllerRevision) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&cr.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateControllerRevisionFields(cr)...)
	if string(cr.Data.Raw) != string(old.Data.Raw) || !apiequality.Semantic.DeepEqual(cr.Data.Object, old.Data.Object) {
		allErrs = append(allErrs, field.Invalid(field.NewPath("data"), cr.Data, msgFieldImmutable))
	}
	return allErrs
}
