package api

import (
	"path"
	"reflect"
	"strings"

	corev1 "k8s.io/api/core/v1"
	storagev1 "k8s.io/api/storage/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1validation "k8s.io/apimachinery/pkg/apis/meta/v1/validation"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

var (
	supportedAccessModes = sets.New(corev1.ReadWriteOnce, corev1.ReadOnlyMany, corev1.ReadWriteMany, corev1.ReadWriteOncePod)
	supportedVolumeModes = sets.New(corev1.PersistentVolumeBlock, corev1.PersistentVolumeFilesystem)
	supportedReclaim     = sets.New(corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRecycle, corev1.PersistentVolumeReclaimRetain)
)

func validateAccessModes(modes []corev1.PersistentVolumeAccessMode, requiredMsg string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if len(modes) == 0 {
		allErrs = append(allErrs, field.Required(fldPath, requiredMsg))
	}
	rwop, other := false, false
	for _, m := range modes {
		if !supportedAccessModes.Has(m) {
			allErrs = append(allErrs, field.NotSupported(fldPath, m, sets.List(supportedAccessModes)))
		}
		if m == corev1.ReadWriteOncePod {
			rwop = true
		} else {
			other = true
		}
	}
	if rwop && other {
		allErrs = append(allErrs, field.Forbidden(fldPath, "may not use ReadWriteOncePod with other access modes"))
	}
	return allErrs
}

// validatePVCSpec checks a claim spec (claims, claim templates and
// ephemeral volumes).
func validatePVCSpec(spec *corev1.PersistentVolumeClaimSpec, fldPath *field.Path) field.ErrorList {
	allErrs := validateAccessModes(spec.AccessModes, "at least 1 access mode is required", fldPath.Child("accessModes"))
	allErrs = append(allErrs, metav1validation.ValidateLabelSelector(spec.Selector, strictSelectorOpts, fldPath.Child("selector"))...)
	storagePath := fldPath.Child("resources").Key(string(corev1.ResourceStorage))
	if q, ok := spec.Resources.Requests[corev1.ResourceStorage]; !ok {
		allErrs = append(allErrs, field.Required(storagePath, ""))
	} else if errs := validatePositiveQuantity(q, storagePath); len(errs) > 0 {
		allErrs = append(allErrs, errs...)
	}
	for _, name := range sortedResourceNames(spec.Resources.Requests) {
		allErrs = append(allErrs, validateResourceName(string(name), fldPath.Child("resources", "requests").Key(string(name)))...)
	}
	if spec.StorageClassName != nil && *spec.StorageClassName != "" {
		allErrs = append(allErrs, validateNameRef(*spec.StorageClassName, nameIsDNSSubdomain, fldPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !supportedVolumeModes.Has(*spec.VolumeMode) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("volumeMode"), *spec.VolumeMode, sets.List(supportedVolumeModes)))
	}
	if ds := spec.DataSource; ds != nil {
		if ds.Name == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("dataSource", "name"), ""))
		}
		if ds.Kind == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("dataSource", "kind"), ""))
		}
	}
	return allErrs
}

func validatePVC(pvc *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMetaCreate(&pvc.ObjectMeta, true, nameIsDNSSubdomain)
	return append(allErrs, validatePVCSpec(&pvc.Spec, specPath)...)
}

func validatePVCUpdate(pvc, old *corev1.PersistentVolumeClaim) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pvc.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validatePVCSpec(&pvc.Spec, specPath)...)
	// Everything but requests (resize) and the volume attributes class is
	// immutable; volumeName may be set once by the binder.
	newSpec := pvc.Spec.DeepCopy()
	oldSpec := old.Spec.DeepCopy()
	newSpec.Resources.Requests = nil
	oldSpec.Resources.Requests = nil
	newSpec.VolumeAttributesClassName = oldSpec.VolumeAttributesClassName
	if oldSpec.VolumeName == "" {
		newSpec.VolumeName = ""
	}
	if !apiequality.Semantic.DeepEqual(newSpec, oldSpec) {
		allErrs = append(allErrs, field.Forbidden(specPath, "spec is immutable after creation except resources.requests and volumeAttributesClassName for bound claims"))
	}
	newQ, okN := pvc.Spec.Resources.Requests[corev1.ResourceStorage]
	oldQ, okO := old.Spec.Resources.Requests[corev1.ResourceStorage]
	if okN && okO && newQ.Cmp(oldQ) < 0 {
		capQ, hasCap := old.Status.Capacity[corev1.ResourceStorage]
		if !hasCap || newQ.Cmp(capQ) <= 0 {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("resources", "requests", "storage"), "field can not be less than status.capacity"))
		}
	}
	return allErrs
}

