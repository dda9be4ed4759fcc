package api

import (
	"path"
	"path/filepath"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/sets"
	"k8s.io/apimachinery/pkg/util/validation/field"
)

const msgFileMode = "must be a number between 0 and 0777 (octal), both inclusive"

// volumeSourceFields lists the volume types set in src, by JSON name, in
// the order Kubernetes checks them.
func volumeSourceFields(src *corev1.VolumeSource) []string {
	var out []string
	add := func(set bool, name string) {
		if set {
			out = append(out, name)
		}
	}
	add(src.EmptyDir != nil, "emptyDir")
	add(src.HostPath != nil, "hostPath")
	add(src.GitRepo != nil, "gitRepo")
	add(src.GCEPersistentDisk != nil, "gcePersistentDisk")
	add(src.AWSElasticBlockStore != nil, "awsElasticBlockStore")
	add(src.Secret != nil, "secret")
	add(src.NFS != nil, "nfs")
	add(src.ISCSI != nil, "iscsi")
	add(src.Glusterfs != nil, "glusterfs")
	add(src.FlexVolume != nil, "flexVolume")
	add(src.PersistentVolumeClaim != nil, "persistentVolumeClaim")
	add(src.RBD != nil, "rbd")
	add(src.Cinder != nil, "cinder")
	add(src.CephFS != nil, "cephfs")
	add(src.Quobyte != nil, "quobyte")
	add(src.DownwardAPI != nil, "downwardAPI")
	add(src.FC != nil, "fc")
	add(src.ConfigMap != nil, "configMap")
	add(src.AzureFile != nil, "azureFile")
	add(src.VsphereVolume != nil, "vsphereVolume")
	add(src.PhotonPersistentDisk != nil, "photonPersistentDisk")
	add(src.PortworxVolume != nil, "portworxVolume")
	add(src.AzureDisk != nil, "azureDisk")
	add(src.StorageOS != nil, "storageos")
	add(src.Projected != nil, "projected")
	add(src.ScaleIO != nil, "scaleIO")
	add(src.CSI != nil, "csi")
	add(src.Ephemeral != nil, "ephemeral")
	add(src.Image != nil, "image")
	return out
}

func volumeSourceCount(src *corev1.VolumeSource) int { return len(volumeSourceFields(src)) }

// validateVolumes checks pod volumes and returns the set of volume names
// (for volumeMounts) together with the errors.
func validateVolumes(volumes []corev1.Volume, opts podValidationOptions, fldPath *field.Path) (map[string]corev1.VolumeSource, field.ErrorList) {
	var allErrs field.ErrorList
	names := map[string]corev1.VolumeSource{}
	for i := range volumes {
		vol := &volumes[i]
		idxPath := fldPath.Index(i)
		namePath := idxPath.Child("name")
		el := validateVolumeSource(&vol.VolumeSource, opts, idxPath)
		if vol.Name == "" {
			el = append(el, field.Required(namePath, ""))
		} else {
			el = append(el, validateDNS1123Label(vol.Name, namePath)...)
		}
		if _, dup := names[vol.Name]; dup {
			el = append(el, field.Duplicate(namePath, vol.Name))
		}
		if len(el) == 0 {
			names[vol.Name] = vol.VolumeSource
		} else {
			// Keep the name known so mounts do not report a second error.
			if _, dup := names[vol.Name]; !dup {
				names[vol.Name] = vol.VolumeSource
			}
			allErrs = append(allErrs, el...)
		}
	}
	return names, allErrs
}

