package agent_test

import (
	"context"
	"strings"
	"sync"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/container/fake"
)

// TestEphemeralContainers covers what kubectl debug relies on: an
// ephemeral container added to a running pod starts in the pod's sandbox,
// in its target container's PID namespace, is reported in
// ephemeralContainerStatuses, and runs once: it is not restarted when it
// exits.
func TestEphemeralContainers(t *testing.T) {
	e := newEnv(t)
	rt := e.agent.Runtime
	rt.AddImage("web:1", fake.Image{Program: server(8080)})
	rt.AddImage("debug:1", fake.Image{Program: func(ctx context.Context, p *fake.Process) int {
		<-ctx.Done()
		return 0
	}})
	var (
		mu      sync.Mutex
		created = map[string][]container.ContainerConfig{} // by container name
	)
	rt.CreateContainerFunc = func(ctx context.Context, sb string, cfg container.ContainerConfig) (string, error) {
		mu.Lock()
		created[cfg.Name] = append(created[cfg.Name], cfg)
		mu.Unlock()
		return rt.Default().CreateContainer(ctx, sb, cfg)
	}
	createdOf := func(name string) []container.ContainerConfig {
		mu.Lock()
		defer mu.Unlock()
		return append([]container.ContainerConfig(nil), created[name]...)
	}

	p := e.createPod(t, pod("dbg", ctr("web", "web:1")))
	p = e.waitPod(t, "dbg", "Ready", isReady)
	webID := strings.TrimPrefix(p.Status.ContainerStatuses[0].ContainerID, "fake://")

	add := func(t *testing.T, ec corev1.EphemeralContainer) {
		t.Helper()
		cur, err := e.cs.CoreV1().Pods(e.ns).Get(t.Context(), "dbg", metav1.GetOptions{})
		if err != nil {
			t.Fatal(err)
		}
		cur.Spec.EphemeralContainers = append(cur.Spec.EphemeralContainers, ec)
		if _, err := e.cs.CoreV1().Pods(e.ns).UpdateEphemeralContainers(t.Context(), "dbg", cur, metav1.UpdateOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	ephemeral := func(p *corev1.Pod, name string) *corev1.ContainerStatus {
		for i := range p.Status.EphemeralContainerStatuses {
			if s := &p.Status.EphemeralContainerStatuses[i]; s.Name == name {
				return s
			}
		}
		return nil
	}
	debugger := func(name, target string) corev1.EphemeralContainer {
		return corev1.EphemeralContainer{
			EphemeralContainerCommon: corev1.EphemeralContainerCommon{Name: name, Image: "debug:1", ImagePullPolicy: corev1.PullIfNotPresent, TerminationMessagePolicy: corev1.TerminationMessageReadFile},
			TargetContainerName:      target,
		}
	}

	add(t, debugger("debugger", "web"))
	p = e.waitPod(t, "dbg", "the ephemeral container running", func(p *corev1.Pod) bool {
		s := ephemeral(p, "debugger")
		return s != nil && s.State.Running != nil
	})
	s := ephemeral(p, "debugger")
	if s.Ready || !strings.HasPrefix(s.ContainerID, "fake://") || s.Image != "debug:1" {
		t.Errorf("ephemeral container status %+v: want running, not ready, with its container ID", s)
	}
	if !isReady(p) || len(p.Status.ContainerStatuses) != 1 {
		t.Errorf("the pod's own containers changed: %s", statusSummary(p))
	}
	if cfgs := createdOf("debugger"); len(cfgs) != 1 || cfgs[0].PIDNamespaceOf != webID {
		t.Fatalf("debugger's configs %+v: want one, in web's PID namespace (%s)", cfgs, webID)
	}
	if cfgs := createdOf("web"); len(cfgs) != 1 || cfgs[0].PIDNamespaceOf != "" {
		t.Errorf("web's configs %+v: want one, in its own PID namespace", cfgs)
	}

	// It exits; it is not restarted, though the pod's policy is Always.
	if err := rt.Exit(strings.TrimPrefix(s.ContainerID, "fake://"), 0); err != nil {
		t.Fatal(err)
	}
	e.waitPod(t, "dbg", "the ephemeral container terminated", func(p *corev1.Pod) bool {
		s := ephemeral(p, "debugger")
		return s != nil && s.State.Terminated != nil && s.State.Terminated.Reason == "Completed"
	})
	// A second one, without a target, gets its own PID namespace; once it
	// runs the agent has synced the pod again, and the first one is
	// still terminated, never restarted.
	add(t, debugger("second", ""))
	p = e.waitPod(t, "dbg", "the second ephemeral container running", func(p *corev1.Pod) bool {
		s := ephemeral(p, "second")
		return s != nil && s.State.Running != nil
	})
	if s := ephemeral(p, "debugger"); s.State.Terminated == nil || s.RestartCount != 0 || len(createdOf("debugger")) != 1 {
		t.Errorf("exited ephemeral container restarted: %+v, created %d times", s, len(createdOf("debugger")))
	}
	if cfgs := createdOf("second"); len(cfgs) != 1 || cfgs[0].PIDNamespaceOf != "" {
		t.Errorf("second's configs %+v: want one, in its own PID namespace", cfgs)
	}
}
