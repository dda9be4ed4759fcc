package agent_test

import (
	"context"
	"fmt"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	"k8s.io/apimachinery/pkg/api/resource"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/intstr"
	"k8s.io/client-go/kubernetes"
	"k8s.io/utils/ptr"

	"github.com/gantry-dev/gantry/internal/agent"
	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// env is one cluster with one agent, shared by the scenarios of a test.
type env struct {
	c     *testcluster.Cluster
	agent *testcluster.Agent
	cs    kubernetes.Interface
	ns    string
}

func newEnv(t *testing.T) *env {
	t.Helper()
	c := testcluster.Start(t)
	a := c.AddAgent(t, "node-a", nil)
	e := &env{c: c, agent: a, cs: c.Client, ns: "default"}
	e.waitNode(t)
	return e
}

func (e *env) waitNode(t *testing.T) *corev1.Node {
	t.Helper()
	var node *corev1.Node
	poll(t, 30*time.Second, "node registered with a pod CIDR and Ready", func() bool {
		n, err := e.cs.CoreV1().Nodes().Get(t.Context(), e.agent.Name, metav1.GetOptions{})
		if err != nil || n.Spec.PodCIDR == "" {
			return false
		}
		node = n
		for _, c := range n.Status.Conditions {
			if c.Type == corev1.NodeReady && c.Status == corev1.ConditionTrue {
				return true
			}
		}
		return false
	})
	return node
}

// poll calls cond until it holds or the deadline passes.
func poll(t *testing.T, timeout time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for %s", timeout, what)
		}
		time.Sleep(20 * time.Millisecond) // polling interval, not synchronisation
	}
}

func (e *env) createPod(t *testing.T, pod *corev1.Pod) *corev1.Pod {
	t.Helper()
	pod.Namespace = e.ns
	pod.Spec.NodeName = e.agent.Name
	p, err := e.cs.CoreV1().Pods(e.ns).Create(t.Context(), pod, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// waitPod polls the pod until cond holds and returns it.
func (e *env) waitPod(t *testing.T, name, what string, cond func(*corev1.Pod) bool) *corev1.Pod {
	t.Helper()
	var last *corev1.Pod
	deadline := time.Now().Add(30 * time.Second)
	for {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), name, metav1.GetOptions{})
		if err == nil {
			last = p
			if cond(p) {
				return p
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("pod %s: timed out waiting for %s; status: %+v", name, what, statusSummary(last))
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func statusSummary(p *corev1.Pod) string {
	if p == nil {
		return "<none>"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "phase=%s ip=%s", p.Status.Phase, p.Status.PodIP)
	for _, c := range append(p.Status.InitContainerStatuses, p.Status.ContainerStatuses...) {
		fmt.Fprintf(&b, " [%s restarts=%d ready=%v %+v last=%+v]", c.Name, c.RestartCount, c.Ready, c.State, c.LastTerminationState)
	}
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, " %s=%s", c.Type, c.Status)
	}
	return b.String()
}

func condition(p *corev1.Pod, t corev1.PodConditionType) corev1.ConditionStatus {
	for _, c := range p.Status.Conditions {
		if c.Type == t {
			return c.Status
		}
	}
	return ""
}

func isReady(p *corev1.Pod) bool { return condition(p, corev1.PodReady) == corev1.ConditionTrue }

func pod(name string, containers ...corev1.Container) *corev1.Pod {
	return &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Labels: map[string]string{"app": name}},
		Spec:       corev1.PodSpec{Containers: containers, TerminationGracePeriodSeconds: ptr.To(int64(5))},
	}
}

func ctr(name, image string) corev1.Container {
	return corev1.Container{Name: name, Image: image, ImagePullPolicy: corev1.PullIfNotPresent}
}