// persistentVolumeSourceFields lists the volume types set on a PV spec.
func persistentVolumeSourceFields(s *corev1.PersistentVolumeSource) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(s.HostPath != nil, "hostPath")
	add(s.GCEPersistentDisk != nil, "gcePersistentDisk")
	add(s.AWSElasticBlockStore != nil, "awsElasticBlockStore")
	add(s.Glusterfs != nil, "glusterfs")
	add(s.NFS != nil, "nfs")
	add(s.RBD != nil, "rbd")
	add(s.Quobyte != nil, "quobyte")
	add(s.CephFS != nil, "cephfs")
	add(s.ISCSI != nil, "iscsi")
	add(s.Cinder != nil, "cinder")
	add(s.FC != nil, "fc")
	add(s.FlexVolume != nil, "flexVolume")
	add(s.AzureFile != nil, "azureFile")
	add(s.VsphereVolume != nil, "vsphereVolume")
	add(s.PhotonPersistentDisk != nil, "photonPersistentDisk")
	add(s.PortworxVolume != nil, "portworxVolume")
	add(s.AzureDisk != nil, "azureDisk")
	add(s.ScaleIO != nil, "scaleIO")
	add(s.Local != nil, "local")
	add(s.StorageOS != nil, "storageos")
	add(s.CSI != nil, "csi")
	return out
}

func validatePV(pv *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMetaCreate(&pv.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validatePVSpec(&pv.Spec)...)
}

func validatePVSpec(spec *corev1.PersistentVolumeSpec) field.ErrorList {
	allErrs := validateAccessModes(spec.AccessModes, "", specPath.Child("accessModes"))
	capPath := specPath.Child("capacity")
	if len(spec.Capacity) == 0 {
		allErrs = append(allErrs, field.Required(capPath, ""))
	}
	if _, ok := spec.Capacity[corev1.ResourceStorage]; !ok || len(spec.Capacity) > 1 {
		allErrs = append(allErrs, field.NotSupported(capPath, spec.Capacity, []corev1.ResourceName{corev1.ResourceStorage}))
	}
	for _, name := range sortedResourceNames(spec.Capacity) {
		allErrs = append(allErrs, validatePositiveQuantity(spec.Capacity[name], capPath.Key(string(name)))...)
	}
	if spec.PersistentVolumeReclaimPolicy != "" && !supportedReclaim.Has(spec.PersistentVolumeReclaimPolicy) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("persistentVolumeReclaimPolicy"), spec.PersistentVolumeReclaimPolicy, sets.List(supportedReclaim)))
	}
	srcs := persistentVolumeSourceFields(&spec.PersistentVolumeSource)
	if len(srcs) == 0 {
		allErrs = append(allErrs, field.Required(specPath, "must specify a volume type"))
	}
	for _, name := range srcs {
		if name != srcs[0] {
			allErrs = append(allErrs, field.Forbidden(specPath.Child(name), "may not specify more than 1 volume type"))
		}
	}
	if hp := spec.HostPath; hp != nil && len(srcs) == 1 {
		allErrs = append(allErrs, validateHostPathSource(hp, specPath.Child("hostPath"))...)
		if path.Clean(hp.Path) == "/" && spec.PersistentVolumeReclaimPolicy == corev1.PersistentVolumeReclaimRecycle {
			allErrs = append(allErrs, field.Forbidden(specPath.Child("persistentVolumeReclaimPolicy"), "may not be 'recycle' for a hostPath mount of '/'"))
		}
	}
	if l := spec.Local; l != nil && len(srcs) == 1 {
		if l.Path == "" {
			allErrs = append(allErrs, field.Required(specPath.Child("local", "path"), ""))
		} else {
			allErrs = append(allErrs, validatePathNoBacksteps(l.Path, specPath.Child("local", "path"))...)
		}
		if spec.NodeAffinity == nil {
			allErrs = append(allErrs, field.Required(specPath.Child("nodeAffinity"), "Local volume requires node affinity"))
		}
	}
	if c := spec.CSI; c != nil && c.Driver == "" {
		allErrs = append(allErrs, field.Required(specPath.Child("csi", "driver"), ""))
	}
	if na := spec.NodeAffinity; na != nil && na.Required != nil {
		rp := specPath.Child("nodeAffinity", "required")
		if len(na.Required.NodeSelectorTerms) == 0 {
			allErrs = append(allErrs, field.Required(rp.Child("nodeSelectorTerms"), "must have at least one node selector term"))
		}
		for i := range na.Required.NodeSelectorTerms {
			allErrs = append(allErrs, validateNodeSelectorTerm(&na.Required.NodeSelectorTerms[i], rp.Child("nodeSelectorTerms").Index(i))...)
		}
	}
	if spec.StorageClassName != "" {
		allErrs = append(allErrs, validateNameRef(spec.StorageClassName, nameIsDNSSubdomain, specPath.Child("storageClassName"))...)
	}
	if spec.VolumeMode != nil && !supportedVolumeModes.Has(*spec.VolumeMode) {
		allErrs = append(allErrs, field.NotSupported(specPath.Child("volumeMode"), *spec.VolumeMode, sets.List(supportedVolumeModes)))
	}
	return allErrs
}

