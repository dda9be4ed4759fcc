package containertest

import (
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

func testExitCodes(t *testing.T, h *harness) {
	sb := h.sandbox("exits")
	tests := []struct {
		code   int
		reason string
	}{
		{0, container.ReasonCompleted},
		{3, container.ReasonError},
	}
	for _, tt := range tests {
		id := h.run(sb, h.ctr(fmt.Sprintf("exit%d", tt.code), "exit", fmt.Sprint(tt.code)))
		st := h.waitState(id, container.ContainerExited)
		if st.ExitCode != tt.code || st.Reason != tt.reason {
			t.Errorf("exit %d: status exit %d reason %q, want %d %q", tt.code, st.ExitCode, st.Reason, tt.code, tt.reason)
		}
		if st.StartedAt.IsZero() || st.FinishedAt.Before(st.StartedAt) || st.CreatedAt.IsZero() {
			t.Errorf("exit %d: times created %v started %v finished %v", tt.code, st.CreatedAt, st.StartedAt, st.FinishedAt)
		}
		if st.ImageID == "" || st.Image != h.s.opts.TestImage {
			t.Errorf("exit %d: image %q id %q, want %q and an ID", tt.code, st.Image, st.ImageID, h.s.opts.TestImage)
		}
	}
}

func testCannotRun(t *testing.T, h *harness) {
	sb := h.sandbox("cannotrun")
	cfg := h.ctr("bad")
	cfg.Command = []string{"/no/such/program"}
	id := h.create(sb, cfg)
	if err := h.rt.StartContainer(h.ctx(), id); err == nil {
		t.Error("StartContainer of a missing program succeeded")
	}
	st := h.status(id)
	if st.State != container.ContainerExited || st.Reason != container.ReasonContainerCannotRun || st.Message == "" || st.ExitCode == 0 {
		t.Errorf("status = %s %q %q exit %d, want Exited %s with a message and a non-zero exit code",
			st.State, st.Reason, st.Message, st.ExitCode, container.ReasonContainerCannotRun)
	}
}

func testContainerLifecycle(t *testing.T, h *harness) {
	sb := h.sandbox("clife")
	cfg := h.ctr("app", "sleep")
	cfg.Attempt = 3
	cfg.Labels = map[string]string{"tier": "front"}
	id := h.create(sb, cfg)
	st := h.status(id)
	want := container.ContainerSummary{ID: id, SandboxID: sb, Pod: st.Pod, Name: "app", Attempt: 3, Image: h.s.opts.TestImage,
		State: container.ContainerCreated, Labels: map[string]string{"tier": "front"}}
	checkSummary(t, "ContainerStatus after create", st.ContainerSummary, want)

	_, err := h.rt.CreateContainer(h.ctx(), sb, cfg)
	wantErr(t, "CreateContainer again", err, container.ErrAlreadyExists)

	noErr(t, "StartContainer", h.rt.StartContainer(h.ctx(), id))
	noErr(t, "StartContainer again", h.rt.StartContainer(h.ctx(), id))
	h.waitLogs(id, "sleeping")
	want.State = container.ContainerRunning
	checkSummary(t, "ContainerStatus after start", h.status(id).ContainerSummary, want)

	noErr(t, "StopContainer", h.rt.StopContainer(h.ctx(), id, 10*time.Second))
	noErr(t, "StopContainer again", h.rt.StopContainer(h.ctx(), id, 10*time.Second))
	want.State = container.ContainerExited
	checkSummary(t, "ContainerStatus after stop", h.status(id).ContainerSummary, want)

	// The next attempt is a new container beside the old one.
	cfg.Attempt = 4
	next := h.create(sb, cfg)
	list, err := h.rt.ListContainers(h.ctx(), container.ContainerFilter{SandboxID: sb, Name: "app"})
	noErr(t, "ListContainers", err)
	if len(list) != 2 || list[0].ID != id || list[1].ID != next {
		t.Fatalf("ListContainers(name) = %+v, want attempts 3 and 4, oldest first", list)
	}
	checkSummary(t, "ListContainers[0]", list[0], want)
	list, err = h.rt.ListContainers(h.ctx(), container.ContainerFilter{SandboxID: sb, State: container.ContainerCreated})
	noErr(t, "ListContainers(Created)", err)
	if len(list) != 1 || list[0].ID != next {
		t.Errorf("ListContainers(Created) = %+v, want attempt 4 only", list)
	}

	noErr(t, "RemoveContainer", h.rt.RemoveContainer(h.ctx(), id))
	noErr(t, "RemoveContainer again", h.rt.RemoveContainer(h.ctx(), id))
	_, err = h.rt.ContainerStatus(h.ctx(), id)
	wantErr(t, "ContainerStatus after remove", err, container.ErrNotFound)
	wantErr(t, "StartContainer after remove", h.rt.StartContainer(h.ctx(), id), container.ErrNotFound)
	wantErr(t, "StopContainer after remove", h.rt.StopContainer(h.ctx(), id, 0), container.ErrNotFound)
}

func checkSummary(t *testing.T, what string, got, want container.ContainerSummary) {
	t.Helper()
	if got.ID != want.ID || got.SandboxID != want.SandboxID || got.Pod != want.Pod || got.Name != want.Name ||
		got.Attempt != want.Attempt || got.Image != want.Image || got.State != want.State || !maps.Equal(got.Labels, want.Labels) {
		t.Errorf("%s = %+v, want %+v", what, got, want)
	}
	if got.CreatedAt.IsZero() || got.Pod.UID == "" {
		t.Errorf("%s: no CreatedAt or pod UID: %+v", what, got)
	}
}

func testStopGrace(t *testing.T, h *harness) {
	sb := h.sandbox("grace")
	polite := h.run(sb, h.ctr("polite", "sleep"))
	stubborn := h.run(sb, h.ctr("stubborn", "ignore-term"))
	h.waitLogs(polite, "sleeping")
	h.waitLogs(stubborn, "ignoring SIGTERM")

	// SIGTERM honoured: a clean exit, long before the grace period.
	noErr(t, "StopContainer(polite)", h.rt.StopContainer(h.ctx(), polite, time.Minute))
	st := h.status(polite)
	if st.State != container.ContainerExited || st.ExitCode != 0 || !strings.Contains(h.logs(polite, container.LogOptions{}), "terminated") {
		t.Errorf("a process that honours SIGTERM: %s exit %d, logs %q", st.State, st.ExitCode, h.logs(polite, container.LogOptions{}))
	}

	// SIGTERM ignored: SIGKILL once the grace period is over, not before.
	const grace = time.Second
	start := time.Now()
	noErr(t, "StopContainer(stubborn)", h.rt.StopContainer(h.ctx(), stubborn, grace))
	if took := time.Since(start); took < grace {
		t.Errorf("a process that ignores SIGTERM was killed after %v, before its grace period of %v", took, grace)
	}
	st = h.status(stubborn)
	if st.State != container.ContainerExited || st.ExitCode != 137 || st.Reason != container.ReasonError {
		t.Errorf("a process that ignores SIGTERM: %s exit %d %s, want Exited 137 Error", st.State, st.ExitCode, st.Reason)
	}
}

func testMissingImage(t *testing.T, h *harness) {
	const ref = "gantry-test/no-such-image:never"
	_, err := h.rt.ImageStatus(h.ctx(), ref)
	wantErr(t, "ImageStatus", err, container.ErrImageNotFound)
	_, err = h.rt.CreateContainer(h.ctx(), h.sandbox("noimage"), container.ContainerConfig{Name: "c", Image: ref})
	wantErr(t, "CreateContainer", err, container.ErrImageNotFound)
	_, err = h.rt.PullImage(h.ctx(), ref)
	wantErr(t, "PullImage", err, container.ErrImageNotFound)
	if err != nil && !strings.Contains(err.Error(), ref) {
		t.Errorf("PullImage error %q does not name the image", err)
	}

	img, err := h.rt.ImageStatus(h.ctx(), h.s.opts.TestImage)
	noErr(t, "ImageStatus of the test image", err)
	if img.ID == "" {
		t.Errorf("ImageStatus of the test image = %+v, want an ID", img)
	}
}

func testEnvAndMounts(t *testing.T, h *harness) {
	dir := t.TempDir()
	noErr(t, "write", os.WriteFile(filepath.Join(dir, "greeting"), []byte("hello from the node\n"), 0o644))
	sb := h.sandbox("envmnt")
	cfg := h.ctr("app", "sleep")
	cfg.Env = []container.EnvVar{{Name: "GREETING", Value: "hi there"}, {Name: "EMPTY", Value: ""}}
	cfg.Mounts = []container.Mount{
		{Type: container.MountBind, Source: dir, Target: "/data", ReadOnly: true},
		{Type: container.MountTmpfs, Target: "/scratch", SizeBytes: 1 << 20},
	}
	id := h.run(sb, cfg)
	h.waitLogs(id, "sleeping")

	code, out, stderr := h.exec(id, nil, "env")
	if code != 0 || !hasLine(out, "GREETING=hi there") || !hasLine(out, "EMPTY=") {
		t.Errorf("env: exit %d, output %q %q", code, out, stderr)
	}
	code, out, stderr = h.exec(id, nil, "cat", "/data/greeting")
	if code != 0 || out != "hello from the node\n" {
		t.Errorf("cat of a bind-mounted file: exit %d, output %q %q", code, out, stderr)
	}
}

func testOOMKilled(t *testing.T, h *harness) {
	sb := h.sandbox("oom")
	cfg := h.ctr("hog", "oom")
	cfg.Resources.MemoryLimitBytes = 32 << 20
	id := h.run(sb, cfg)
	st := h.waitState(id, container.ContainerExited)
	if st.Reason != container.ReasonOOMKilled || st.ExitCode != 137 {
		t.Errorf("a process over its memory limit: exit %d reason %q, want 137 %s", st.ExitCode, st.Reason, container.ReasonOOMKilled)
	}
}

func testAdoption(t *testing.T, h *harness) {
	cfg := h.sandboxConfig("adopt")
	cfg.Labels = map[string]string{"app": "db"}
	sb := h.runSandbox(cfg)
	a := h.run(sb, h.ctr("a", "sleep"))
	bcfg := h.ctr("b", "exit", "0")
	bcfg.Attempt = 1
	bcfg.Labels = map[string]string{"role": "init"}
	b := h.run(sb, bcfg)
	h.waitState(b, container.ContainerExited)
	h.waitState(a, container.ContainerRunning)

	// A restarted agent finds everything by labels alone.
	rt := h.rt
	if h.s.opts.Reconnect != nil {
		rt = h.s.opts.Reconnect(t, h.rt)
	}
	sbs, err := rt.ListSandboxes(h.ctx(), container.SandboxFilter{PodUID: cfg.Pod.UID})
	noErr(t, "ListSandboxes", err)
	if len(sbs) != 1 {
		t.Fatalf("ListSandboxes(pod) = %+v, want one", sbs)
	}
	checkSandbox(t, "adopted sandbox", sbs[0], container.Sandbox{ID: sb, Pod: cfg.Pod, State: container.SandboxReady, IP: cfg.Network.IP, Labels: cfg.Labels})

	ctrs, err := rt.ListContainers(h.ctx(), container.ContainerFilter{PodUID: cfg.Pod.UID})
	noErr(t, "ListContainers", err)
	if len(ctrs) != 2 {
		t.Fatalf("ListContainers(pod) = %+v, want two", ctrs)
	}
	checkSummary(t, "adopted a", ctrs[0], container.ContainerSummary{ID: a, SandboxID: sb, Pod: cfg.Pod, Name: "a",
		Image: h.s.opts.TestImage, State: container.ContainerRunning, Labels: map[string]string{}})
	checkSummary(t, "adopted b", ctrs[1], container.ContainerSummary{ID: b, SandboxID: sb, Pod: cfg.Pod, Name: "b", Attempt: 1,
		Image: h.s.opts.TestImage, State: container.ContainerExited, Labels: bcfg.Labels})
	running, err := rt.ListContainers(h.ctx(), container.ContainerFilter{State: container.ContainerRunning})
	noErr(t, "ListContainers(Running)", err)
	if len(running) != 1 || running[0].ID != a {
		t.Errorf("ListContainers(Running) = %+v, want a only", running)
	}
	byID, err := rt.ListContainers(h.ctx(), container.ContainerFilter{ID: b})
	noErr(t, "ListContainers(ID)", err)
	if len(byID) != 1 || byID[0].ID != b {
		t.Errorf("ListContainers(ID) = %+v, want b", byID)
	}

	// Another node's runtime sees none of it.
	other := h.s.newRT(t)
	if sbs, err := other.ListSandboxes(h.ctx(), container.SandboxFilter{}); err != nil || len(sbs) != 0 {
		t.Errorf("another node's ListSandboxes = %+v, %v; want nothing", sbs, err)
	}
	if ctrs, err := other.ListContainers(h.ctx(), container.ContainerFilter{PodUID: cfg.Pod.UID}); err != nil || len(ctrs) != 0 {
		t.Errorf("another node's ListContainers = %+v, %v; want nothing", ctrs, err)
	}
	_, err = other.ContainerStatus(h.ctx(), a)
	wantErr(t, "another node's ContainerStatus", err, container.ErrNotFound)
}

func testStartAll(t *testing.T, h *harness) {
	sb := h.sandbox("startall")
	var ids []string
	for i := range 3 {
		ids = append(ids, h.create(sb, h.ctr(fmt.Sprintf("c%d", i), "sleep")))
	}
	noErr(t, "StartAll", container.StartAll(h.ctx(), h.rt, ids...))
	for _, id := range ids {
		h.waitState(id, container.ContainerRunning)
	}
}
