package api

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
)

// Tables of core/v1 resources other than pods and events.

func printServiceTable() *TableConvertor {
	spec := corev1.ServiceSpec{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Type", "string", spec["type"]),
			printCol("Cluster-IP", "string", spec["clusterIP"]),
			printCol("External-IP", "string", spec["externalIPs"]),
			printCol("Port(s)", "string", spec["ports"]),
			printAgeColumn(),
			printWideCol("Selector", "string", spec["selector"]),
		},
		func(svc *corev1.Service, now time.Time) []interface{} {
			clusterIP := "<none>"
			if len(svc.Spec.ClusterIPs) > 0 {
				clusterIP = svc.Spec.ClusterIPs[0]
			} else if svc.Spec.ClusterIP != "" {
				clusterIP = svc.Spec.ClusterIP
			}
			ports := printServicePorts(svc.Spec.Ports)
			if ports == "" {
				ports = "<none>"
			}
			return []interface{}{
				svc.Name, string(svc.Spec.Type), clusterIP, printServiceExternalIP(svc), ports,
				printAge(svc.CreationTimestamp, now), labels.FormatLabels(svc.Spec.Selector),
			}
		},
	)
}

// printServicePorts renders ports as "80/TCP" or, with a node port,
// "80:30080/TCP", comma separated.
func printServicePorts(ports []corev1.ServicePort) string {
	pieces := make([]string, len(ports))
	for i, p := range ports {
		if p.NodePort > 0 {
			pieces[i] = fmt.Sprintf("%d:%d/%s", p.Port, p.NodePort, p.Protocol)
		} else {
			pieces[i] = fmt.Sprintf("%d/%s", p.Port, p.Protocol)
		}
	}
	return strings.Join(pieces, ",")
}

// printServiceExternalIP is the EXTERNAL-IP cell: external IPs, the load
// balancer's ingress points ("<pending>" until it has some), the external
// name, "<none>" or, for an unknown type, "<unknown>".
func printServiceExternalIP(svc *corev1.Service) string {
	switch svc.Spec.Type {
	case corev1.ServiceTypeClusterIP, corev1.ServiceTypeNodePort:
		if len(svc.Spec.ExternalIPs) > 0 {
			return strings.Join(svc.Spec.ExternalIPs, ",")
		}
		return "<none>"
	case corev1.ServiceTypeLoadBalancer:
		lb := printLoadBalancerIngress(svc.Status.LoadBalancer.Ingress)
		if len(svc.Spec.ExternalIPs) > 0 {
			var results []string
			if lb != "" {
				results = append(results, strings.Split(lb, ",")...)
			}
			return strings.Join(append(results, svc.Spec.ExternalIPs...), ",")
		}
		if lb != "" {
			return lb
		}
		return "<pending>"
	case corev1.ServiceTypeExternalName:
		return svc.Spec.ExternalName
	}
	return "<unknown>"
}

// printLoadBalancerIngress joins the sorted, de-duplicated IPs (or host
// names) of load-balancer ingress points.
func printLoadBalancerIngress(ingress []corev1.LoadBalancerIngress) string {
	addrs := make([]string, 0, len(ingress))
	for _, in := range ingress {
		if in.IP != "" {
			addrs = append(addrs, in.IP)
		} else if in.Hostname != "" {
			addrs = append(addrs, in.Hostname)
		}
	}
	return printJoinAddresses(addrs)
}

// printJoinAddresses sorts and de-duplicates addrs and joins them with
// commas. Kubernetes cuts the result to 16 characters outside -o wide, but
// the API server always renders the wide form, so it is never cut here.
func printJoinAddresses(addrs []string) string {
	sort.Strings(addrs)
	uniq := addrs[:0]
	for i, a := range addrs {
		if i == 0 || a != addrs[i-1] {
			uniq = append(uniq, a)
		}
	}
	return strings.Join(uniq, ",")
}

func printEndpointsTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Endpoints", "string", corev1.Endpoints{}.SwaggerDoc()["subsets"]),
			printAgeColumn(),
		},
		func(ep *corev1.Endpoints, now time.Time) []interface{} {
			return []interface{}{ep.Name, printEndpointAddresses(ep), printAge(ep.CreationTimestamp, now)}
		},
	)
}

// printEndpointAddresses lists up to three "ip:port" endpoints (bare IPs for
// port-less subsets) and how many more there are; "<none>" without subsets.
func printEndpointAddresses(ep *corev1.Endpoints) string {
	if len(ep.Subsets) == 0 {
		return "<none>"
	}
	const max = 3
	var list []string
	more := false
	count := 0
	for i := range ep.Subsets {
		ss := &ep.Subsets[i]
		if len(ss.Ports) == 0 {
			// Headless services may have no ports.
			count += len(ss.Addresses)
			for _, addr := range ss.Addresses {
				if len(list) == max {
					more = true
					break
				}
				list = append(list, addr.IP)
			}
			continue
		}
		for _, port := range ss.Ports {
			count += len(ss.Addresses)
			for _, addr := range ss.Addresses {
				if len(list) == max {
					more = true
					break
				}
				list = append(list, net.JoinHostPort(addr.IP, strconv.Itoa(int(port.Port))))
			}
		}
	}
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	return ret
}

func printConfigMapTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Data", "string", corev1.ConfigMap{}.SwaggerDoc()["data"]),
			printAgeColumn(),
		},
		func(cm *corev1.ConfigMap, now time.Time) []interface{} {
			return []interface{}{cm.Name, int64(len(cm.Data) + len(cm.BinaryData)), printAge(cm.CreationTimestamp, now)}
		},
	)
}

func printSecretTable() *TableConvertor {
	doc := corev1.Secret{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Type", "string", doc["type"]),
			printCol("Data", "string", doc["data"]),
			printAgeColumn(),
		},
		func(s *corev1.Secret, now time.Time) []interface{} {
			// Kubernetes merges stringData into data before it prints.
			n := len(s.Data)
			for k := range s.StringData {
				if _, dup := s.Data[k]; !dup {
					n++
				}
			}
			return []interface{}{s.Name, string(s.Type), int64(n), printAge(s.CreationTimestamp, now)}
		},
	)
}

func printNamespaceTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Status", "string", "The status of the namespace"),
			printAgeColumn(),
		},
		func(ns *corev1.Namespace, now time.Time) []interface{} {
			return []interface{}{ns.Name, string(ns.Status.Phase), printAge(ns.CreationTimestamp, now)}
		},
	)
}

func printServiceAccountTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Secrets", "string", corev1.ServiceAccount{}.SwaggerDoc()["secrets"]),
			printAgeColumn(),
		},
		func(sa *corev1.ServiceAccount, now time.Time) []interface{} {
			return []interface{}{sa.Name, int64(len(sa.Secrets)), printAge(sa.CreationTimestamp, now)}
		},
	)
}

// Node roles come from node-role.kubernetes.io/<role> labels and the legacy
// kubernetes.io/role=<role> label.
const (
	printNodeRolePrefix = "node-role.kubernetes.io/"
	printNodeRoleLabel  = "kubernetes.io/role"
)

func printNodeTable() *TableConvertor {
	info := corev1.NodeSystemInfo{}.SwaggerDoc()
	addresses := corev1.NodeStatus{}.SwaggerDoc()["addresses"]
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Status", "string", "The status of the node"),
			printCol("Roles", "string", "The roles of the node"),
			printAgeColumn(),
			printCol("Version", "string", info["kubeletVersion"]),
			printWideCol("Internal-IP", "string", addresses),
			printWideCol("External-IP", "string", addresses),
			printWideCol("OS-Image", "string", info["osImage"]),
			printWideCol("Kernel-Version", "string", info["kernelVersion"]),
			printWideCol("Container-Runtime", "string", info["containerRuntimeVersion"]),
		},
		printNodeRow,
	)
}

