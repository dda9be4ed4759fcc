package servicelb_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/fields"
	"k8s.io/client-go/kubernetes"

	"github.com/gantry-dev/gantry/internal/controller/servicelb"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const scenarioTimeout = 30 * time.Second

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, scenarioTimeout, what, cond)
}

// hollowNode registers a Node with the given addresses ("Type=IP") and a
// Ready condition, and keeps its lease renewed, as an agent would.
func hollowNode(t *testing.T, c *testcluster.Cluster, name string, addrs ...string) {
	t.Helper()
	cs := c.Client
	if _, err := cs.CoreV1().Nodes().Create(t.Context(), &corev1.Node{ObjectMeta: metav1.ObjectMeta{Name: name}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c.Heartbeat(t, name)
	updateNode(t, cs, name, func(n *corev1.Node) {
		now := metav1.Now()
		n.Status.Conditions = []corev1.NodeCondition{{Type: corev1.NodeReady, Status: corev1.ConditionTrue, Reason: "KubeletReady", LastHeartbeatTime: now, LastTransitionTime: now}}
		n.Status.Addresses = []corev1.NodeAddress{{Type: corev1.NodeHostName, Address: name}}
		for _, a := range addrs {
			typ, ip, _ := strings.Cut(a, "=")
			n.Status.Addresses = append(n.Status.Addresses, corev1.NodeAddress{Type: corev1.NodeAddressType(typ), Address: ip})
		}
	})
}

// updateNode applies change to the node (status and spec), retrying on conflicts.
func updateNode(t *testing.T, cs kubernetes.Interface, name string, change func(*corev1.Node)) {
	t.Helper()
	eventually(t, "update node "+name, func(ctx context.Context) (string, error) {
		n, err := cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		change(n)
		if _, err = cs.CoreV1().Nodes().UpdateStatus(ctx, n, metav1.UpdateOptions{}); err == nil {
			n, err = cs.CoreV1().Nodes().Get(ctx, name, metav1.GetOptions{})
			if err == nil {
				change(n)
				_, err = cs.CoreV1().Nodes().Update(ctx, n, metav1.UpdateOptions{})
			}
		}
		if apierrors.IsConflict(err) {
			return err.Error(), nil
		}
		return "", err
	})
}

// updateService applies change to the service's spec, retrying on conflicts.
func updateService(t *testing.T, cs kubernetes.Interface, name string, change func(*corev1.Service)) {
	t.Helper()
	eventually(t, "update service "+name, func(ctx context.Context) (string, error) {
		s, err := cs.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		change(s)
		_, err = cs.CoreV1().Services("default").Update(ctx, s, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return err.Error(), nil
		}
		return "", err
	})
}

func createLB(t *testing.T, cs kubernetes.Interface, name string, port int32, class string) {
	t.Helper()
	svc := &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Spec: corev1.ServiceSpec{
			Type:     corev1.ServiceTypeLoadBalancer,
			Selector: map[string]string{"app": name},
			Ports:    []corev1.ServicePort{{Name: "http", Port: port}},
		},
	}
	if class != "" {
		svc.Spec.LoadBalancerClass = &class
	}
	if _, err := cs.CoreV1().Services("default").Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// hasIngress waits until the service's ingress IPs are want (nil: none),
// every entry ipMode VIP.
func hasIngress(t *testing.T, cs kubernetes.Interface, name string, want ...string) {
	t.Helper()
	eventually(t, fmt.Sprintf("service %s ingress %v", name, want), func(ctx context.Context) (string, error) {
		got, err := ingressIPs(ctx, cs, name)
		if err != nil {
			return "", err
		}
		if !slices.Equal(got, want) {
			return fmt.Sprintf("ingress %v", got), nil
		}
		return "", nil
	})
}

// ingressIPs returns the service's ingress IPs, marking those whose ipMode
// is not VIP.
func ingressIPs(ctx context.Context, cs kubernetes.Interface, name string) ([]string, error) {
	s, err := cs.CoreV1().Services("default").Get(ctx, name, metav1.GetOptions{})
	if err != nil {
		return nil, err
	}
	var got []string
	for _, in := range s.Status.LoadBalancer.Ingress {
		ip := in.IP
		if in.IPMode == nil || *in.IPMode != corev1.LoadBalancerIPModeVIP {
			ip += " (ipMode not VIP)"
		}
		got = append(got, ip)
	}
	return got, nil
}

// findEvent waits for an event of reason about service name whose message
// contains text, from the controller.
func findEvent(t *testing.T, cs kubernetes.Interface, name, typ, reason, text string) {
	t.Helper()
	eventually(t, fmt.Sprintf("%s event on %s", reason, name), func(ctx context.Context) (string, error) {
		list, err := cs.CoreV1().Events("default").List(ctx, metav1.ListOptions{FieldSelector: fields.OneTermEqualSelector("involvedObject.name", name).String()})
		if err != nil {
			return "", err
		}
		var seen []string
		for _, e := range list.Items {
			if e.InvolvedObject.Kind == "Service" && e.Reason == reason && e.Type == typ && e.Source.Component == servicelb.Component && strings.Contains(e.Message, text) {
				return "", nil
			}
			seen = append(seen, e.Type+" "+e.Reason+": "+e.Message)
		}
		return fmt.Sprintf("events %q", seen), nil
	})
}

func TestScenarioLoadBalancer(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client
	hollowNode(t, c, "n1", "InternalIP=10.10.0.1")
	hollowNode(t, c, "n2", "InternalIP=10.10.0.2", "ExternalIP=203.0.113.2")

	createLB(t, cs, "web", 80, "")
	hasIngress(t, cs, "web", "10.10.0.1", "10.10.0.2", "203.0.113.2")
	findEvent(t, cs, "web", corev1.EventTypeNormal, servicelb.ReasonEnsuredLoadBalancer, "10.10.0.1, 10.10.0.2, 203.0.113.2")

	// Another implementation's class is left alone, even on a free port.
	createLB(t, cs, "metal", 8080, "metallb.io/metallb")

	// A second service on the same port stays pending and says why.
	createLB(t, cs, "web2", 80, servicelb.Class)
	findEvent(t, cs, "web2", corev1.EventTypeWarning, servicelb.ReasonPortConflict, "port 80/TCP is already used by LoadBalancer service default/web")
	if got, err := ingressIPs(t.Context(), cs, "web2"); err != nil || len(got) > 0 {
		t.Fatalf("pending web2 has ingress %v (%v)", got, err)
	}

	// Node changes move the addresses: a cordoned node leaves.
	updateNode(t, cs, "n2", func(n *corev1.Node) { n.Spec.Unschedulable = true })
	hasIngress(t, cs, "web", "10.10.0.1")

	// The holder goes away: the waiting service gets the port.
	if err := cs.CoreV1().Services("default").Delete(t.Context(), "web", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	hasIngress(t, cs, "web2", "10.10.0.1")
	updateNode(t, cs, "n2", func(n *corev1.Node) { n.Spec.Unschedulable = false })
	hasIngress(t, cs, "web2", "10.10.0.1", "10.10.0.2", "203.0.113.2")

	// No longer a LoadBalancer: the status is cleared.
	updateService(t, cs, "web2", func(s *corev1.Service) {
		s.Spec.Type = corev1.ServiceTypeClusterIP
		s.Spec.LoadBalancerClass = nil
		s.Spec.AllocateLoadBalancerNodePorts = nil
		s.Spec.ExternalTrafficPolicy = ""
		for i := range s.Spec.Ports {
			s.Spec.Ports[i].NodePort = 0
		}
	})
	hasIngress(t, cs, "web2") // the API server clears it with the type, as Kubernetes'
	// Addresses written by hand on a service that is not a LoadBalancer
	// are removed by the controller.
	eventually(t, "write ingress on a ClusterIP service", func(ctx context.Context) (string, error) {
		s, err := cs.CoreV1().Services("default").Get(ctx, "web2", metav1.GetOptions{})
		if err != nil {
			return "", err
		}
		s.Status.LoadBalancer.Ingress = []corev1.LoadBalancerIngress{{IP: "192.0.2.9"}}
		_, err = cs.CoreV1().Services("default").UpdateStatus(ctx, s, metav1.UpdateOptions{})
		if apierrors.IsConflict(err) {
			return err.Error(), nil
		}
		return "", err
	})
	hasIngress(t, cs, "web2")
	findEvent(t, cs, "web2", corev1.EventTypeNormal, servicelb.ReasonDeletedLoadBalancer, "of type ClusterIP")

	// By now the controller has processed every service several times.
	if got, err := ingressIPs(t.Context(), cs, "metal"); err != nil || len(got) > 0 {
		t.Fatalf("service of another loadBalancerClass got ingress %v (%v)", got, err)
	}
}