func validatePVUpdate(pv, old *corev1.PersistentVolume) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&pv.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validatePVSpec(&pv.Spec)...)
	if !apiequality.Semantic.DeepEqual(pv.Spec.PersistentVolumeSource, old.Spec.PersistentVolumeSource) {
		allErrs = append(allErrs, field.Forbidden(specPath.Child("persistentvolumesource"), "spec.persistentvolumesource is immutable after creation"))
	}
	allErrs = append(allErrs, validateImmutable(pv.Spec.VolumeMode, old.Spec.VolumeMode, specPath.Child("volumeMode"))...)
	if old.Spec.NodeAffinity != nil {
		allErrs = append(allErrs, validateImmutable(pv.Spec.NodeAffinity, old.Spec.NodeAffinity, specPath.Child("nodeAffinity"))...)
	}
	return allErrs
}

// --- StorageClass ---

func validateStorageClass(sc *storagev1.StorageClass) field.ErrorList {
	allErrs := validateObjectMetaCreate(&sc.ObjectMeta, false, nameIsDNSSubdomain)
	return append(allErrs, validateStorageClassFields(sc)...)
}

func validateStorageClassFields(sc *storagev1.StorageClass) field.ErrorList {
	var allErrs field.ErrorList
	pp := field.NewPath("provisioner")
	if sc.Provisioner == "" {
		allErrs = append(allErrs, field.Required(pp, ""))
	} else {
		allErrs = append(allErrs, validateQualifiedName(strings.ToLower(sc.Provisioner), pp)...)
	}
	parPath := field.NewPath("parameters")
	if len(sc.Parameters) > 512 {
		allErrs = append(allErrs, field.TooMany(parPath, len(sc.Parameters), 512))
	} else {
		total := 0
		for k, v := range sc.Parameters {
			if k == "" {
				allErrs = append(allErrs, field.Invalid(parPath, k, "field can not be empty."))
			}
			total += len(k) + len(v)
		}
		if total > 256*1024 {
			allErrs = append(allErrs, field.TooLong(parPath, "", 256*1024))
		}
	}
	if sc.ReclaimPolicy != nil && *sc.ReclaimPolicy != "" &&
		*sc.ReclaimPolicy != corev1.PersistentVolumeReclaimDelete && *sc.ReclaimPolicy != corev1.PersistentVolumeReclaimRetain {
		allErrs = append(allErrs, field.NotSupported(field.NewPath("reclaimPolicy"), *sc.ReclaimPolicy,
			[]corev1.PersistentVolumeReclaimPolicy{corev1.PersistentVolumeReclaimDelete, corev1.PersistentVolumeReclaimRetain}))
	}
	bm := field.NewPath("volumeBindingMode")
	if sc.VolumeBindingMode == nil {
		allErrs = append(allErrs, field.Required(bm, ""))
	} else if *sc.VolumeBindingMode != storagev1.VolumeBindingImmediate && *sc.VolumeBindingMode != storagev1.VolumeBindingWaitForFirstConsumer {
		allErrs = append(allErrs, field.NotSupported(bm, *sc.VolumeBindingMode,
			[]storagev1.VolumeBindingMode{storagev1.VolumeBindingImmediate, storagev1.VolumeBindingWaitForFirstConsumer}))
	}
	for i, t := range sc.AllowedTopologies {
		tp := field.NewPath("allowedTopologies").Index(i)
		if len(t.MatchLabelExpressions) == 0 {
			allErrs = append(allErrs, field.Required(tp.Child("matchLabelExpressions"), "must contain at least one requirement"))
		}
		for j, e := range t.MatchLabelExpressions {
			ep := tp.Child("matchLabelExpressions").Index(j)
			allErrs = append(allErrs, metav1validation.ValidateLabelName(e.Key, ep.Child("key"))...)
			if len(e.Values) == 0 {
				allErrs = append(allErrs, field.Required(ep.Child("values"), "must contain at least one value"))
			}
		}
	}
	return allErrs
}

func validateStorageClassUpdate(sc, old *storagev1.StorageClass) field.ErrorList {
	allErrs := validateObjectMetaUpdate(&sc.ObjectMeta, &old.ObjectMeta)
	allErrs = append(allErrs, validateStorageClassFields(sc)...)
	if !reflect.DeepEqual(sc.Parameters, old.Parameters) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("parameters"), "updates to parameters are forbidden."))
	}
	if sc.Provisioner != old.Provisioner {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("provisioner"), "updates to provisioner are forbidden."))
	}
	if !apiequality.Semantic.DeepEqual(sc.ReclaimPolicy, old.ReclaimPolicy) {
		allErrs = append(allErrs, field.Forbidden(field.NewPath("reclaimPolicy"), "updates to reclaimPolicy are forbidden."))
	}
	allErrs = append(allErrs, validateImmutable(sc.VolumeBindingMode, old.VolumeBindingMode, field.NewPath("volumeBindingMode"))...)
	return allErrs
}