func validateVolumeSource(src *corev1.VolumeSource, opts podValidationOptions, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	set := volumeSourceFields(src)
	if len(set) == 0 {
		return field.ErrorList{field.Required(fldPath, "must specify a volume type")}
	}
	for _, name := range set[1:] {
		allErrs = append(allErrs, field.Forbidden(fldPath.Child(name), "may not specify more than 1 volume type"))
	}
	if len(set) > 1 {
		return allErrs
	}
	switch {
	case src.EmptyDir != nil:
		if sl := src.EmptyDir.SizeLimit; sl != nil && sl.Sign() < 0 {
			allErrs = append(allErrs, field.Forbidden(fldPath.Child("emptyDir", "sizeLimit"), "SizeLimit field must be a valid resource quantity"))
		}
	case src.HostPath != nil:
		allErrs = append(allErrs, validateHostPathSource(src.HostPath, fldPath.Child("hostPath"))...)
	case src.Secret != nil:
		p := fldPath.Child("secret")
		if src.Secret.SecretName == "" {
			allErrs = append(allErrs, field.Required(p.Child("secretName"), ""))
		}
		allErrs = append(allErrs, validateFileMode(src.Secret.DefaultMode, p.Child("defaultMode"))...)
		for i := range src.Secret.Items {
			allErrs = append(allErrs, validateKeyToPath(&src.Secret.Items[i], p.Child("items").Index(i))...)
		}
	case src.ConfigMap != nil:
		p := fldPath.Child("configMap")
		if src.ConfigMap.Name == "" {
			allErrs = append(allErrs, field.Required(p.Child("name"), ""))
		}
		allErrs = append(allErrs, validateFileMode(src.ConfigMap.DefaultMode, p.Child("defaultMode"))...)
		for i := range src.ConfigMap.Items {
			allErrs = append(allErrs, validateKeyToPath(&src.ConfigMap.Items[i], p.Child("items").Index(i))...)
		}
	case src.PersistentVolumeClaim != nil:
		if src.PersistentVolumeClaim.ClaimName == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("persistentVolumeClaim", "claimName"), ""))
		}
	case src.DownwardAPI != nil:
		p := fldPath.Child("downwardAPI")
		allErrs = append(allErrs, validateFileMode(src.DownwardAPI.DefaultMode, p.Child("defaultMode"))...)
		for i := range src.DownwardAPI.Items {
			allErrs = append(allErrs, validateDownwardAPIFile(&src.DownwardAPI.Items[i], p.Child("items").Index(i))...)
		}
	case src.Projected != nil:
		allErrs = append(allErrs, validateProjectedSource(src.Projected, fldPath.Child("projected"))...)
	case src.NFS != nil:
		p := fldPath.Child("nfs")
		if src.NFS.Server == "" {
			allErrs = append(allErrs, field.Required(p.Child("server"), ""))
		}
		if src.NFS.Path == "" {
			allErrs = append(allErrs, field.Required(p.Child("path"), ""))
		} else if !path.IsAbs(src.NFS.Path) {
			allErrs = append(allErrs, field.Invalid(p.Child("path"), src.NFS.Path, "must be an absolute path"))
		}
	case src.CSI != nil:
		if src.CSI.Driver == "" {
			allErrs = append(allErrs, field.Required(fldPath.Child("csi", "driver"), ""))
		}
	case src.Ephemeral != nil:
		p := fldPath.Child("ephemeral")
		if src.Ephemeral.VolumeClaimTemplate == nil {
			allErrs = append(allErrs, field.Required(p.Child("volumeClaimTemplate"), ""))
		} else {
			tp := p.Child("volumeClaimTemplate")
			allErrs = append(allErrs, validateTemplateMeta(&src.Ephemeral.VolumeClaimTemplate.ObjectMeta, tp.Child("metadata"))...)
			allErrs = append(allErrs, validatePVCSpec(&src.Ephemeral.VolumeClaimTemplate.Spec, tp.Child("spec"))...)
		}
	case src.Image != nil:
		p := fldPath.Child("image")
		if opts.isPod && src.Image.Reference == "" {
			allErrs = append(allErrs, field.Required(p.Child("reference"), ""))
		}
		allErrs = append(allErrs, validatePullPolicy(src.Image.PullPolicy, p.Child("pullPolicy"))...)
	}
	return allErrs
}