func printNodeRow(node *corev1.Node, now time.Time) []interface{} {
	var status []string
	for _, c := range node.Status.Conditions {
		if c.Type != corev1.NodeReady {
			continue
		}
		// The last Ready condition wins, as in Kubernetes' condition map.
		if c.Status == corev1.ConditionTrue {
			status = []string{string(c.Type)}
		} else {
			status = []string{"Not" + string(c.Type)}
		}
	}
	if len(status) == 0 {
		status = []string{"Unknown"}
	}
	if node.Spec.Unschedulable {
		status = append(status, "SchedulingDisabled")
	}

	roleSet := map[string]bool{}
	for k, v := range node.Labels {
		switch {
		case strings.HasPrefix(k, printNodeRolePrefix):
			if role := strings.TrimPrefix(k, printNodeRolePrefix); role != "" {
				roleSet[role] = true
			}
		case k == printNodeRoleLabel && v != "":
			roleSet[v] = true
		}
	}
	roles := make([]string, 0, len(roleSet))
	for r := range roleSet {
		roles = append(roles, r)
	}
	sort.Strings(roles)
	rolesCell := strings.Join(roles, ",")
	if rolesCell == "" {
		rolesCell = "<none>"
	}

	info := node.Status.NodeInfo
	return []interface{}{
		node.Name, strings.Join(status, ","), rolesCell, printAge(node.CreationTimestamp, now), info.KubeletVersion,
		printNodeAddress(node, corev1.NodeInternalIP), printNodeAddress(node, corev1.NodeExternalIP),
		printOrUnknown(info.OSImage), printOrUnknown(info.KernelVersion), printOrUnknown(info.ContainerRuntimeVersion),
	}
}

// printNodeAddress returns the node's first address of type t, or "<none>".
func printNodeAddress(node *corev1.Node, t corev1.NodeAddressType) string {
	for _, a := range node.Status.Addresses {
		if a.Type == t {
			return a.Address
		}
	}
	return "<none>"
}

func printOrUnknown(s string) string {
	if s == "" {
		return "<unknown>"
	}
	return s
}

func printResourceQuotaTable() *TableConvertor {
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Request", "string", "Request represents a minimum amount of cpu/memory that a container may consume."),
			printCol("Limit", "string", "Limits control the maximum amount of cpu/memory that a container may use independent of contention on the node."),
			printAgeColumn(),
		},
		func(q *corev1.ResourceQuota, now time.Time) []interface{} {
			names := make([]string, 0, len(q.Status.Hard))
			for name := range q.Status.Hard {
				names = append(names, string(name))
			}
			sort.Strings(names)
			var requests, limits []string
			for _, name := range names {
				used := q.Status.Used[corev1.ResourceName(name)]
				hard := q.Status.Hard[corev1.ResourceName(name)]
				cell := fmt.Sprintf("%s: %s/%s", name, used.String(), hard.String())
				if pieces := strings.Split(name, "."); len(pieces) > 1 && pieces[0] == "limits" {
					limits = append(limits, cell)
				} else {
					requests = append(requests, cell)
				}
			}
			return []interface{}{q.Name, strings.Join(requests, ", "), strings.Join(limits, ", "), printAge(q.CreationTimestamp, now)}
		},
	)
}

// printBetaStorageClassAnnotation overrides spec.storageClassName of
// volumes and claims, as in Kubernetes.
const printBetaStorageClassAnnotation = "volume.beta.kubernetes.io/storage-class"

