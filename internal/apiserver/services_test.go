package apiserver_test

import (
	"net/netip"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
)

var serviceCIDR = netip.MustParsePrefix("10.43.0.0/16")

func service(name string, typ corev1.ServiceType, clusterIP string, nodePorts ...int32) *corev1.Service {
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec:       corev1.ServiceSpec{Type: typ, ClusterIP: clusterIP, Selector: labelsOf("app", name)},
	}
	svc.Spec.Ports = []corev1.ServicePort{{Name: "http", Port: 80}, {Name: "https", Port: 443}}
	for i, np := range nodePorts {
		svc.Spec.Ports[i].NodePort = np
	}
	return svc
}

func wantClusterIP(t *testing.T, svc *corev1.Service) netip.Addr {
	t.Helper()
	ip, err := netip.ParseAddr(svc.Spec.ClusterIP)
	if err != nil || !serviceCIDR.Contains(ip) {
		t.Fatalf("clusterIP %q, want an address in %s", svc.Spec.ClusterIP, serviceCIDR)
	}
	if !slices.Equal(svc.Spec.ClusterIPs, []string{svc.Spec.ClusterIP}) {
		t.Errorf("clusterIPs %v, want [%s]", svc.Spec.ClusterIPs, svc.Spec.ClusterIP)
	}
	if !slices.Equal(svc.Spec.IPFamilies, []corev1.IPFamily{corev1.IPv4Protocol}) || svc.Spec.IPFamilyPolicy == nil || *svc.Spec.IPFamilyPolicy != corev1.IPFamilyPolicySingleStack {
		t.Errorf("ipFamilies %v policy %v, want [IPv4] SingleStack", svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy)
	}
	return ip
}

func nodePortsOf(svc *corev1.Service) []int32 {
	var out []int32
	for _, p := range svc.Spec.Ports {
		out = append(out, p.NodePort)
	}
	return out
}