func TestNodeRegistration(t *testing.T) {
	e := newEnv(t)
	n := e.waitNode(t)
	for _, r := range []corev1.ResourceName{corev1.ResourceCPU, corev1.ResourceMemory, corev1.ResourcePods} {
		q := n.Status.Allocatable[r]
		if q.IsZero() {
			t.Errorf("allocatable %s is zero: %v", r, n.Status.Allocatable)
		}
	}
	if q := n.Status.Capacity[corev1.ResourcePods]; q.Value() != 110 {
		t.Errorf("pods capacity %v, want 110", q.String())
	}
	for _, l := range []string{corev1.LabelHostname, corev1.LabelOSStable, corev1.LabelArchStable} {
		if n.Labels[l] == "" {
			t.Errorf("label %s missing: %v", l, n.Labels)
		}
	}
	if n.Status.NodeInfo.ContainerRuntimeVersion != "fake://0.1.0" || n.Status.NodeInfo.KubeletVersion == "" {
		t.Errorf("nodeInfo %+v", n.Status.NodeInfo)
	}
	var hasIP bool
	for _, a := range n.Status.Addresses {
		hasIP = hasIP || a.Type == corev1.NodeInternalIP
	}
	if !hasIP {
		t.Errorf("no InternalIP in %v", n.Status.Addresses)
	}
	l, err := e.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(t.Context(), n.Name, metav1.GetOptions{})
	if err != nil {
		t.Fatalf("lease: %v", err)
	}
	first := l.Spec.RenewTime.Time
	poll(t, 10*time.Second, "lease renewed", func() bool {
		l, err := e.cs.CoordinationV1().Leases(corev1.NamespaceNodeLease).Get(t.Context(), n.Name, metav1.GetOptions{})
		return err == nil && l.Spec.RenewTime.After(first)
	})
}

// server is a fake program that listens on port and serves until stopped.
func server(port int) fake.Program {
	return func(ctx context.Context, p *fake.Process) int {
		ln, err := p.Listen(port)
		if err != nil {
			fmt.Fprintln(p.Stderr(), err)
			return 1
		}
		defer ln.Close()
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok")
				c.Close()
			}
		}()
		fmt.Fprintln(p.Stdout(), "serving")
		select {
		case <-ctx.Done():
		case <-p.Signals():
		}
		return 0
	}
}

