package agent

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	coordinationv1 "k8s.io/api/coordination/v1"
	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/container"
)

// maxPods is the pods capacity every node reports, as a kubelet does by
// default.
const maxPods = 110

// registerNode creates the Node, or updates the one a previous run of the
// agent registered (keeping spec.podCIDR and taints set by others).
func (a *Agent) registerNode(ctx context.Context) (*corev1.Node, error) {
	want := a.nodeTemplate(ctx)
	nodes := a.client.CoreV1().Nodes()
	for {
		n, err := nodes.Create(ctx, want, metav1.CreateOptions{})
		if err == nil {
			a.log.Info("registered node")
			return n, nil
		}
		if !apierrors.IsAlreadyExists(err) {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("agent: register node: %w", err)
			}
			a.log.Warn("cannot register node, retrying", "err", err)
			select {
			case <-ctx.Done():
				return nil, fmt.Errorf("agent: register node: %w", err)
			case <-time.After(time.Second):
			}
			continue
		}
		cur, err := nodes.Get(ctx, want.Name, metav1.GetOptions{})
		if err != nil {
			return nil, fmt.Errorf("agent: node: %w", err)
		}
		upd := cur.DeepCopy()
		if upd.Labels == nil {
			upd.Labels = map[string]string{}
		}
		for k, v := range want.Labels {
			upd.Labels[k] = v
		}
		if !apiequality.Semantic.DeepEqual(cur.Labels, upd.Labels) {
			if upd, err = nodes.Update(ctx, upd, metav1.UpdateOptions{}); err != nil {
				if apierrors.IsConflict(err) {
					continue
				}
				return nil, fmt.Errorf("agent: node: %w", err)
			}
		}
		st := *want.Status.DeepCopy()
		keepForeignConditions(&st, cur.Status.Conditions)
		upd.Status = st
		n, err = nodes.UpdateStatus(ctx, upd, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("agent: node status: %w", err)
		}
		a.log.Info("node registered again")
		return n, nil
	}
}

// nodeTemplate is the Node as this machine describes it.
func (a *Agent) nodeTemplate(ctx context.Context) *corev1.Node {
	labels := map[string]string{
		corev1.LabelHostname:      a.cfg.NodeName,
		corev1.LabelOSStable:      runtime.GOOS,
		corev1.LabelArchStable:    runtime.GOARCH,
		"beta.kubernetes.io/os":   runtime.GOOS,
		"beta.kubernetes.io/arch": runtime.GOARCH,
	}
	for k, v := range a.cfg.Labels {
		labels[k] = v
	}
	n := &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Labels: labels}}
	n.Status = a.nodeStatus(ctx, nil)
	n.Status.DaemonEndpoints.KubeletEndpoint.Port = int32(a.streamingPort)
	return n
}