func printPersistentVolumeTable() *TableConvertor {
	spec := corev1.PersistentVolumeSpec{}.SwaggerDoc()
	status := corev1.PersistentVolumeStatus{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Capacity", "string", spec["capacity"]),
			printCol("Access Modes", "string", spec["accessModes"]),
			printCol("Reclaim Policy", "string", spec["persistentVolumeReclaimPolicy"]),
			printCol("Status", "string", status["phase"]),
			printCol("Claim", "string", spec["claimRef"]),
			printCol("StorageClass", "string", "StorageClass of the pv"),
			printCol("VolumeAttributesClass", "string", "VolumeAttributesClass of the pv"),
			printCol("Reason", "string", status["reason"]),
			printAgeColumn(),
			printWideCol("VolumeMode", "string", spec["volumeMode"]),
		},
		func(pv *corev1.PersistentVolume, now time.Time) []interface{} {
			claim := ""
			if pv.Spec.ClaimRef != nil {
				claim = pv.Spec.ClaimRef.Namespace + "/" + pv.Spec.ClaimRef.Name
			}
			capacity := pv.Spec.Capacity[corev1.ResourceStorage]
			phase := string(pv.Status.Phase)
			if pv.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			class, ok := pv.Annotations[printBetaStorageClassAnnotation]
			if !ok {
				class = pv.Spec.StorageClassName
			}
			vac := "<unset>"
			if pv.Spec.VolumeAttributesClassName != nil {
				vac = *pv.Spec.VolumeAttributesClassName
			}
			mode := "<unset>"
			if pv.Spec.VolumeMode != nil {
				mode = string(*pv.Spec.VolumeMode)
			}
			return []interface{}{
				pv.Name, capacity.String(), printAccessModes(pv.Spec.AccessModes), string(pv.Spec.PersistentVolumeReclaimPolicy),
				phase, claim, class, vac, pv.Status.Reason, printAge(pv.CreationTimestamp, now), mode,
			}
		},
	)
}

func printPersistentVolumeClaimTable() *TableConvertor {
	spec := corev1.PersistentVolumeClaimSpec{}.SwaggerDoc()
	status := corev1.PersistentVolumeClaimStatus{}.SwaggerDoc()
	return printTableFor(
		[]metav1.TableColumnDefinition{
			printNameColumn(),
			printCol("Status", "string", status["phase"]),
			printCol("Volume", "string", spec["volumeName"]),
			printCol("Capacity", "string", status["capacity"]),
			printCol("Access Modes", "string", status["accessModes"]),
			printCol("StorageClass", "string", "StorageClass of the pvc"),
			printCol("VolumeAttributesClass", "string", "VolumeAttributesClass of the pvc"),
			printAgeColumn(),
			printWideCol("VolumeMode", "string", spec["volumeMode"]),
		},
		func(pvc *corev1.PersistentVolumeClaim, now time.Time) []interface{} {
			phase := string(pvc.Status.Phase)
			if pvc.DeletionTimestamp != nil {
				phase = "Terminating"
			}
			capacity, modes := "", ""
			if pvc.Spec.VolumeName != "" {
				modes = printAccessModes(pvc.Status.AccessModes)
				q := pvc.Status.Capacity[corev1.ResourceStorage]
				capacity = q.String()
			}
			class, ok := pvc.Annotations[printBetaStorageClassAnnotation]
			if !ok && pvc.Spec.StorageClassName != nil {
				class = *pvc.Spec.StorageClassName
			}
			vac := "<unset>"
			if pvc.Spec.VolumeAttributesClassName != nil {
				vac = *pvc.Spec.VolumeAttributesClassName
			}
			mode := "<unset>"
			if pvc.Spec.VolumeMode != nil {
				mode = string(*pvc.Spec.VolumeMode)
			}
			return []interface{}{
				pvc.Name, phase, pvc.Spec.VolumeName, capacity, modes, class, vac,
				printAge(pvc.CreationTimestamp, now), mode,
			}
		},
	)
}

// printAccessModes abbreviates access modes in Kubernetes' fixed order:
// RWO, ROX, RWX, RWOP.
func printAccessModes(modes []corev1.PersistentVolumeAccessMode) string {
	has := map[corev1.PersistentVolumeAccessMode]bool{}
	for _, m := range modes {
		has[m] = true
	}
	var out []string
	for _, m := range []struct {
		mode  corev1.PersistentVolumeAccessMode
		short string
	}{
		{corev1.ReadWriteOnce, "RWO"},
		{corev1.ReadOnlyMany, "ROX"},
		{corev1.ReadWriteMany, "RWX"},
		{corev1.ReadWriteOncePod, "RWOP"},
	} {
		if has[m.mode] {
			out = append(out, m.short)
		}
	}
	return strings.Join(out, ",")
}
