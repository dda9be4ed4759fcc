package agent

import (
	"fmt"
	"sort"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	"k8s.io/apimachinery/pkg/labels"

	"github.com/gantry-dev/gantry/internal/container"
)

var everything = labels.Everything()

// containerEnv computes a container's environment as the kubelet does:
// service variables first, then envFrom, then env, later entries winning,
// with $(VAR) references to earlier variables expanded.
func (a *Agent) containerEnv(pod *corev1.Pod, c *corev1.Container, sb *container.Sandbox) ([]container.EnvVar, error) {
	var out []container.EnvVar
	index := map[string]int{}
	set := func(name, value string) {
		if i, ok := index[name]; ok {
			out[i].Value = value
			return
		}
		index[name] = len(out)
		out = append(out, container.EnvVar{Name: name, Value: value})
	}
	for _, e := range a.serviceEnv(pod) {
		set(e.Name, e.Value)
	}
	for _, from := range c.EnvFrom {
		var data map[string]string
		switch {
		case from.ConfigMapRef != nil:
			cm, err := a.configMaps.ConfigMaps(pod.Namespace).Get(from.ConfigMapRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && from.ConfigMapRef.Optional != nil && *from.ConfigMapRef.Optional {
					continue
				}
				return nil, fmt.Errorf("configmap %q not found", from.ConfigMapRef.Name)
			}
			data = cm.Data
		case from.SecretRef != nil:
			s, err := a.secrets.Secrets(pod.Namespace).Get(from.SecretRef.Name)
			if err != nil {
				if apierrors.IsNotFound(err) && from.SecretRef.Optional != nil && *from.SecretRef.Optional {
					continue
				}
				return nil, fmt.Errorf("secret %q not found", from.SecretRef.Name)
			}
			data = map[string]string{}
			for k, v := range s.Data {
				data[k] = string(v)
			}
		}
		keys := make([]string, 0, len(data))
		for k := range data {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			set(from.Prefix+k, data[k])
		}
	}
	vars := func() map[string]string {
		m := make(map[string]string, len(out))
		for _, e := range out {
			m[e.Name] = e.Value
		}
		return m
	}
	for _, e := range c.Env {
		if e.ValueFrom == nil {
			set(e.Name, expand(e.Value, vars()))
			continue
		}
		v, ok, err := a.envValueFrom(pod, c, e.ValueFrom, sb)
		if err != nil {
			return nil, err
		}
		if ok {
			set(e.Name, v)
		}
	}
	return out, nil
}

// envValueFrom resolves one valueFrom; ok is false for a missing optional
// key.
func (a *Agent) envValueFrom(pod *corev1.Pod, c *corev1.Container, src *corev1.EnvVarSource, sb *container.Sandbox) (string, bool, error) {
	switch {
	case src.ConfigMapKeyRef != nil:
		ref := src.ConfigMapKeyRef
		optional := ref.Optional != nil && *ref.Optional
		cm, err := a.configMaps.ConfigMaps(pod.Namespace).Get(ref.Name)
		if err != nil {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("configmap %q not found", ref.Name)
		}
		if v, ok := cm.Data[ref.Key]; ok {
			return v, true, nil
		}
		if v, ok := cm.BinaryData[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in ConfigMap %s/%s", ref.Key, pod.Namespace, ref.Name)
	case src.SecretKeyRef != nil:
		ref := src.SecretKeyRef
		optional := ref.Optional != nil && *ref.Optional
		s, err := a.secrets.Secrets(pod.Namespace).Get(ref.Name)
		if err != nil {
			if optional {
				return "", false, nil
			}
			return "", false, fmt.Errorf("secret %q not found", ref.Name)
		}
		if v, ok := s.Data[ref.Key]; ok {
			return string(v), true, nil
		}
		if optional {
			return "", false, nil
		}
		return "", false, fmt.Errorf("couldn't find key %s in Secret %s/%s", ref.Key, pod.Namespace, ref.Name)
	case src.FieldRef != nil:
		v, err := a.podField(pod, src.FieldRef.FieldPath, sb)
		return v, err == nil, err
	case src.ResourceFieldRef != nil:
		v, err := a.containerResource(pod, c, src.ResourceFieldRef)
		return v, err == nil, err
	}
	return "", false, nil
}

// podField resolves a downward API field path.
func (a *Agent) podField(pod *corev1.Pod, path string, sb *container.Sandbox) (string, error) {
	if k, ok := subscript(path, "metadata.labels"); ok {
		return pod.Labels[k], nil
	}
	if k, ok := subscript(path, "metadata.annotations"); ok {
		return pod.Annotations[k], nil
	}
	switch path {
	case "metadata.name":
		return pod.Name, nil
	case "metadata.namespace":
		return pod.Namespace, nil
	case "metadata.uid":
		return string(pod.UID), nil
	case "metadata.labels":
		return formatMap(pod.Labels), nil
	case "metadata.annotations":
		return formatMap(pod.Annotations), nil
	case "spec.nodeName":
		return pod.Spec.NodeName, nil
	case "spec.serviceAccountName":
		return pod.Spec.ServiceAccountName, nil
	case "status.hostIP", "status.hostIPs":
		a.mu.Lock()
		ips := append([]string(nil), a.hostIPs...)
		a.mu.Unlock()
		if path == "status.hostIP" && len(ips) > 0 {
			return ips[0], nil
		}
		return strings.Join(ips, ","), nil
	case "status.podIP", "status.podIPs":
		if sb == nil {
			return "", nil
		}
		if sb.HostNetwork {
			return a.podField(pod, strings.Replace(path, "pod", "host", 1), sb)
		}
		return sb.IP, nil
	}
	return "", fmt.Errorf("unsupported fieldPath %q", path)
}

// subscript parses `prefix['key']`.
func subscript(path, prefix string) (string, bool) {
	rest, ok := strings.CutPrefix(path, prefix+"['")
	if !ok || !strings.HasSuffix(rest, "']") {
		return "", false
	}
	return strings.TrimSuffix(rest, "']"), true
}

// formatMap renders labels or annotations as the downward API does:
// key="value" lines, sorted.
func formatMap(m map[string]string) string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteByte('\n')
		}
		b.WriteString(k + "=" + strconv.Quote(m[k]))
	}
	return b.String()
}

