package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/container"
)

func numCPU() int { return runtime.NumCPU() }

// memoryVolumeSize is the size of a memory emptyDir's tmpfs, as the
// kubelet computes it: the pod's memory limit when every container has
// one (the sum of the app containers' limits, or the largest init
// container's if that is more), or the volume's sizeLimit if that is
// smaller; 0 (the kernel's default, half of memory) when neither is set.
func memoryVolumeSize(pod *corev1.Pod, ed *corev1.EmptyDirVolumeSource) int64 {
	var size int64
	limited := len(pod.Spec.Containers) > 0
	var sum int64
	for _, c := range pod.Spec.Containers {
		q, ok := c.Resources.Limits[corev1.ResourceMemory]
		if !ok {
			limited = false
			break
		}
		sum += q.Value()
	}
	if limited {
		size = sum
		for _, c := range pod.Spec.InitContainers {
			if q, ok := c.Resources.Limits[corev1.ResourceMemory]; ok && q.Value() > size {
				size = q.Value()
			}
		}
	}
	if ed.SizeLimit != nil {
		if v := ed.SizeLimit.Value(); v > 0 && (size == 0 || v < size) {
			size = v
		}
	}
	return size
}

// volumeMounts maps each of a pod's volume names to what mounts it.
type volumeMounts map[string]container.Mount

// forContainer returns the mounts of c's volumeMounts (subPath and
// subPathExpr resolved).
func (vm volumeMounts) forContainer(c *corev1.Container, vars map[string]string) ([]container.Mount, error) {
	var out []container.Mount
	for _, m := range c.VolumeMounts {
		src, ok := vm[m.Name]
		if !ok {
			return nil, fmt.Errorf("volume %q of volumeMount %q is not defined in the pod", m.Name, m.MountPath)
		}
		mnt := src
		mnt.Target = m.MountPath
		mnt.ReadOnly = src.ReadOnly || m.ReadOnly
		if m.MountPropagation != nil {
			switch *m.MountPropagation {
			case corev1.MountPropagationHostToContainer:
				mnt.Propagation = container.PropagationHostToContainer
			case corev1.MountPropagationBidirectional:
				mnt.Propagation = container.PropagationBidirectional
			}
		}
		sub := m.SubPath
		if m.SubPathExpr != "" {
			sub = expand(m.SubPathExpr, vars)
		}
		if sub != "" {
			if mnt.Type != container.MountBind {
				return nil, fmt.Errorf("subPath %q of volume %q: subPath is not supported on memory-backed emptyDir volumes", sub, m.Name)
			}
			clean := path.Clean("/" + sub)
			if clean != "/"+strings.TrimPrefix(sub, "/") && !strings.HasPrefix(sub, "/") || strings.Contains(sub, "..") {
				return nil, fmt.Errorf("subPath %q of volume %q must be a relative path without '..'", sub, m.Name)
			}
			full := filepath.Join(src.Source, clean)
			if _, err := os.Stat(full); errors.Is(err, fs.ErrNotExist) {
				if err := os.MkdirAll(full, 0o777); err != nil {
					return nil, fmt.Errorf("subPath %q of volume %q: %w", sub, m.Name, err)
				}
			}
			mnt.Source = full
		}
		out = append(out, mnt)
	}
	return out, nil
}

// setupVolumes prepares every volume of the pod on the node and returns
// how to mount each. ConfigMap, Secret, downward API and projected volumes
// are rewritten when their content changed (a service account token when
// it is due for refresh), with an atomic swap, so running containers see
// the new files.
func (a *Agent) setupVolumes(ctx context.Context, pod *corev1.Pod) (volumeMounts, error) {
	out := volumeMounts{}
	for _, v := range pod.Spec.Volumes {
		dir := filepath.Join(a.podDir(pod.UID), "volumes", v.Name)
		var m container.Mount
		var err error
		switch {
		case v.EmptyDir != nil:
			if v.EmptyDir.Medium == corev1.StorageMediumMemory {
				// One tmpfs on the node that every container of the pod
				// shares (tmpfs.go).
				err = mountTmpfs(dir, memoryVolumeSize(pod, v.EmptyDir))
			} else {
				err = os.MkdirAll(dir, 0o777)
			}
			if err == nil {
				// Any user of the pod may write it, as in Kubernetes.
				err = os.Chmod(dir, 0o777)
			}
			m = container.Mount{Type: container.MountBind, Source: dir}
		case v.HostPath != nil:
			err = checkHostPath(v.HostPath)
			m = container.Mount{Type: container.MountBind, Source: v.HostPath.Path}
		case v.ConfigMap != nil, v.Secret != nil, v.DownwardAPI != nil, v.Projected != nil:
			var files map[string]fileContent
			files, err = a.volumeFiles(ctx, pod, v)
			if err == nil && (v.Secret != nil || v.Projected != nil) {
				err = mountTmpfs(dir, 0) // secrets and tokens stay off the disk
			}
			if err == nil {
				err = writeAtomic(dir, files)
			}
			m = container.Mount{Type: container.MountBind, Source: dir, ReadOnly: true}
		case v.PersistentVolumeClaim != nil:
			err = fmt.Errorf("volume %q: persistentVolumeClaim volumes are not supported by this node yet", v.Name)
		default:
			err = fmt.Errorf("volume %q: this volume type is not supported by this node", v.Name)
		}
		if err != nil {
			return nil, fmt.Errorf("MountVolume.SetUp failed for volume %q : %w", v.Name, err)
		}
		out[v.Name] = m
	}
	return out, nil
}