var supportedHostPathTypes = sets.New(
	corev1.HostPathUnset, corev1.HostPathDirectoryOrCreate, corev1.HostPathDirectory,
	corev1.HostPathFileOrCreate, corev1.HostPathFile, corev1.HostPathSocket,
	corev1.HostPathCharDev, corev1.HostPathBlockDev)

func validateHostPathSource(hp *corev1.HostPathVolumeSource, fldPath *field.Path) field.ErrorList {
	if hp.Path == "" {
		return field.ErrorList{field.Required(fldPath.Child("path"), "")}
	}
	allErrs := validatePathNoBacksteps(hp.Path, fldPath.Child("path"))
	if hp.Type != nil && !supportedHostPathTypes.Has(*hp.Type) {
		allErrs = append(allErrs, field.NotSupported(fldPath.Child("type"), *hp.Type, sets.List(supportedHostPathTypes)))
	}
	return allErrs
}

func validateFileMode(mode *int32, fldPath *field.Path) field.ErrorList {
	if mode != nil && (*mode > 0777 || *mode < 0) {
		return field.ErrorList{field.Invalid(fldPath, *mode, msgFileMode)}
	}
	return nil
}

func validateKeyToPath(kp *corev1.KeyToPath, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if kp.Key == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("key"), ""))
	}
	if kp.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(kp.Path, fldPath.Child("path"))...)
	allErrs = append(allErrs, validateFileMode(kp.Mode, fldPath.Child("mode"))...)
	return allErrs
}

func validatePathNoBacksteps(targetPath string, fldPath *field.Path) field.ErrorList {
	for _, item := range strings.Split(filepath.ToSlash(targetPath), "/") {
		if item == ".." {
			return field.ErrorList{field.Invalid(fldPath, targetPath, "must not contain '..'")}
		}
	}
	return nil
}

func validateLocalDescendingPath(targetPath string, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if path.IsAbs(targetPath) {
		allErrs = append(allErrs, field.Invalid(fldPath, targetPath, "must be a relative path"))
	}
	return append(allErrs, validatePathNoBacksteps(targetPath, fldPath)...)
}

func validateLocalNonReservedPath(targetPath string, fldPath *field.Path) field.ErrorList {
	allErrs := validateLocalDescendingPath(targetPath, fldPath)
	if strings.HasPrefix(targetPath, "..") && !strings.HasPrefix(targetPath, "../") {
		allErrs = append(allErrs, field.Invalid(fldPath, targetPath, "must not start with '..'"))
	}
	return allErrs
}

var downwardAPIVolumeFieldPaths = sets.New("metadata.annotations", "metadata.labels", "metadata.name", "metadata.namespace", "metadata.uid")

func validateDownwardAPIFile(f *corev1.DownwardAPIVolumeFile, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	if f.Path == "" {
		allErrs = append(allErrs, field.Required(fldPath.Child("path"), ""))
	}
	allErrs = append(allErrs, validateLocalNonReservedPath(f.Path, fldPath.Child("path"))...)
	switch {
	case f.FieldRef != nil:
		allErrs = append(allErrs, validateObjectFieldSelector(f.FieldRef, downwardAPIVolumeFieldPaths, fldPath.Child("fieldRef"))...)
		if f.ResourceFieldRef != nil {
			allErrs = append(allErrs, field.Invalid(fldPath, "resource", "fieldRef and resourceFieldRef can not be specified simultaneously"))
		}
	case f.ResourceFieldRef != nil:
		allErrs = append(allErrs, validateResourceFieldSelector(f.ResourceFieldRef, true, fldPath.Child("resourceFieldRef"))...)
	default:
		allErrs = append(allErrs, field.Required(fldPath, "one of fieldRef and resourceFieldRef is required"))
	}
	allErrs = append(allErrs, validateFileMode(f.Mode, fldPath.Child("mode"))...)
	return allErrs
}

