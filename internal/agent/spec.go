package agent

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/container"
)

// sandboxConfig is the runtime's description of the pod's sandbox.
func (a *Agent) sandboxConfig(pod *corev1.Pod, attempt int, ip string) container.SandboxConfig {
	hostname := pod.Name
	if pod.Spec.Hostname != "" {
		hostname = pod.Spec.Hostname
	}
	if len(hostname) > 63 {
		hostname = strings.TrimRight(hostname[:63], "-.")
	}
	cfg := container.SandboxConfig{
		Pod:                   container.PodRef{Name: pod.Name, Namespace: pod.Namespace, UID: string(pod.UID)},
		Attempt:               attempt,
		Hostname:              hostname,
		DNS:                   a.dnsConfig(pod),
		Network:               container.SandboxNetwork{HostNetwork: pod.Spec.HostNetwork, Network: a.cfg.Network, IP: ip},
		ShareProcessNamespace: pod.Spec.ShareProcessNamespace != nil && *pod.Spec.ShareProcessNamespace,
	}
	if pod.Spec.Subdomain != "" {
		cfg.Domainname = fmt.Sprintf("%s.%s.svc.%s", pod.Spec.Subdomain, pod.Namespace, a.settings.ClusterDomain)
	}
	for _, h := range pod.Spec.HostAliases {
		cfg.HostAliases = append(cfg.HostAliases, container.HostAlias{IP: h.IP, Hostnames: h.Hostnames})
	}
	for _, c := range pod.Spec.Containers {
		for _, p := range c.Ports {
			if p.HostPort > 0 {
				cfg.Ports = append(cfg.Ports, container.PortMapping{Protocol: string(p.Protocol), ContainerPort: int(p.ContainerPort), HostPort: int(p.HostPort), HostIP: p.HostIP})
			}
		}
	}
	if sc := pod.Spec.SecurityContext; sc != nil && len(sc.Sysctls) > 0 {
		cfg.Sysctls = map[string]string{}
		for _, s := range sc.Sysctls {
			cfg.Sysctls[s.Name] = s.Value
		}
	}
	return cfg
}

// clusterDNSServed reports whether a kube-dns Service holds the cluster
// DNS IP; without one, ClusterFirst pods use the node's resolver, as the
// kubelet does when it has no cluster DNS configured.
func (a *Agent) clusterDNSServed() bool {
	if a.settings.ClusterDNS == "" || a.services == nil {
		return false
	}
	svc, err := a.services.Services("kube-system").Get("kube-dns")
	return err == nil && svc.Spec.ClusterIP == a.settings.ClusterDNS
}

// dnsConfig is the pod's resolv.conf, or nil for the runtime's default
// (the node's resolver).
func (a *Agent) dnsConfig(pod *corev1.Pod) *container.DNSConfig {
	policy := pod.Spec.DNSPolicy
	if policy == "" {
		policy = corev1.DNSClusterFirst
	}
	if policy == corev1.DNSClusterFirst && pod.Spec.HostNetwork {
		policy = corev1.DNSDefault
	}
	if (policy == corev1.DNSClusterFirst || policy == corev1.DNSClusterFirstWithHostNet) && !a.clusterDNSServed() {
		policy = corev1.DNSDefault
	}
	var cfg *container.DNSConfig
	switch policy {
	case corev1.DNSClusterFirst, corev1.DNSClusterFirstWithHostNet:
		d := a.settings.ClusterDomain
		cfg = &container.DNSConfig{
			Servers:  []string{a.settings.ClusterDNS},
			Searches: []string{pod.Namespace + ".svc." + d, "svc." + d, d},
			Options:  []string{"ndots:5"},
		}
	case corev1.DNSNone:
		cfg = &container.DNSConfig{}
	}
	if dc := pod.Spec.DNSConfig; dc != nil && cfg != nil {
		cfg.Servers = append(cfg.Servers, dc.Nameservers...)
		cfg.Searches = append(cfg.Searches, dc.Searches...)
		for _, o := range dc.Options {
			opt := o.Name
			if o.Value != nil {
				opt += ":" + *o.Value
			}
			replaced := false
			for i, cur := range cfg.Options {
				if strings.SplitN(cur, ":", 2)[0] == o.Name {
					cfg.Options[i], replaced = opt, true
				}
			}
			if !replaced {
				cfg.Options = append(cfg.Options, opt)
			}
		}
	}
	return cfg
}