// checkHostPath checks (and for *OrCreate makes) a hostPath of its type.
func checkHostPath(hp *corev1.HostPathVolumeSource) error {
	typ := corev1.HostPathUnset
	if hp.Type != nil {
		typ = *hp.Type
	}
	st, err := os.Stat(hp.Path)
	switch typ {
	case corev1.HostPathUnset:
		return nil
	case corev1.HostPathDirectoryOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			return os.MkdirAll(hp.Path, 0o755)
		}
		if err == nil && !st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a directory", hp.Path)
		}
		return err
	case corev1.HostPathFileOrCreate:
		if errors.Is(err, fs.ErrNotExist) {
			if err := os.MkdirAll(filepath.Dir(hp.Path), 0o755); err != nil {
				return err
			}
			f, err := os.OpenFile(hp.Path, os.O_CREATE|os.O_WRONLY, 0o644)
			if err != nil {
				return err
			}
			return f.Close()
		}
		if err == nil && st.IsDir() {
			return fmt.Errorf("hostPath type check failed: %s is not a file", hp.Path)
		}
		return err
	}
	if err != nil {
		return fmt.Errorf("hostPath type check failed: %s does not exist", hp.Path)
	}
	mode := st.Mode()
	ok := map[corev1.HostPathType]bool{
		corev1.HostPathDirectory: mode.IsDir(),
		corev1.HostPathFile:      mode.IsRegular(),
		corev1.HostPathSocket:    mode&fs.ModeSocket != 0,
		corev1.HostPathCharDev:   mode&fs.ModeCharDevice != 0,
		corev1.HostPathBlockDev:  mode&fs.ModeDevice != 0 && mode&fs.ModeCharDevice == 0,
	}[typ]
	if !ok {
		return fmt.Errorf("hostPath type check failed: %s is not a %s", hp.Path, typ)
	}
	return nil
}

// fileContent is one file of a generated volume.
type fileContent struct {
	data []byte
	mode os.FileMode
}

// volumeFiles computes the files of a ConfigMap, Secret, downward API or
// projected volume. Service account tokens of projected volumes come from
// the token manager (tokens.go).
func (a *Agent) volumeFiles(ctx context.Context, pod *corev1.Pod, v corev1.Volume) (map[string]fileContent, error) {
	files := map[string]fileContent{}
	mode := func(m *int32, def os.FileMode) os.FileMode {
		if m != nil {
			return os.FileMode(*m)
		}
		return def
	}
	switch {
	case v.ConfigMap != nil:
		return files, a.configMapFiles(pod, v.ConfigMap.Name, v.ConfigMap.Items, v.ConfigMap.Optional, mode(v.ConfigMap.DefaultMode, 0o644), files)
	case v.Secret != nil:
		return files, a.secretFiles(pod, v.Secret.SecretName, v.Secret.Items, v.Secret.Optional, mode(v.Secret.DefaultMode, 0o644), files)
	case v.DownwardAPI != nil:
		return files, a.downwardFiles(pod, v.DownwardAPI.Items, mode(v.DownwardAPI.DefaultMode, 0o644), files)
	case v.Projected != nil:
		def := mode(v.Projected.DefaultMode, 0o644)
		for _, s := range v.Projected.Sources {
			var err error
			switch {
			case s.ConfigMap != nil:
				err = a.configMapFiles(pod, s.ConfigMap.Name, s.ConfigMap.Items, s.ConfigMap.Optional, def, files)
			case s.Secret != nil:
				err = a.secretFiles(pod, s.Secret.Name, s.Secret.Items, s.Secret.Optional, def, files)
			case s.DownwardAPI != nil:
				err = a.downwardFiles(pod, s.DownwardAPI.Items, def, files)
			case s.ServiceAccountToken != nil:
				var token string
				if token, err = a.tokens.token(ctx, pod, s.ServiceAccountToken); err == nil {
					files[s.ServiceAccountToken.Path] = fileContent{[]byte(token), def}
				}
			}
			if err != nil {
				return nil, err
			}
		}
	}
	return files, nil
}

func (a *Agent) configMapFiles(pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode, files map[string]fileContent) error {
	cm, err := a.configMaps.ConfigMaps(pod.Namespace).Get(name)
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("configmap %q not found", name)
	}
	data := map[string][]byte{}
	for k, v := range cm.Data {
		data[k] = []byte(v)
	}
	for k, v := range cm.BinaryData {
		data[k] = v
	}
	return keyFiles(data, items, optional, def, files, "configmap", name)
}