func validateProjectedSource(p *corev1.ProjectedVolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	allErrs = append(allErrs, validateFileMode(p.DefaultMode, fldPath.Child("defaultMode"))...)
	paths := sets.New[string]()
	addPath := func(pth string, fp *field.Path) {
		if pth == "" {
			return
		}
		if paths.Has(pth) {
			allErrs = append(allErrs, field.Invalid(fp, pth, "conflicting duplicate paths"))
		}
		paths.Insert(pth)
	}
	for i := range p.Sources {
		s := &p.Sources[i]
		srcPath := fldPath.Child("sources").Index(i)
		n := 0
		if s.Secret != nil {
			n++
			pp := srcPath.Child("secret")
			if s.Secret.Name == "" {
				allErrs = append(allErrs, field.Required(pp.Child("name"), ""))
			}
			for j := range s.Secret.Items {
				ip := pp.Child("items").Index(j)
				allErrs = append(allErrs, validateKeyToPath(&s.Secret.Items[j], ip)...)
				addPath(s.Secret.Items[j].Path, ip.Child("path"))
			}
		}
		if s.ConfigMap != nil {
			n++
			pp := srcPath.Child("configMap")
			if s.ConfigMap.Name == "" {
				allErrs = append(allErrs, field.Required(pp.Child("name"), ""))
			}
			for j := range s.ConfigMap.Items {
				ip := pp.Child("items").Index(j)
				allErrs = append(allErrs, validateKeyToPath(&s.ConfigMap.Items[j], ip)...)
				addPath(s.ConfigMap.Items[j].Path, ip.Child("path"))
			}
		}
		if s.DownwardAPI != nil {
			n++
			pp := srcPath.Child("downwardAPI")
			for j := range s.DownwardAPI.Items {
				ip := pp.Child("items").Index(j)
				allErrs = append(allErrs, validateDownwardAPIFile(&s.DownwardAPI.Items[j], ip)...)
				addPath(s.DownwardAPI.Items[j].Path, ip.Child("path"))
			}
		}
		if s.ServiceAccountToken != nil {
			n++
			pp := srcPath.Child("serviceAccountToken")
			if e := s.ServiceAccountToken.ExpirationSeconds; e != nil {
				if *e < 10*60 {
					allErrs = append(allErrs, field.Invalid(pp.Child("expirationSeconds"), *e, "may not specify a duration less than 10 minutes"))
				} else if *e > 1<<32 {
					allErrs = append(allErrs, field.Invalid(pp.Child("expirationSeconds"), *e, "may not specify a duration larger than 2^32 seconds"))
				}
			}
			if s.ServiceAccountToken.Path == "" {
				allErrs = append(allErrs, field.Required(pp.Child("path"), ""))
			} else {
				allErrs = append(allErrs, validateLocalNonReservedPath(s.ServiceAccountToken.Path, pp.Child("path"))...)
			}
			addPath(s.ServiceAccountToken.Path, pp.Child("path"))
		}
		if s.ClusterTrustBundle != nil {
			n++
			pp := srcPath.Child("clusterTrustBundle")
			if s.ClusterTrustBundle.Path == "" {
				allErrs = append(allErrs, field.Required(pp.Child("path"), ""))
			}
			addPath(s.ClusterTrustBundle.Path, pp.Child("path"))
		}
		if s.PodCertificate != nil {
			n++
		}
		if n > 1 {
			allErrs = append(allErrs, field.Forbidden(srcPath, "may not specify more than 1 volume type per source"))
		}
	}
	return allErrs
}