// containerConfig is the runtime's description of container c of the pod.
// Its errors are fit for the container's waiting message
// (CreateContainerConfigError).
func (a *Agent) containerConfig(ctx context.Context, pod *corev1.Pod, c *corev1.Container, attempt int, mounts volumeMounts, sb *container.Sandbox) (container.ContainerConfig, error) {
	env, err := a.containerEnv(pod, c, sb)
	if err != nil {
		return container.ContainerConfig{}, err
	}
	vars := map[string]string{}
	for _, e := range env {
		vars[e.Name] = e.Value
	}
	cfg := container.ContainerConfig{
		Name:       c.Name,
		Attempt:    attempt,
		Image:      c.Image,
		Command:    expandAll(c.Command, vars),
		Args:       expandAll(c.Args, vars),
		Env:        env,
		WorkingDir: c.WorkingDir,
		Resources:  a.resources(pod, c),
		Stdin:      c.Stdin,
		StdinOnce:  c.StdinOnce,
		TTY:        c.TTY,
	}
	if cfg.Mounts, err = mounts.forContainer(c, vars); err != nil {
		return cfg, err
	}
	if c.TerminationMessagePath != "" {
		file, err := a.terminationLogFile(pod, c.Name, attempt)
		if err != nil {
			return cfg, err
		}
		cfg.Mounts = append(cfg.Mounts, container.Mount{Type: container.MountBind, Source: file, Target: c.TerminationMessagePath})
	}
	if cfg.Security, err = a.security(ctx, pod, c); err != nil {
		return cfg, err
	}
	return cfg, nil
}

// terminationLogFile creates the empty file a container may write its
// termination message to.
func (a *Agent) terminationLogFile(pod *corev1.Pod, name string, attempt int) (string, error) {
	dir := filepath.Join(a.podDir(pod.UID), "containers", name)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return "", err
	}
	file := filepath.Join(dir, strconv.Itoa(attempt)+".termination-log")
	f, err := os.OpenFile(file, os.O_CREATE|os.O_WRONLY, 0o666)
	if err != nil {
		return "", err
	}
	f.Close()
	// Any user of the container may write it.
	_ = os.Chmod(file, 0o666)
	return file, nil
}

// resources turns requests and limits into cgroup settings, as the
// kubelet does.
func (a *Agent) resources(pod *corev1.Pod, c *corev1.Container) container.Resources {
	var r container.Resources
	req, lim := c.Resources.Requests, c.Resources.Limits
	cpuReq, hasReq := req[corev1.ResourceCPU]
	if !hasReq {
		cpuReq, hasReq = lim[corev1.ResourceCPU]
	}
	if hasReq {
		r.CPUShares = max(cpuReq.MilliValue()*1024/1000, 2)
	} else {
		r.CPUShares = 2
	}
	if cpuLim, ok := lim[corev1.ResourceCPU]; ok {
		r.CPUPeriod = 100000
		r.CPUQuota = max(cpuLim.MilliValue()*r.CPUPeriod/1000, 1000)
	}
	if memLim, ok := lim[corev1.ResourceMemory]; ok {
		r.MemoryLimitBytes = memLim.Value()
	}
	r.OOMScoreAdj = oomScoreAdj(pod, c, memTotal())
	return r
}

// oomScoreAdj follows the kubelet's QoS policy: Guaranteed -997,
// BestEffort 1000, Burstable in between by memory request.
func oomScoreAdj(pod *corev1.Pod, c *corev1.Container, capacity int64) int {
	switch qosClass(pod) {
	case corev1.PodQOSGuaranteed:
		return -997
	case corev1.PodQOSBestEffort:
		return 1000
	}
	req := c.Resources.Requests[corev1.ResourceMemory]
	if capacity <= 0 {
		return 999
	}
	adj := 1000 - (1000*req.Value())/capacity
	return int(min(max(adj, 2), 999))
}

// qosClass computes the pod's QoS class as Kubernetes does.
func qosClass(pod *corev1.Pod) corev1.PodQOSClass {
	requests, limits := corev1.ResourceList{}, corev1.ResourceList{}
	guaranteed := true
	all := append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...)
	for _, c := range all {
		for name, q := range c.Resources.Requests {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			cur := requests[name]
			cur.Add(q)
			requests[name] = cur
		}
		have := 0
		for name, q := range c.Resources.Limits {
			if name != corev1.ResourceCPU && name != corev1.ResourceMemory || q.IsZero() {
				continue
			}
			have++
			cur := limits[name]
			cur.Add(q)
			limits[name] = cur
		}
		if have < 2 {
			guaranteed = false
		}
	}
	if len(requests) == 0 && len(limits) == 0 {
		return corev1.PodQOSBestEffort
	}
	if guaranteed {
		for name, req := range requests {
			if l, ok := limits[name]; !ok || l.Cmp(req) != 0 {
				guaranteed = false
			}
		}
	}
	if guaranteed && len(limits) == 2 {
		return corev1.PodQOSGuaranteed
	}
	return corev1.PodQOSBurstable
}