// nodeStatus is the Node's status now; prev keeps the conditions'
// transition times.
func (a *Agent) nodeStatus(ctx context.Context, prev *corev1.NodeStatus) corev1.NodeStatus {
	capacity := corev1.ResourceList{
		corev1.ResourceCPU:    *resource.NewQuantity(int64(runtime.NumCPU()), resource.DecimalSI),
		corev1.ResourceMemory: *resource.NewQuantity(memTotal(), resource.BinarySI),
		corev1.ResourcePods:   *resource.NewQuantity(maxPods, resource.DecimalSI),
	}
	if size := diskSize(a.cfg.StateDir); size > 0 {
		capacity[corev1.ResourceEphemeralStorage] = *resource.NewQuantity(size, resource.BinarySI)
	}
	version, runtimeErr := "unknown", error(nil)
	if v, ok := a.rt.(container.Versioner); ok {
		version, runtimeErr = v.Version(ctx)
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	ready := corev1.NodeCondition{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", Message: "kubelet is posting ready status"}
	if runtimeErr != nil {
		ready.Status, ready.Reason, ready.Message = corev1.ConditionFalse, "KubeletNotReady", "container runtime is down: "+runtimeErr.Error()
	}
	conds := []corev1.NodeCondition{
		{Type: corev1.NodeMemoryPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientMemory", Message: "kubelet has sufficient memory available"},
		{Type: corev1.NodeDiskPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasNoDiskPressure", Message: "kubelet has no disk pressure"},
		{Type: corev1.NodePIDPressure, Status: corev1.ConditionFalse, Reason: "KubeletHasSufficientPID", Message: "kubelet has sufficient PID available"},
		ready,
	}
	for i := range conds {
		conds[i].LastHeartbeatTime = now
		conds[i].LastTransitionTime = now
		if prev != nil {
			for _, p := range prev.Conditions {
				if p.Type == conds[i].Type && p.Status == conds[i].Status {
					conds[i].LastTransitionTime = p.LastTransitionTime
				}
			}
		}
	}
	addrs := a.cfg.Addresses
	if len(addrs) == 0 {
		addrs = hostAddresses(a.cfg.NodeName)
	}
	a.mu.Lock()
	a.hostIPs = a.hostIPs[:0]
	for _, ad := range addrs {
		if ad.Type == corev1.NodeInternalIP {
			a.hostIPs = append(a.hostIPs, ad.Address)
		}
	}
	a.mu.Unlock()
	return corev1.NodeStatus{
		Capacity:    capacity,
		Allocatable: capacity.DeepCopy(),
		Conditions:  conds,
		Addresses:   addrs,
		NodeInfo: corev1.NodeSystemInfo{
			MachineID:               machineID(),
			KernelVersion:           kernelVersion(),
			OSImage:                 osImage(),
			OperatingSystem:         runtime.GOOS,
			Architecture:            runtime.GOARCH,
			ContainerRuntimeVersion: version,
			KubeletVersion:          a.cfg.KubeletVersion,
			KubeProxyVersion:        "",
		},
	}
}

// waitForPodCIDR returns the node once the control plane has assigned it a
// pod CIDR.
func (a *Agent) waitForPodCIDR(ctx context.Context, node *corev1.Node) (*corev1.Node, error) {
	warned := false
	for node.Spec.PodCIDR == "" {
		if !warned && ctx.Err() == nil {
			a.log.Info("waiting for the control plane to assign a pod CIDR")
			warned = true
		}
		select {
		case <-ctx.Done():
			return nil, ErrNoPodCIDR
		case <-time.After(200 * time.Millisecond):
		}
		n, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			continue
		}
		node = n
	}
	return node, nil
}

// setupNetwork makes sure the pod network exists and prepares the IP
// allocator for the node's pod CIDR.
func (a *Agent) setupNetwork(ctx context.Context, node *corev1.Node) error {
	_, cidr, err := net.ParseCIDR(node.Spec.PodCIDR)
	if err != nil {
		return fmt.Errorf("agent: node podCIDR %q: %w", node.Spec.PodCIDR, err)
	}
	if a.cfg.Network == "" {
		a.cfg.Network = NetworkName(a.settings.ClusterCIDR)
	}
	nw, err := a.rt.EnsureNetwork(ctx, container.NetworkConfig{Name: a.cfg.Network, Subnet: a.settings.ClusterCIDR})
	if err != nil {
		return fmt.Errorf("agent: pod network %s (%s): %w", a.cfg.Network, a.settings.ClusterCIDR, err)
	}
	a.podCIDR = cidr
	a.gateway = net.ParseIP(nw.Gateway)
	a.ipam = newIPAM(cidr, a.gateway)
	if a.cfg.OnNetwork != nil {
		a.cfg.OnNetwork(nw, a.settings)
	}
	return nil
}

// NetworkName is the default pod network name for a cluster CIDR.
func NetworkName(clusterCIDR string) string {
	return "gantry-" + strings.ReplaceAll(clusterCIDR, "/", "-")
}

// runLease creates and renews the node's Lease every quarter of its
// duration.
func (a *Agent) runLease(ctx context.Context) {
	leases := a.client.CoordinationV1().Leases(corev1.NamespaceNodeLease)
	interval := a.cfg.LeaseDuration / 4
	for {
		now := metav1.NewMicroTime(time.Now())
		l, err := leases.Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		switch {
		case apierrors.IsNotFound(err):
			l = &coordinationv1.Lease{
				ObjectMeta: metav1.ObjectMeta{Name: a.cfg.NodeName, Namespace: corev1.NamespaceNodeLease},
				Spec: coordinationv1.LeaseSpec{
					HolderIdentity:       ptr.To(a.cfg.NodeName),
					LeaseDurationSeconds: ptr.To(int32(a.cfg.LeaseDuration / time.Second)),
					RenewTime:            &now,
				},
			}
			if node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{}); err == nil {
				l.OwnerReferences = []metav1.OwnerReference{{APIVersion: "v1", Kind: "Node", Name: node.Name, UID: node.UID}}
			}
			_, err = leases.Create(ctx, l, metav1.CreateOptions{})
		case err == nil:
			l.Spec.HolderIdentity = ptr.To(a.cfg.NodeName)
			l.Spec.LeaseDurationSeconds = ptr.To(int32(a.cfg.LeaseDuration / time.Second))
			l.Spec.RenewTime = &now
			_, err = leases.Update(ctx, l, metav1.UpdateOptions{})
		}
		next := interval
		if err != nil && ctx.Err() == nil {
			a.log.Warn("cannot renew node lease", "err", err)
			next = interval / 4
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(next):
		}
	}
}

// runNodeStatus rewrites the Node's status when it changes and at least
// every StatusInterval.
func (a *Agent) runNodeStatus(ctx context.Context) {
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(5 * time.Second):
		}
		node, err := a.client.CoreV1().Nodes().Get(ctx, a.cfg.NodeName, metav1.GetOptions{})
		if err != nil {
			if apierrors.IsNotFound(err) {
				// Deleted by someone: register again.
				_, err = a.registerNode(ctx)
			}
			if err != nil && ctx.Err() == nil {
				a.log.Warn("cannot read node", "err", err)
			}
			continue
		}
		st := a.nodeStatus(ctx, &node.Status)
		keepForeignConditions(&st, node.Status.Conditions)
		if sameNodeStatus(node.Status, st) && time.Since(last) < a.cfg.StatusInterval {
			continue
		}
		node = node.DeepCopy()
		// Keep what other parts own (images, volumes).
		st.Images = node.Status.Images
		st.DaemonEndpoints.KubeletEndpoint.Port = int32(a.streamingPort)
		node.Status = st
		if _, err := a.client.CoreV1().Nodes().UpdateStatus(ctx, node, metav1.UpdateOptions{}); err != nil {
			if ctx.Err() == nil {
				a.log.Debug("cannot update node status", "err", err)
			}
			continue
		}
		last = time.Now()
	}
}