// validateVolumeMounts checks a container's mounts against the pod's volumes.
func validateVolumeMounts(mounts []corev1.VolumeMount, devices []corev1.VolumeDevice, volumes map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	mountPoints := sets.New[string]()
	deviceNames := sets.New[string]()
	for _, d := range devices {
		deviceNames.Insert(d.Name)
	}
	for i, m := range mounts {
		idxPath := fldPath.Index(i)
		if m.Name == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		} else if _, ok := volumes[m.Name]; !ok {
			allErrs = append(allErrs, field.NotFound(idxPath.Child("name"), m.Name))
		}
		if m.MountPath == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("mountPath"), ""))
		}
		if mountPoints.Has(m.MountPath) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("mountPath"), m.MountPath, "must be unique"))
		}
		mountPoints.Insert(m.MountPath)
		if deviceNames.Has(m.Name) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), m.Name, "must not already exist in volumeDevices"))
		}
		if m.SubPath != "" {
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPath, idxPath.Child("subPath"))...)
		}
		if m.SubPathExpr != "" {
			if m.SubPath != "" {
				allErrs = append(allErrs, field.Invalid(idxPath.Child("subPathExpr"), m.SubPathExpr, "subPathExpr and subPath are mutually exclusive"))
			}
			allErrs = append(allErrs, validateLocalDescendingPath(m.SubPathExpr, idxPath.Child("subPathExpr"))...)
		}
		if m.MountPropagation != nil {
			switch *m.MountPropagation {
			case corev1.MountPropagationNone, corev1.MountPropagationHostToContainer, corev1.MountPropagationBidirectional:
			default:
				allErrs = append(allErrs, field.NotSupported(idxPath.Child("mountPropagation"), *m.MountPropagation,
					[]corev1.MountPropagationMode{corev1.MountPropagationBidirectional, corev1.MountPropagationHostToContainer, corev1.MountPropagationNone}))
			}
		}
		if m.RecursiveReadOnly != nil {
			switch *m.RecursiveReadOnly {
			case corev1.RecursiveReadOnlyDisabled:
			case corev1.RecursiveReadOnlyIfPossible, corev1.RecursiveReadOnlyEnabled:
				if !m.ReadOnly {
					allErrs = append(allErrs, field.Forbidden(idxPath.Child("recursiveReadOnly"), "may only be specified when readOnly is true"))
				}
			default:
				allErrs = append(allErrs, field.NotSupported(idxPath.Child("recursiveReadOnly"), *m.RecursiveReadOnly,
					[]corev1.RecursiveReadOnlyMode{corev1.RecursiveReadOnlyDisabled, corev1.RecursiveReadOnlyEnabled, corev1.RecursiveReadOnlyIfPossible}))
			}
		}
	}
	return allErrs
}

func validateVolumeDevices(devices []corev1.VolumeDevice, volumes map[string]corev1.VolumeSource, fldPath *field.Path) field.ErrorList {
	var allErrs field.ErrorList
	paths := sets.New[string]()
	names := sets.New[string]()
	for i, d := range devices {
		idxPath := fldPath.Index(i)
		if d.Name == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("name"), ""))
		}
		if names.Has(d.Name) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), d.Name, "must be unique"))
		}
		names.Insert(d.Name)
		if src, ok := volumes[d.Name]; !ok {
			if d.Name != "" {
				allErrs = append(allErrs, field.NotFound(idxPath.Child("name"), d.Name))
			}
		} else if src.PersistentVolumeClaim == nil && src.Ephemeral == nil {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("name"), d.Name, "can only use volume source type of PersistentVolumeClaim or Ephemeral for block mode"))
		}
		if d.DevicePath == "" {
			allErrs = append(allErrs, field.Required(idxPath.Child("devicePath"), ""))
		}
		if paths.Has(d.DevicePath) {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("devicePath"), d.DevicePath, "must be unique"))
		}
		paths.Insert(d.DevicePath)
		if d.DevicePath != "" && validatePathNoBacksteps(d.DevicePath, nil) != nil {
			allErrs = append(allErrs, field.Invalid(idxPath.Child("devicePath"), d.DevicePath, "can not contain backsteps ('..')"))
		}
	}
	return allErrs
}