func TestPodLifecycle(t *testing.T) {
	e := newEnv(t)
	rt := e.agent.Runtime
	rt.AddImage("web:1", fake.Image{Program: server(8080)})
	rt.AddImage("sidecar:1", fake.Image{Program: func(ctx context.Context, p *fake.Process) int {
		// Reaches the main container over the pod's localhost.
		for ctx.Err() == nil {
			c, err := p.Dial(ctx, "127.0.0.1:8080")
			if err == nil {
				c.Close()
				fmt.Fprintln(p.Stdout(), "reached web")
				<-ctx.Done()
				return 0
			}
			time.Sleep(10 * time.Millisecond)
		}
		return 0
	}})
	rt.AddImage("crash:1", fake.Image{Program: fake.ExitAfter(0, 3)})
	rt.AddImage("done:1", fake.Image{Program: fake.ExitAfter(0, 0)})

	t.Run("two containers share the pod network and become ready", func(t *testing.T) {
		web := ctr("web", "web:1")
		web.Ports = []corev1.ContainerPort{{Name: "http", ContainerPort: 8080}}
		web.ReadinessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{HTTPGet: &corev1.HTTPGetAction{Path: "/", Port: intstr.FromString("http")}}, PeriodSeconds: 1}
		e.createPod(t, pod("web", web, ctr("sidecar", "sidecar:1")))
		p := e.waitPod(t, "web", "Ready", isReady)
		if p.Status.Phase != corev1.PodRunning {
			t.Errorf("phase %s", p.Status.Phase)
		}
		node := e.waitNode(t)
		_, cidr, _ := net.ParseCIDR(node.Spec.PodCIDR)
		if ip := net.ParseIP(p.Status.PodIP); ip == nil || !cidr.Contains(ip) {
			t.Errorf("pod IP %q not in node pod CIDR %s", p.Status.PodIP, node.Spec.PodCIDR)
		}
		for _, cs := range p.Status.ContainerStatuses {
			if !strings.HasPrefix(cs.ContainerID, "fake://") || cs.State.Running == nil || !cs.Ready {
				t.Errorf("container status %+v", cs)
			}
		}
		if p.Status.QOSClass != corev1.PodQOSBestEffort || p.Status.HostIP == "" || p.Status.StartTime == nil {
			t.Errorf("qos %q hostIP %q startTime %v", p.Status.QOSClass, p.Status.HostIP, p.Status.StartTime)
		}
		for _, c := range []corev1.PodConditionType{corev1.PodInitialized, corev1.ContainersReady, corev1.PodReadyToStartContainers} {
			if condition(p, c) != corev1.ConditionTrue {
				t.Errorf("condition %s = %s", c, condition(p, c))
			}
		}
	})

	t.Run("crash loop backs off and keeps the last state", func(t *testing.T) {
		e.createPod(t, pod("crash", ctr("app", "crash:1")))
		p := e.waitPod(t, "crash", "CrashLoopBackOff after two restarts", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 2 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CrashLoopBackOff"
		})
		cs := p.Status.ContainerStatuses[0]
		if lt := cs.LastTerminationState.Terminated; lt == nil || lt.ExitCode != 3 || lt.Reason != "Error" {
			t.Errorf("last termination state %+v", cs.LastTerminationState)
		}
		if !strings.Contains(cs.State.Waiting.Message, "back-off") {
			t.Errorf("waiting message %q", cs.State.Waiting.Message)
		}
		if p.Status.Phase != corev1.PodRunning || isReady(p) {
			t.Errorf("phase %s ready %v", p.Status.Phase, isReady(p))
		}
	})

	t.Run("restartPolicy Never ends in Succeeded or Failed", func(t *testing.T) {
		ok := pod("ok", ctr("app", "done:1"))
		ok.Spec.RestartPolicy = corev1.RestartPolicyNever
		e.createPod(t, ok)
		bad := pod("bad", ctr("app", "crash:1"))
		bad.Spec.RestartPolicy = corev1.RestartPolicyNever
		e.createPod(t, bad)
		p := e.waitPod(t, "ok", "Succeeded", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodSucceeded })
		if term := p.Status.ContainerStatuses[0].State.Terminated; term == nil || term.Reason != "Completed" {
			t.Errorf("terminated %+v", term)
		}
		p = e.waitPod(t, "bad", "Failed", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodFailed })
		if st := p.Status.ContainerStatuses[0]; st.RestartCount != 0 || st.State.Terminated == nil || st.State.Terminated.ExitCode != 3 {
			t.Errorf("status %+v", st)
		}
	})

	t.Run("init containers run in order before the app", func(t *testing.T) {
		p := pod("init", ctr("app", "web:1"))
		p.Spec.InitContainers = []corev1.Container{ctr("first", "done:1"), ctr("second", "done:1")}
		e.createPod(t, p)
		got := e.waitPod(t, "init", "Ready", isReady)
		for _, ic := range got.Status.InitContainerStatuses {
			if ic.State.Terminated == nil || ic.State.Terminated.Reason != "Completed" {
				t.Errorf("init container %s: %+v", ic.Name, ic.State)
			}
		}
		first := got.Status.InitContainerStatuses[0].State.Terminated.FinishedAt
		second := got.Status.InitContainerStatuses[1].State.Terminated.StartedAt
		if second.Before(&first) {
			t.Errorf("second init container started %v before the first finished %v", second, first)
		}
	})

	t.Run("failing liveness probe restarts the container", func(t *testing.T) {
		c := ctr("app", "web:1")
		c.LivenessProbe = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{TCPSocket: &corev1.TCPSocketAction{Port: intstr.FromInt32(9999)}}, PeriodSeconds: 1, FailureThreshold: 2}
		e.createPod(t, pod("liveness", c))
		e.waitPod(t, "liveness", "a restart", func(p *corev1.Pod) bool {
			cs := p.Status.ContainerStatuses
			return len(cs) == 1 && cs[0].RestartCount >= 1
		})
	})

	t.Run("graceful deletion stops containers and removes the pod", func(t *testing.T) {
		var termed atomic.Bool
		rt.AddImage("graceful:1", fake.Image{Program: func(ctx context.Context, p *fake.Process) int {
			select {
			case <-p.Signals():
				termed.Store(true)
				return 0
			case <-ctx.Done():
				return 137
			}
		}})
		e.createPod(t, pod("graceful", ctr("app", "graceful:1")))
		p := e.waitPod(t, "graceful", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if err := e.cs.CoreV1().Pods(e.ns).Delete(t.Context(), "graceful", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "pod object removed", func() bool {
			_, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), "graceful", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		if !termed.Load() {
			t.Error("the container was not sent SIGTERM")
		}
		poll(t, 10*time.Second, "containers removed", func() bool {
			sbs, _ := rt.ListSandboxes(t.Context(), fakeFilter(p))
			return len(sbs) == 0
		})
	})
}

func TestConfiguration(t *testing.T) {
	e := newEnv(t)
	rt := e.agent.Runtime
	var env atomic.Value
	var file atomic.Value
	rt.AddImage("reader:1", fake.Image{Program: func(ctx context.Context, p *fake.Process) int {
		env.Store(strings.Join(p.Environ(), "\n"))
		for {
			if b, err := p.ReadFile("/config/greeting"); err == nil {
				file.Store(string(b))
			}
			select {
			case <-ctx.Done():
				return 0
			case <-p.Signals():
				return 0
			case <-time.After(20 * time.Millisecond):
			}
		}
	}})
	ctx := t.Context()
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Create(ctx, &corev1.ConfigMap{ObjectMeta: metav1.ObjectMeta{Name: "cfg"}, Data: map[string]string{"greeting": "hello", "COLOR": "blue"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := e.cs.CoreV1().Secrets(e.ns).Create(ctx, &corev1.Secret{ObjectMeta: metav1.ObjectMeta{Name: "sec"}, StringData: map[string]string{"password": "s3cret"}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	c := ctr("app", "reader:1")
	c.EnvFrom = []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}, Prefix: "CFG_"}}
	c.Env = []corev1.EnvVar{
		{Name: "PASSWORD", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "sec"}, Key: "password"}}},
		{Name: "POD_NAME", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		{Name: "POD_IP", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "status.podIP"}}},
		{Name: "MEM_LIMIT", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.memory", Divisor: resource.MustParse("1Mi")}}},
		{Name: "GREETING", Value: "$(CFG_greeting) world"},
	}
	c.Resources.Limits = corev1.ResourceList{corev1.ResourceMemory: resource.MustParse("64Mi")}
	c.VolumeMounts = []corev1.VolumeMount{{Name: "config", MountPath: "/config"}}
	p := pod("reader", c)
	p.Spec.Volumes = []corev1.Volume{{Name: "config", VolumeSource: corev1.VolumeSource{ConfigMap: &corev1.ConfigMapVolumeSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}}}}
	e.createPod(t, p)
	got := e.waitPod(t, "reader", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
	poll(t, 10*time.Second, "environment read", func() bool { return env.Load() != nil })
	vars := env.Load().(string)
	for _, want := range []string{"CFG_COLOR=blue", "PASSWORD=s3cret", "POD_NAME=reader", "POD_IP=" + got.Status.PodIP, "MEM_LIMIT=64", "GREETING=hello world", "KUBERNETES_SERVICE_HOST="} {
		if !strings.Contains(vars, want) {
			t.Errorf("environment lacks %q:\n%s", want, vars)
		}
	}
	poll(t, 10*time.Second, "config file read", func() bool { return file.Load() == "hello" })

	// The file changes in the running container when the ConfigMap does.
	cm, err := e.cs.CoreV1().ConfigMaps(e.ns).Get(ctx, "cfg", metav1.GetOptions{})
	if err != nil {
		t.Fatal(err)
	}
	cm.Data["greeting"] = "bonjour"
	if _, err := e.cs.CoreV1().ConfigMaps(e.ns).Update(ctx, cm, metav1.UpdateOptions{}); err != nil {
		t.Fatal(err)
	}
	poll(t, 10*time.Second, "config file updated in the running container", func() bool { return file.Load() == "bonjour" })
	if p := e.waitPod(t, "reader", "still running", func(*corev1.Pod) bool { return true }); p.Status.ContainerStatuses[0].RestartCount != 0 {
		t.Errorf("container restarted for a ConfigMap change")
	}

	// A missing key is explained in the container's status.
	bad := ctr("app", "reader:1")
	bad.Env = []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nope"}}}}
	e.createPod(t, pod("missing-key", bad))
	got = e.waitPod(t, "missing-key", "CreateContainerConfigError", func(p *corev1.Pod) bool {
		cs := p.Status.ContainerStatuses
		return len(cs) == 1 && cs[0].State.Waiting != nil && cs[0].State.Waiting.Reason == "CreateContainerConfigError"
	})
	if msg := got.Status.ContainerStatuses[0].State.Waiting.Message; msg != "couldn't find key nope in ConfigMap default/cfg" {
		t.Errorf("message %q", msg)
	}
}