// agentConditions are the node conditions the agent reports.
var agentConditions = map[corev1.NodeConditionType]bool{
	corev1.NodeReady: true, corev1.NodeMemoryPressure: true, corev1.NodeDiskPressure: true, corev1.NodePIDPressure: true,
}

// keepForeignConditions appends to st the conditions of prev that others
// own (node IPAM's NetworkUnavailable, a node problem detector's), which
// the agent's status would otherwise drop.
func keepForeignConditions(st *corev1.NodeStatus, prev []corev1.NodeCondition) {
	for _, c := range prev {
		if !agentConditions[c.Type] {
			st.Conditions = append(st.Conditions, c)
		}
	}
}

// sameNodeStatus compares statuses ignoring heartbeat times.
func sameNodeStatus(a, b corev1.NodeStatus) bool {
	strip := func(s corev1.NodeStatus) corev1.NodeStatus {
		s = *s.DeepCopy()
		for i := range s.Conditions {
			s.Conditions[i].LastHeartbeatTime = metav1.Time{}
		}
		s.DaemonEndpoints, s.Images = corev1.NodeDaemonEndpoints{}, nil
		return s
	}
	return apiequality.Semantic.DeepEqual(strip(a), strip(b))
}

// hostAddresses returns the machine's hostname and non-loopback IPv4
// addresses, the default route's first.
func hostAddresses(nodeName string) []corev1.NodeAddress {
	var out []corev1.NodeAddress
	seen := map[string]bool{}
	add := func(ip net.IP) {
		if ip == nil || ip.To4() == nil || ip.IsLoopback() || ip.IsLinkLocalUnicast() || seen[ip.String()] {
			return
		}
		seen[ip.String()] = true
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: ip.String()})
	}
	if ifname := defaultRouteInterface(); ifname != "" {
		if ifc, err := net.InterfaceByName(ifname); err == nil {
			addrs, _ := ifc.Addrs()
			for _, ad := range addrs {
				if n, ok := ad.(*net.IPNet); ok {
					add(n.IP)
				}
			}
		}
	}
	if len(out) == 0 {
		ifcs, _ := net.Interfaces()
		for _, ifc := range ifcs {
			// Skip bridges and veths of container runtimes.
			if strings.HasPrefix(ifc.Name, "docker") || strings.HasPrefix(ifc.Name, "br-") || strings.HasPrefix(ifc.Name, "veth") {
				continue
			}
			addrs, _ := ifc.Addrs()
			for _, ad := range addrs {
				if n, ok := ad.(*net.IPNet); ok {
					add(n.IP)
				}
			}
		}
	}
	if len(out) == 0 {
		out = append(out, corev1.NodeAddress{Type: corev1.NodeInternalIP, Address: "127.0.0.1"})
	}
	return append(out, corev1.NodeAddress{Type: corev1.NodeHostName, Address: nodeName})
}