// security merges the pod's and the container's security contexts.
func (a *Agent) security(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (container.SecurityConfig, error) {
	var s container.SecurityConfig
	psc := pod.Spec.SecurityContext
	if psc == nil {
		psc = &corev1.PodSecurityContext{}
	}
	csc := c.SecurityContext
	if csc == nil {
		csc = &corev1.SecurityContext{}
	}
	s.RunAsUser = firstInt64(csc.RunAsUser, psc.RunAsUser)
	s.RunAsGroup = firstInt64(csc.RunAsGroup, psc.RunAsGroup)
	s.SupplementalGroups = append(s.SupplementalGroups, psc.SupplementalGroups...)
	if psc.FSGroup != nil {
		s.SupplementalGroups = append(s.SupplementalGroups, *psc.FSGroup)
	}
	s.Privileged = csc.Privileged != nil && *csc.Privileged
	s.ReadOnlyRootfs = csc.ReadOnlyRootFilesystem != nil && *csc.ReadOnlyRootFilesystem
	if caps := csc.Capabilities; caps != nil {
		for _, c := range caps.Add {
			s.CapAdd = append(s.CapAdd, string(c))
		}
		for _, c := range caps.Drop {
			s.CapDrop = append(s.CapDrop, string(c))
		}
	}
	s.NoNewPrivileges = csc.AllowPrivilegeEscalation != nil && !*csc.AllowPrivilegeEscalation
	seccomp := csc.SeccompProfile
	if seccomp == nil {
		seccomp = psc.SeccompProfile
	}
	switch {
	case s.Privileged:
		s.Seccomp = "unconfined"
	case seccomp == nil, seccomp.Type == corev1.SeccompProfileTypeUnconfined:
		// Kubernetes runs containers unconfined unless asked otherwise.
		s.Seccomp = "unconfined"
	case seccomp.Type == corev1.SeccompProfileTypeRuntimeDefault:
		s.Seccomp = ""
	case seccomp.Type == corev1.SeccompProfileTypeLocalhost && seccomp.LocalhostProfile != nil:
		b, err := os.ReadFile(filepath.Join(a.cfg.StateDir, "seccomp", *seccomp.LocalhostProfile))
		if err != nil {
			return s, fmt.Errorf("failed to load seccomp profile %q: %w", *seccomp.LocalhostProfile, err)
		}
		s.Seccomp = string(b)
	}
	runAsNonRoot := csc.RunAsNonRoot
	if runAsNonRoot == nil {
		runAsNonRoot = psc.RunAsNonRoot
	}
	if runAsNonRoot != nil && *runAsNonRoot {
		if err := a.verifyNonRoot(ctx, pod, c, s.RunAsUser); err != nil {
			return s, err
		}
	}
	return s, nil
}

// verifyNonRoot refuses a container that would run as root, with the
// kubelet's messages.
func (a *Agent) verifyNonRoot(ctx context.Context, pod *corev1.Pod, c *corev1.Container, uid *int64) error {
	if uid != nil {
		if *uid == 0 {
			return fmt.Errorf("container's runAsUser breaks non-root policy (pod: %q, container: %s)", podDesc(pod), c.Name)
		}
		return nil
	}
	user := ""
	if img, err := a.rt.ImageStatus(ctx, c.Image); err == nil {
		user = img.User
	}
	user, _, _ = strings.Cut(user, ":")
	switch {
	case user == "" || user == "root" || user == "0":
		return fmt.Errorf("container has runAsNonRoot and image will run as root (pod: %q, container: %s)", podDesc(pod), c.Name)
	default:
		if _, err := strconv.ParseInt(user, 10, 64); err != nil {
			return fmt.Errorf("container has runAsNonRoot and image has non-numeric user (%s), cannot verify user is non-root (pod: %q, container: %s)", user, podDesc(pod), c.Name)
		}
	}
	return nil
}

func firstInt64(ps ...*int64) *int64 {
	for _, p := range ps {
		if p != nil {
			return p
		}
	}
	return nil
}

// expandAll expands $(VAR) references in each string.
func expandAll(in []string, vars map[string]string) []string {
	if in == nil {
		return nil
	}
	out := make([]string, len(in))
	for i, s := range in {
		out[i] = expand(s, vars)
	}
	return out
}

// expand replaces $(VAR) with vars[VAR] as Kubernetes does: a reference to
// an undefined variable stays as written, and $$ escapes a $.
func expand(s string, vars map[string]string) string {
	if !strings.Contains(s, "$") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] != '$' || i+1 >= len(s) {
			b.WriteByte(s[i])
			continue
		}
		switch s[i+1] {
		case '$':
			b.WriteByte('$')
			i++
		case '(':
			end := strings.IndexByte(s[i+2:], ')')
			if end < 0 {
				b.WriteString(s[i:])
				return b.String()
			}
			name := s[i+2 : i+2+end]
			if v, ok := vars[name]; ok {
				b.WriteString(v)
			} else {
				b.WriteString(s[i : i+3+end])
			}
			i += 2 + end
		default:
			b.WriteByte('$')
		}
	}
	return b.String()
}

// resourceValue renders a container resource for resourceFieldRef.
func resourceValue(q resource.Quantity, divisor resource.Quantity, name string) string {
	if divisor.IsZero() {
		divisor = resource.MustParse("1")
	}
	if strings.HasSuffix(name, "cpu") {
		m := q.MilliValue()
		d := divisor.MilliValue()
		return strconv.FormatInt((m+d-1)/d, 10)
	}
	v, d := q.Value(), divisor.Value()
	return strconv.FormatInt((v+d-1)/d, 10)
}

var _ = metav1.Now