func TestAgentRestartAdoptsContainers(t *testing.T) {
	e := newEnv(t)
	e.agent.Runtime.AddImage("web:1", fake.Image{Program: server(8080)})
	e.createPod(t, pod("adopted", ctr("app", "web:1")))
	before := e.waitPod(t, "adopted", "Ready", isReady)
	e.agent.Stop()
	e.agent.Start()
	// The restarted agent reports the pod again (a status write with the
	// same container) and never restarts it.
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		p, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), "adopted", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cs := p.Status.ContainerStatuses[0]
		if cs.ContainerID != before.Status.ContainerStatuses[0].ContainerID || cs.RestartCount != 0 {
			t.Fatalf("container changed after the agent restarted: %+v", cs)
		}
		time.Sleep(50 * time.Millisecond)
	}
	e.waitPod(t, "adopted", "Ready again", isReady)
	ctrs, err := e.agent.Runtime.ListContainers(t.Context(), containerFilter(before))
	if err != nil || len(ctrs) != 1 {
		t.Fatalf("containers after restart: %v %v", ctrs, err)
	}
}

// The agent asks DrainEndpoints before a deleted pod's containers get
// SIGTERM, and bounds the wait by half the grace period.
func TestDrainEndpointsBeforeSIGTERM(t *testing.T) {
	c := testcluster.Start(t)
	release := make(chan struct{})
	asked := make(chan string, 4)
	var termedWhileDraining, termed, draining, stuck atomic.Bool
	a := c.AddAgent(t, "node-drain", func(cfg *agent.Config) {
		cfg.DrainEndpoints = func(ctx context.Context, pod *corev1.Pod) error {
			draining.Store(true)
			defer draining.Store(false)
			asked <- pod.Name
			if stuck.Load() {
				<-ctx.Done()
				return ctx.Err()
			}
			select {
			case <-release:
				return nil
			case <-ctx.Done():
				return ctx.Err()
			}
		}
	})
	e := &env{c: c, agent: a, cs: c.Client, ns: "default"}
	e.waitNode(t)
	a.Runtime.AddImage("graceful:1", fake.Image{Program: func(ctx context.Context, p *fake.Process) int {
		select {
		case <-p.Signals():
			termedWhileDraining.Store(draining.Load())
			termed.Store(true)
			return 0
		case <-ctx.Done():
			return 137
		}
	}})

	t.Run("SIGTERM waits until the endpoints are drained", func(t *testing.T) {
		p := pod("drained", ctr("app", "graceful:1"))
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](30)
		e.createPod(t, p)
		e.waitPod(t, "drained", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		if err := e.cs.CoreV1().Pods(e.ns).Delete(t.Context(), "drained", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		select {
		case name := <-asked:
			if name != "drained" {
				t.Fatalf("DrainEndpoints asked for %q", name)
			}
		case <-time.After(30 * time.Second):
			t.Fatal("DrainEndpoints was not called for the deleted pod")
		}
		if termed.Load() {
			t.Fatal("the container got SIGTERM while the endpoints were being drained")
		}
		close(release)
		poll(t, 30*time.Second, "pod object removed", func() bool {
			_, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), "drained", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		if !termed.Load() || termedWhileDraining.Load() {
			t.Errorf("SIGTERM sent %v, during the drain %v; want after it", termed.Load(), termedWhileDraining.Load())
		}
	})

	t.Run("the wait is bounded by half the grace period", func(t *testing.T) {
		termed.Store(false)
		stuck.Store(true) // the drain never completes
		p := pod("stuck", ctr("app", "graceful:1"))
		p.Spec.TerminationGracePeriodSeconds = ptr.To[int64](2)
		e.createPod(t, p)
		e.waitPod(t, "stuck", "Running", func(p *corev1.Pod) bool { return p.Status.Phase == corev1.PodRunning })
		start := time.Now()
		if err := e.cs.CoreV1().Pods(e.ns).Delete(t.Context(), "stuck", metav1.DeleteOptions{}); err != nil {
			t.Fatal(err)
		}
		poll(t, 30*time.Second, "pod object removed", func() bool {
			_, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), "stuck", metav1.GetOptions{})
			return apierrors.IsNotFound(err)
		})
		if took := time.Since(start); took < time.Second {
			t.Errorf("pod removed after %v, before half its grace period of 2 s", took)
		}
		if !termed.Load() {
			t.Error("the container was not sent SIGTERM after the bounded wait")
		}
	})
}
