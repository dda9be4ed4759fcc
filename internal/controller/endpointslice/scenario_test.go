package endpointslice_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/util/retry"

	"github.com/gantry-dev/gantry/internal/controller/endpointslice"
	"github.com/gantry-dev/gantry/internal/fixture"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

const ns = "shop"

func eventually(t *testing.T, what string, cond func(ctx context.Context) (string, error)) {
	t.Helper()
	fixture.Await(t, 30*time.Second, what, cond)
}

// createPod creates a pod bound to node-1 whose container has port "http"
// = httpPort, then reports ip (if any) and readiness through the status
// subresource, as an agent would.
func createPod(t *testing.T, cs kubernetes.Interface, name, app string, httpPort int32, ip string, ready bool, mutate ...func(*corev1.Pod)) {
	t.Helper()
	p := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": app}},
		Spec: corev1.PodSpec{
			NodeName: "node-1",
			Containers: []corev1.Container{{Name: "c", Image: "nginx",
				Ports: []corev1.ContainerPort{{Name: "http", ContainerPort: httpPort}}}},
		},
	}
	for _, m := range mutate {
		m(p)
	}
	p, err := cs.CoreV1().Pods(ns).Create(t.Context(), p, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if ip == "" {
		return
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	// The scheduler may write the pod's status meanwhile: retry on
	// conflict with the current object.
	err = retry.RetryOnConflict(retry.DefaultRetry, func() error {
		p.Status.Phase = corev1.PodRunning
		p.Status.PodIP, p.Status.PodIPs = ip, []corev1.PodIP{{IP: ip}}
		p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
		_, err := cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{})
		if err != nil {
			if cur, gerr := cs.CoreV1().Pods(ns).Get(t.Context(), p.Name, metav1.GetOptions{}); gerr == nil {
				p = cur
			}
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
}

func setReady(t *testing.T, cs kubernetes.Interface, name string, ready bool) {
	t.Helper()
	p, err := cs.CoreV1().Pods(ns).Get(t.Context(), name, metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	status := corev1.ConditionFalse
	if ready {
		status = corev1.ConditionTrue
	}
	p.Status.Conditions = []corev1.PodCondition{{Type: corev1.PodReady, Status: status}}
	if _, err := cs.CoreV1().Pods(ns).UpdateStatus(t.Context(), p, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
}

func createService(t *testing.T, cs kubernetes.Interface, svc *corev1.Service) {
	t.Helper()
	if _, err := cs.CoreV1().Services(ns).Create(t.Context(), svc, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
}

// describe renders a service's slices as sorted lines
// "port=<n> <pod> <ip> ready=… serving=… terminating=… node=… zone=… host=…".
func describe(ctx context.Context, cs kubernetes.Interface, svc string) (lines []string, n int, err error) {
	list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=" + svc})
	if err != nil {
		return nil, 0, err
	}
	for _, s := range list.Items {
		if s.Labels[discoveryv1.LabelManagedBy] != endpointslice.ManagedBy {
			return nil, 0, fmt.Errorf("slice %s managed by %q", s.Name, s.Labels[discoveryv1.LabelManagedBy])
		}
		ports := make([]string, 0, len(s.Ports))
		for _, p := range s.Ports {
			ports = append(ports, fmt.Sprint(*p.Port))
		}
		for _, ep := range s.Endpoints {
			c := ep.Conditions
			line := fmt.Sprintf("port=%s %s %s ready=%v serving=%v terminating=%v node=%s zone=%s host=%s",
				strings.Join(ports, ","), ep.TargetRef.Name, strings.Join(ep.Addresses, ","), *c.Ready, *c.Serving, *c.Terminating,
				deref(ep.NodeName), deref(ep.Zone), deref(ep.Hostname))
			lines = append(lines, line)
		}
	}
	sort.Strings(lines)
	return lines, len(list.Items), nil
}

func deref(s *string) string {
	if s == nil {
		return "-"
	}
	return *s
}

func expectSlices(t *testing.T, cs kubernetes.Interface, svc string, want ...string) {
	t.Helper()
	sort.Strings(want)
	eventually(t, "slices of "+svc, func(ctx context.Context) (string, error) {
		got, _, err := describe(ctx, cs, svc)
		if err != nil {
			return "", err
		}
		if strings.Join(got, "\n") != strings.Join(want, "\n") {
			return fmt.Sprintf("got\n%s\nwant\n%s", strings.Join(got, "\n"), strings.Join(want, "\n")), nil
		}
		return "", nil
	})
}

func expectEndpoints(t *testing.T, cs kubernetes.Interface, svc, want string) {
	t.Helper()
	eventually(t, "endpoints of "+svc, func(ctx context.Context) (string, error) {
		ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, svc, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "no endpoints", nil
		}
		if err != nil {
			return "", err
		}
		var parts []string
		for _, s := range ep.Subsets {
			var ports, ready, notReady []string
			for _, p := range s.Ports {
				ports = append(ports, fmt.Sprint(p.Port))
			}
			for _, a := range s.Addresses {
				ready = append(ready, a.TargetRef.Name)
			}
			for _, a := range s.NotReadyAddresses {
				notReady = append(notReady, a.TargetRef.Name)
			}
			parts = append(parts, fmt.Sprintf("%s:%s/%s", strings.Join(ports, ","), strings.Join(ready, ","), strings.Join(notReady, ",")))
		}
		sort.Strings(parts)
		if got := strings.Join(parts, " "); got != want {
			return fmt.Sprintf("got %q, want %q", got, want), nil
		}
		return "", nil
	})
}

func TestScenarioEndpoints(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.CoreV1().Nodes().Create(ctx, &corev1.Node{ObjectMeta: metav1.ObjectMeta{
		Name: "node-1", Labels: map[string]string{corev1.LabelTopologyZone: "zone-a"},
	}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "web"},
			Ports:    []corev1.ServicePort{{Name: "http", Port: 80, TargetPort: intstr.FromString("http")}},
		},
	})
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "db"},
		Spec:       corev1.ServiceSpec{ClusterIP: corev1.ClusterIPNone, Selector: map[string]string{"app": "db"}},
	})
	// A service without selector: its user's Endpoints are left alone.
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "external"},
		Spec:       corev1.ServiceSpec{Ports: []corev1.ServicePort{{Port: 5432}}},
	})
	manual := &corev1.Endpoints{ObjectMeta: metav1.ObjectMeta{Name: "external"}, Subsets: []corev1.EndpointSubset{{
		Addresses: []corev1.EndpointAddress{{IP: "192.0.2.10"}}, Ports: []corev1.EndpointPort{{Port: 5432}},
	}}}
	if _, err := cs.CoreV1().Endpoints(ns).Create(ctx, manual, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}

	// An empty selector service gets one placeholder slice.
	eventually(t, "placeholder slice", func(ctx context.Context) (string, error) {
		lines, n, err := describe(ctx, cs, "web")
		if err != nil || (n == 1 && len(lines) == 0) {
			return "", err
		}
		return fmt.Sprintf("%d slices, endpoints %v", n, lines), nil
	})

	createPod(t, cs, "web-1", "web", 8080, "10.42.0.11", true)
	createPod(t, cs, "web-2", "web", 8080, "10.42.0.12", false)
	createPod(t, cs, "web-3", "web", 9090, "10.42.0.13", true) // same port name, another number
	createPod(t, cs, "web-4", "web", 8080, "", false)          // no IP yet: not an endpoint
	createPod(t, cs, "db-0", "db", 5432, "10.42.0.20", true, func(p *corev1.Pod) { p.Spec.Hostname, p.Spec.Subdomain = "db-0", "db" })

	expectSlices(t, cs, "web",
		"port=8080 web-1 10.42.0.11 ready=true serving=true terminating=false node=node-1 zone=zone-a host=-",
		"port=8080 web-2 10.42.0.12 ready=false serving=false terminating=false node=node-1 zone=zone-a host=-",
		"port=9090 web-3 10.42.0.13 ready=true serving=true terminating=false node=node-1 zone=zone-a host=-",
	)
	expectEndpoints(t, cs, "web", "8080:web-1/web-2 9090:web-3/")
	expectSlices(t, cs, "db", "port= db-0 10.42.0.20 ready=true serving=true terminating=false node=node-1 zone=zone-a host=db-0")
	expectEndpoints(t, cs, "db", ":db-0/")

	// Readiness flips are followed.
	setReady(t, cs, "web-2", true)
	setReady(t, cs, "web-1", false)
	expectEndpoints(t, cs, "web", "8080:web-2/web-1 9090:web-3/")

	// A terminating pod (graceful deletion, no agent to finish it) stays in
	// the slices with ready=false, serving=<its readiness>, terminating=true,
	// and leaves Endpoints.
	if err := cs.CoreV1().Pods(ns).Delete(ctx, "web-2", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	expectSlices(t, cs, "web",
		"port=8080 web-1 10.42.0.11 ready=false serving=false terminating=false node=node-1 zone=zone-a host=-",
		"port=8080 web-2 10.42.0.12 ready=false serving=true terminating=true node=node-1 zone=zone-a host=-",
		"port=9090 web-3 10.42.0.13 ready=true serving=true terminating=false node=node-1 zone=zone-a host=-",
	)
	expectEndpoints(t, cs, "web", "8080:/web-1 9090:web-3/")

	// publishNotReadyAddresses: every endpoint ready, terminating included.
	svc, err := cs.CoreV1().Services(ns).Get(ctx, "web", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	svc.Spec.PublishNotReadyAddresses = true
	if _, err := cs.CoreV1().Services(ns).Update(ctx, svc, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	expectSlices(t, cs, "web",
		"port=8080 web-1 10.42.0.11 ready=true serving=false terminating=false node=node-1 zone=zone-a host=-",
		"port=8080 web-2 10.42.0.12 ready=true serving=true terminating=true node=node-1 zone=zone-a host=-",
		"port=9090 web-3 10.42.0.13 ready=true serving=true terminating=false node=node-1 zone=zone-a host=-",
	)
	expectEndpoints(t, cs, "web", "8080:web-1,web-2/ 9090:web-3/")

	// The selector-less service's Endpoints were never touched, and it has
	// no managed slices.
	got, err := cs.CoreV1().Endpoints(ns).Get(ctx, "external", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Subsets) != 1 || len(got.Subsets[0].Addresses) != 1 || got.Subsets[0].Addresses[0].IP != "192.0.2.10" {
		t.Fatalf("user Endpoints changed: %+v", got.Subsets)
	}
	if _, n, err := describe(ctx, cs, "external"); err != nil || n != 0 {
		t.Fatalf("selector-less service has %d slices (%v)", n, err)
	}

	// Deleting a service removes its Endpoints and (through the garbage
	// collector) its slices.
	if err := cs.CoreV1().Services(ns).Delete(ctx, "db", metav1.DeleteOptions{}); err != nil {
		t.Fatal(err)
	}
	eventually(t, "db endpoints and slices gone", func(ctx context.Context) (string, error) {
		_, err := cs.CoreV1().Endpoints(ns).Get(ctx, "db", metav1.GetOptions{})
		if err == nil {
			return "endpoints still there", nil
		}
		if !apierrors.IsNotFound(err) {
			return "", err
		}
		if _, n, err := describe(ctx, cs, "db"); err != nil || n > 0 {
			return fmt.Sprintf("%d slices left", n), err
		}
		return "", nil
	})
}

func TestScenarioSlicesHoldAtMost100(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster")
	}
	c := testcluster.Start(t)
	cs := c.Client
	ctx := t.Context()
	if _, err := cs.CoreV1().Namespaces().Create(ctx, &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	createService(t, cs, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "big"},
		Spec: corev1.ServiceSpec{
			Selector: map[string]string{"app": "big"},
			Ports:    []corev1.ServicePort{{Port: 80, TargetPort: intstr.FromInt32(8080)}},
		},
	})
	const n = 230
	for i := range n {
		createPod(t, cs, fmt.Sprintf("big-%03d", i), "big", 8080, fmt.Sprintf("10.42.%d.%d", i/200, i%200+1), true)
	}
	eventually(t, "230 endpoints in 3 slices", func(ctx context.Context) (string, error) {
		list, err := cs.DiscoveryV1().EndpointSlices(ns).List(ctx, metav1.ListOptions{LabelSelector: discoveryv1.LabelServiceName + "=big"})
		if err != nil {
			return "", err
		}
		total, sizes := 0, []int{}
		for _, s := range list.Items {
			if len(s.Endpoints) > 100 {
				return "", fmt.Errorf("slice %s has %d endpoints", s.Name, len(s.Endpoints))
			}
			total += len(s.Endpoints)
			sizes = append(sizes, len(s.Endpoints))
		}
		if total != n || len(list.Items) != 3 {
			return fmt.Sprintf("slice sizes %v", sizes), nil
		}
		return "", nil
	})
	expectEndpointsCount(t, cs, "big", n)
}

func expectEndpointsCount(t *testing.T, cs kubernetes.Interface, svc string, n int) {
	t.Helper()
	eventually(t, "endpoints of "+svc, func(ctx context.Context) (string, error) {
		ep, err := cs.CoreV1().Endpoints(ns).Get(ctx, svc, metav1.GetOptions{})
		if apierrors.IsNotFound(err) {
			return "no endpoints", nil
		}
		if err != nil {
			return "", err
		}
		got := 0
		for _, s := range ep.Subsets {
			got += len(s.Addresses)
		}
		if got != n {
			return fmt.Sprintf("%d ready addresses, want %d", got, n), nil
		}
		return "", nil
	})
}