// containerResource resolves a resourceFieldRef; an unset limit is the
// node's allocatable, as in Kubernetes.
func (a *Agent) containerResource(pod *corev1.Pod, c *corev1.Container, ref *corev1.ResourceFieldSelector) (string, error) {
	target := c
	if ref.ContainerName != "" && ref.ContainerName != c.Name {
		target = nil
		for i := range pod.Spec.Containers {
			if pod.Spec.Containers[i].Name == ref.ContainerName {
				target = &pod.Spec.Containers[i]
			}
		}
		if target == nil {
			return "", fmt.Errorf("container %q not found in pod for resourceFieldRef", ref.ContainerName)
		}
	}
	kind, name, ok := strings.Cut(ref.Resource, ".")
	if !ok {
		return "", fmt.Errorf("unsupported resource %q", ref.Resource)
	}
	list := target.Resources.Limits
	if kind == "requests" {
		list = target.Resources.Requests
	}
	q, ok := list[corev1.ResourceName(name)]
	if !ok {
		switch {
		case kind == "limits" && name == "cpu":
			q = *resource.NewQuantity(int64(numCPU()), resource.DecimalSI)
		case kind == "limits" && name == "memory":
			q = *resource.NewQuantity(memTotal(), resource.BinarySI)
		case kind == "limits" && name == "ephemeral-storage":
			q = *resource.NewQuantity(diskSize(a.cfg.StateDir), resource.BinarySI)
		default:
			q = resource.Quantity{}
		}
	}
	return resourceValue(q, ref.Divisor, name), nil
}

// serviceEnv returns the Docker-links-style variables of the services in
// the pod's namespace (and the kubernetes service), as the kubelet sets
// them.
func (a *Agent) serviceEnv(pod *corev1.Pod) []container.EnvVar {
	if a.services == nil {
		return nil
	}
	var svcs []*corev1.Service
	if pod.Spec.EnableServiceLinks == nil || *pod.Spec.EnableServiceLinks {
		list, _ := a.services.Services(pod.Namespace).List(everything)
		svcs = append(svcs, list...)
	}
	if pod.Namespace != "default" || pod.Spec.EnableServiceLinks != nil && !*pod.Spec.EnableServiceLinks {
		if k, err := a.services.Services("default").Get("kubernetes"); err == nil {
			svcs = append(svcs, k)
		}
	}
	sort.Slice(svcs, func(i, j int) bool { return svcs[i].Name < svcs[j].Name })
	var out []container.EnvVar
	for _, s := range svcs {
		ip := s.Spec.ClusterIP
		if ip == "" || ip == corev1.ClusterIPNone || len(s.Spec.Ports) == 0 {
			continue
		}
		name := strings.ToUpper(strings.ReplaceAll(s.Name, "-", "_")) + "_SERVICE"
		out = append(out, container.EnvVar{Name: name + "_HOST", Value: ip})
		first := s.Spec.Ports[0]
		out = append(out, container.EnvVar{Name: name + "_PORT", Value: strconv.Itoa(int(first.Port))})
		for _, p := range s.Spec.Ports {
			if p.Name != "" {
				out = append(out, container.EnvVar{Name: name + "_PORT_" + strings.ToUpper(strings.ReplaceAll(p.Name, "-", "_")), Value: strconv.Itoa(int(p.Port))})
			}
		}
		prefix := strings.TrimSuffix(name, "_SERVICE")
		proto := strings.ToLower(string(first.Protocol))
		if proto == "" {
			proto = "tcp"
		}
		out = append(out, container.EnvVar{Name: prefix + "_PORT", Value: fmt.Sprintf("%s://%s:%d", proto, ip, first.Port)})
		for _, p := range s.Spec.Ports {
			pr := strings.ToLower(string(p.Protocol))
			if pr == "" {
				pr = "tcp"
			}
			base := fmt.Sprintf("%s_PORT_%d_%s", prefix, p.Port, strings.ToUpper(pr))
			out = append(out,
				container.EnvVar{Name: base, Value: fmt.Sprintf("%s://%s:%d", pr, ip, p.Port)},
				container.EnvVar{Name: base + "_PROTO", Value: pr},
				container.EnvVar{Name: base + "_PORT", Value: strconv.Itoa(int(p.Port))},
				container.EnvVar{Name: base + "_ADDR", Value: ip})
		}
	}
	return out
}