// defaultRouteInterface reads /proc/net/route for the default route's
// interface.
func defaultRouteInterface() string {
	f, err := os.Open("/proc/net/route")
	if err != nil {
		return ""
	}
	defer f.Close()
	s := bufio.NewScanner(f)
	for s.Scan() {
		fs := strings.Fields(s.Text())
		if len(fs) > 2 && fs[1] == "00000000" && fs[0] != "Iface" {
			return fs[0]
		}
	}
	return ""
}

func memTotal() int64 {
	b, err := os.ReadFile("/proc/meminfo")
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "MemTotal:"); ok {
			fs := strings.Fields(rest)
			if len(fs) > 0 {
				kb, _ := strconv.ParseInt(fs[0], 10, 64)
				return kb * 1024
			}
		}
	}
	return 0
}

func diskSize(dir string) int64 {
	for d := dir; d != ""; {
		var st syscall.Statfs_t
		if err := syscall.Statfs(d, &st); err == nil {
			return int64(st.Blocks) * int64(st.Bsize)
		}
		if d == "/" {
			break
		}
		d = parentDir(d)
	}
	return 0
}

func parentDir(d string) string {
	i := strings.LastIndex(strings.TrimSuffix(d, "/"), "/")
	if i <= 0 {
		return "/"
	}
	return d[:i]
}

func machineID() string {
	b, _ := os.ReadFile("/etc/machine-id")
	return strings.TrimSpace(string(b))
}

func kernelVersion() string {
	b, _ := os.ReadFile("/proc/sys/kernel/osrelease")
	return strings.TrimSpace(string(b))
}

func osImage() string {
	b, err := os.ReadFile("/etc/os-release")
	if err != nil {
		return runtime.GOOS
	}
	for _, line := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(line, "PRETTY_NAME="); ok {
			return strings.Trim(v, `"`)
		}
	}
	return runtime.GOOS
}