func TestServices(t *testing.T) {
	c := startCluster(t)
	ns := c.namespace(t)
	svcs := c.Client.CoreV1().Services(ns)
	create := func(t *testing.T, svc *corev1.Service) *corev1.Service {
		t.Helper()
		return must[*corev1.Service](t)(svcs.Create(ctx(t), svc, metav1.CreateOptions{}))
	}

	t.Run("allocated ClusterIP", func(t *testing.T) {
		seen := map[netip.Addr]bool{}
		for _, name := range []string{"alloc-a", "alloc-b", "alloc-c"} {
			ip := wantClusterIP(t, create(t, service(name, "", "")))
			if seen[ip] {
				t.Errorf("%s allocated twice", ip)
			}
			seen[ip] = true
		}
	})

	t.Run("explicit ClusterIP", func(t *testing.T) {
		svc := create(t, service("explicit", corev1.ServiceTypeClusterIP, "10.43.100.10"))
		if svc.Spec.ClusterIP != "10.43.100.10" {
			t.Errorf("clusterIP %s, want 10.43.100.10", svc.Spec.ClusterIP)
		}
		wantClusterIP(t, svc)
		_, err := svcs.Create(ctx(t), service("duplicate", "", "10.43.100.10"), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "provided IP is already allocated")
		_, err = svcs.Create(ctx(t), service("outside", "", "10.99.0.1"), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "not in the valid range")
		_, err = svcs.Create(ctx(t), service("garbage", "", "not-an-ip"), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)

		// Deleting frees the address.
		must[struct{}](t)(struct{}{}, svcs.Delete(ctx(t), "explicit", metav1.DeleteOptions{}))
		create(t, service("explicit-again", "", "10.43.100.10"))
	})

	t.Run("dry run reserves nothing", func(t *testing.T) {
		must[*corev1.Service](t)(svcs.Create(ctx(t), service("dry", "", "10.43.100.11"), metav1.CreateOptions{DryRun: []string{metav1.DryRunAll}}))
		create(t, service("wet", "", "10.43.100.11"))
	})

	t.Run("headless", func(t *testing.T) {
		svc := create(t, service("headless", "", corev1.ClusterIPNone))
		if svc.Spec.ClusterIP != corev1.ClusterIPNone || !slices.Equal(svc.Spec.ClusterIPs, []string{corev1.ClusterIPNone}) {
			t.Errorf("headless: clusterIP %q clusterIPs %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
		}
		svc.Spec.ClusterIP, svc.Spec.ClusterIPs = "", nil
		svc.Labels = labelsOf("x", "y")
		svc = must[*corev1.Service](t)(svcs.Update(ctx(t), svc, metav1.UpdateOptions{}))
		if svc.Spec.ClusterIP != corev1.ClusterIPNone {
			t.Errorf("after an update: clusterIP %q, want None kept", svc.Spec.ClusterIP)
		}
	})

	t.Run("node ports", func(t *testing.T) {
		svc := create(t, service("np", corev1.ServiceTypeNodePort, ""))
		ports := nodePortsOf(svc)
		for _, p := range ports {
			if p < 30000 || p > 32767 {
				t.Errorf("nodePort %d outside 30000-32767", p)
			}
		}
		if ports[0] == ports[1] {
			t.Errorf("both ports got node port %d", ports[0])
		}
		wantClusterIP(t, svc)

		explicit := create(t, service("np-explicit", corev1.ServiceTypeNodePort, "", 31000))
		if explicit.Spec.Ports[0].NodePort != 31000 {
			t.Errorf("explicit nodePort: %v", nodePortsOf(explicit))
		}
		_, err := svcs.Create(ctx(t), service("np-dup", corev1.ServiceTypeNodePort, "", 31000), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "spec.ports[0].nodePort", "provided port is already allocated")
		_, err = svcs.Create(ctx(t), service("np-range", corev1.ServiceTypeNodePort, "", 40000), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "not in the valid range")

		// A failed create gives back what it took: the same explicit
		// address with another node port now succeeds.
		_, err = svcs.Create(ctx(t), service("np-fail", corev1.ServiceTypeNodePort, "10.43.100.20", 31000), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid)
		create(t, service("np-ok", corev1.ServiceTypeNodePort, "10.43.100.20", 31001))

		// Switching to ClusterIP frees the node ports.
		// (node ports and externalTrafficPolicy as they were: dropped.)
		explicit.Spec.Type = corev1.ServiceTypeClusterIP
		explicit = must[*corev1.Service](t)(svcs.Update(ctx(t), explicit, metav1.UpdateOptions{}))
		if got := nodePortsOf(explicit); got[0] != 0 || got[1] != 0 {
			t.Errorf("ClusterIP service kept node ports %v", got)
		}
		create(t, service("np-reuse", corev1.ServiceTypeNodePort, "", 31000))

		// Deleting frees them too.
		must[struct{}](t)(struct{}{}, svcs.Delete(ctx(t), "np-reuse", metav1.DeleteOptions{}))
		create(t, service("np-reuse-again", corev1.ServiceTypeNodePort, "", 31000))
	})

	t.Run("update keeps allocated values", func(t *testing.T) {
		svc := create(t, service("keep", corev1.ServiceTypeNodePort, ""))
		ip, ports := svc.Spec.ClusterIP, nodePortsOf(svc)
		tests := []struct {
			name   string
			update func(svc *corev1.Service) (*corev1.Service, error)
		}{
			{"PUT without clusterIP and nodePorts", func(svc *corev1.Service) (*corev1.Service, error) {
				svc.Spec.ClusterIP, svc.Spec.ClusterIPs, svc.Spec.IPFamilies, svc.Spec.IPFamilyPolicy = "", nil, nil, nil
				svc.Spec.Ports[0].NodePort, svc.Spec.Ports[1].NodePort = 0, 0
				svc.Spec.Selector = labelsOf("app", "other")
				return svcs.Update(ctx(t), svc, metav1.UpdateOptions{})
			}},
			{"ports reordered", func(svc *corev1.Service) (*corev1.Service, error) {
				svc.Spec.Ports = []corev1.ServicePort{{Name: "https", Port: 443}, {Name: "http", Port: 80}}
				return svcs.Update(ctx(t), svc, metav1.UpdateOptions{})
			}},
			{"merge patch", func(*corev1.Service) (*corev1.Service, error) {
				return svcs.Patch(ctx(t), "keep", types.MergePatchType, []byte(`{"metadata":{"labels":{"p":"q"}}}`), metav1.PatchOptions{})
			}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				cur := must[*corev1.Service](t)(svcs.Get(ctx(t), "keep", metav1.GetOptions{}))
				out := must[*corev1.Service](t)(tt.update(cur))
				if out.Spec.ClusterIP != ip {
					t.Errorf("clusterIP %s, want %s kept", out.Spec.ClusterIP, ip)
				}
				wantClusterIP(t, out)
				got := map[string]int32{}
				for _, p := range out.Spec.Ports {
					got[p.Name] = p.NodePort
				}
				if got["http"] != ports[0] || got["https"] != ports[1] {
					t.Errorf("node ports %v, want http=%d https=%d kept", got, ports[0], ports[1])
				}
			})
		}
		// Still reserved.
		_, err := svcs.Create(ctx(t), service("steal", "", ip), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "provided IP is already allocated")
		_, err = svcs.Create(ctx(t), service("steal-port", corev1.ServiceTypeNodePort, "", ports[0]), metav1.CreateOptions{})
		wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "provided port is already allocated")

		t.Run("clusterIP is immutable", func(t *testing.T) {
			cur := must[*corev1.Service](t)(svcs.Get(ctx(t), "keep", metav1.GetOptions{}))
			cur.Spec.ClusterIP, cur.Spec.ClusterIPs = "10.43.100.30", []string{"10.43.100.30"}
			_, err := svcs.Update(ctx(t), cur, metav1.UpdateOptions{})
			wantAPIError(t, err, 422, metav1.StatusReasonInvalid, "spec.clusterIPs[0]", "may not change once set")
			create(t, service("immutable-check", "", "10.43.100.30")) // not taken by the failed update
		})
	})

	t.Run("ExternalName holds nothing", func(t *testing.T) {
		svc := create(t, &corev1.Service{ObjectMeta: metav1.ObjectMeta{Name: "ext"}, Spec: corev1.ServiceSpec{Type: corev1.ServiceTypeExternalName, ExternalName: "example.com"}})
		if svc.Spec.ClusterIP != "" || len(svc.Spec.ClusterIPs) != 0 {
			t.Errorf("ExternalName service got clusterIP %q %v", svc.Spec.ClusterIP, svc.Spec.ClusterIPs)
		}
	})

}