func (a *Agent) secretFiles(pod *corev1.Pod, name string, items []corev1.KeyToPath, optional *bool, def os.FileMode, files map[string]fileContent) error {
	s, err := a.secrets.Secrets(pod.Namespace).Get(name)
	if err != nil {
		if optional != nil && *optional {
			return nil
		}
		return fmt.Errorf("secret %q not found", name)
	}
	return keyFiles(s.Data, items, optional, def, files, "secret", name)
}

func keyFiles(data map[string][]byte, items []corev1.KeyToPath, optional *bool, def os.FileMode, files map[string]fileContent, kind, name string) error {
	if len(items) == 0 {
		for k, v := range data {
			files[k] = fileContent{v, def}
		}
		return nil
	}
	for _, it := range items {
		v, ok := data[it.Key]
		if !ok {
			if optional != nil && *optional {
				continue
			}
			return fmt.Errorf("configuration key %q not found in %s %q", it.Key, kind, name)
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files[it.Path] = fileContent{v, m}
	}
	return nil
}

func (a *Agent) downwardFiles(pod *corev1.Pod, items []corev1.DownwardAPIVolumeFile, def os.FileMode, files map[string]fileContent) error {
	for _, it := range items {
		var v string
		var err error
		switch {
		case it.FieldRef != nil:
			v, err = a.podField(pod, it.FieldRef.FieldPath, nil)
		case it.ResourceFieldRef != nil:
			var c *corev1.Container
			for i := range pod.Spec.Containers {
				if pod.Spec.Containers[i].Name == it.ResourceFieldRef.ContainerName {
					c = &pod.Spec.Containers[i]
				}
			}
			if c == nil {
				return fmt.Errorf("container %q not found for downward API file %q", it.ResourceFieldRef.ContainerName, it.Path)
			}
			v, err = a.containerResource(pod, c, it.ResourceFieldRef)
		}
		if err != nil {
			return err
		}
		m := def
		if it.Mode != nil {
			m = os.FileMode(*it.Mode)
		}
		files[it.Path] = fileContent{[]byte(v), m}
	}
	return nil
}

// writeAtomic makes dir hold exactly files, the way the kubelet's atomic
// writer does: the files live in a timestamped directory, `..data` is a
// symlink to it, and each top-level name is a symlink through `..data`.
// An update writes a new directory and renames a new `..data` symlink over
// the old one, so readers see either the old or the new set, never a mix.
// Nothing is written when the content is unchanged.
func writeAtomic(dir string, files map[string]fileContent) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	for p := range files {
		if strings.Contains(p, "..") || strings.HasPrefix(p, "/") {
			return fmt.Errorf("invalid file path %q", p)
		}
	}
	dataLink := filepath.Join(dir, "..data")
	if old, err := os.Readlink(dataLink); err == nil && sameFiles(filepath.Join(dir, old), files) {
		return nil
	}
	ts, err := os.MkdirTemp(dir, time.Now().UTC().Format("..2006_01_02_15_04_05."))
	if err != nil {
		return err
	}
	if err := os.Chmod(ts, 0o755); err != nil {
		return err
	}
	for p, f := range files {
		full := filepath.Join(ts, p)
		if err := os.MkdirAll(filepath.Dir(full), 0o755); err != nil {
			return err
		}
		if err := os.WriteFile(full, f.data, f.mode); err != nil {
			return err
		}
		if err := os.Chmod(full, f.mode); err != nil {
			return err
		}
	}
	old, _ := os.Readlink(dataLink)
	tmp := filepath.Join(dir, "..data_tmp")
	_ = os.Remove(tmp)
	if err := os.Symlink(filepath.Base(ts), tmp); err != nil {
		return err
	}
	if err := os.Rename(tmp, dataLink); err != nil {
		return err
	}
	// Top-level names point through ..data.
	want := map[string]bool{}
	for p := range files {
		want[strings.SplitN(p, "/", 2)[0]] = true
	}
	for top := range want {
		link := filepath.Join(dir, top)
		if target, err := os.Readlink(link); err == nil && target == filepath.Join("..data", top) {
			continue
		}
		_ = os.RemoveAll(link)
		if err := os.Symlink(filepath.Join("..data", top), link); err != nil {
			return err
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		n := e.Name()
		if n == "..data" || n == filepath.Base(ts) || want[n] {
			continue
		}
		if strings.HasPrefix(n, "..") && n != filepath.Base(old) && !strings.HasPrefix(n, "..20") {
			continue
		}
		_ = os.RemoveAll(filepath.Join(dir, n))
	}
	return nil
}

// sameFiles reports whether dir holds exactly files.
func sameFiles(dir string, files map[string]fileContent) bool {
	n := 0
	err := filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(dir, p)
		f, ok := files[rel]
		if !ok {
			return fs.ErrInvalid
		}
		info, err := d.Info()
		if err != nil || info.Mode().Perm() != f.mode.Perm() {
			return fs.ErrInvalid
		}
		b, err := os.ReadFile(p)
		if err != nil || !bytes.Equal(b, f.data) {
			return fs.ErrInvalid
		}
		n++
		return nil
	})
	return err == nil && n == len(files)
}

var _ = sort.Strings
