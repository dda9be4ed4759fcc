package fake_test

import (
	"context"
	"errors"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/container/fake"
)

// pod runs a sandbox on a fresh fake and returns both.
func pod(t *testing.T, cfg fake.Config) (*fake.Runtime, string) {
	t.Helper()
	rt := fake.New(cfg)
	ctx := t.Context()
	if _, err := rt.EnsureNetwork(ctx, container.NetworkConfig{Name: "pods", Subnet: "10.244.0.0/16"}); err != nil {
		t.Fatal(err)
	}
	sb, err := rt.RunSandbox(ctx, container.SandboxConfig{
		Pod:     container.PodRef{Name: "p", Namespace: "ns", UID: "uid-1"},
		Network: container.SandboxNetwork{Network: "pods", IP: "10.244.1.2"},
	})
	if err != nil {
		t.Fatal(err)
	}
	return rt, sb
}

func run(t *testing.T, rt *fake.Runtime, sb string, cfg container.ContainerConfig) string {
	t.Helper()
	id, err := rt.CreateContainer(t.Context(), sb, cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(t.Context(), id); err != nil {
		t.Fatal(err)
	}
	return id
}

func waitExited(t *testing.T, rt *fake.Runtime, id string) container.ContainerStatus {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for {
		st, err := rt.ContainerStatus(t.Context(), id)
		if err != nil {
			t.Fatal(err)
		}
		if st.State == container.ContainerExited {
			return st
		}
		if time.Now().After(deadline) {
			t.Fatalf("container still %s", st.State)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestScriptedExits(t *testing.T) {
	rt, sb := pod(t, fake.Config{})
	rt.AddImage("app", fake.Image{})
	rt.AddImage("crasher", fake.Image{Program: fake.ExitAfter(10*time.Millisecond, 2)})

	idle := run(t, rt, sb, container.ContainerConfig{Name: "idle", Image: "app"})
	if err := rt.Exit(idle, 42); err != nil {
		t.Fatal(err)
	}
	if st := waitExited(t, rt, idle); st.ExitCode != 42 || st.Reason != container.ReasonError {
		t.Errorf("after Exit(42): %d %s", st.ExitCode, st.Reason)
	}
	if err := rt.Exit(idle, 1); !errors.Is(err, container.ErrNotRunning) {
		t.Errorf("Exit of an exited container = %v, want ErrNotRunning", err)
	}

	hog := run(t, rt, sb, container.ContainerConfig{Name: "hog", Image: "app"})
	if err := rt.OOMKill(hog); err != nil {
		t.Fatal(err)
	}
	if st := waitExited(t, rt, hog); st.ExitCode != 137 || st.Reason != container.ReasonOOMKilled {
		t.Errorf("after OOMKill: %d %s", st.ExitCode, st.Reason)
	}

	crash := run(t, rt, sb, container.ContainerConfig{Name: "crash", Image: "crasher"})
	if st := waitExited(t, rt, crash); st.ExitCode != 2 || st.Reason != container.ReasonError {
		t.Errorf("ExitAfter(2): %d %s", st.ExitCode, st.Reason)
	}
}

func TestFunctionFields(t *testing.T) {
	rt, sb := pod(t, fake.Config{})
	rt.AddImage("app", fake.Image{})
	var starts atomic.Int32
	boom := container.Temporary(errors.New("daemon busy"))
	rt.StartContainerFunc = func(ctx context.Context, id string) error {
		if starts.Add(1) == 1 {
			return boom
		}
		return rt.Default().StartContainer(ctx, id)
	}
	id, err := rt.CreateContainer(t.Context(), sb, container.ContainerConfig{Name: "c", Image: "app"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.StartContainer(t.Context(), id); !errors.Is(err, boom) || !container.IsTemporary(err) {
		t.Fatalf("first start = %v, want the scripted failure", err)
	}
	if err := rt.StartContainer(t.Context(), id); err != nil {
		t.Fatalf("second start = %v", err)
	}
	if st, _ := rt.ContainerStatus(t.Context(), id); st.State != container.ContainerRunning {
		t.Errorf("after the second start: %s", st.State)
	}

	// Replacing while in use is race-free through Script.
	rt.Script(func() { rt.StartContainerFunc = nil })
	if starts.Load() != 2 {
		t.Errorf("replacement called %d times, want 2", starts.Load())
	}
}

func TestImages(t *testing.T) {
	ctx := t.Context()
	rt := fake.New(fake.Config{})
	if _, err := rt.PullImage(ctx, "nginx"); !errors.Is(err, container.ErrImageNotFound) {
		t.Errorf("pull of an unknown image = %v, want ErrImageNotFound", err)
	}
	rt.AddToRegistry("nginx", fake.Image{User: "101"})
	img, err := rt.PullImage(ctx, "nginx")
	if err != nil || img.User != "101" || img.ID == "" {
		t.Errorf("pull from the registry = %+v, %v", img, err)
	}
	if _, err := rt.ImageStatus(ctx, "nginx"); err != nil {
		t.Errorf("after pull: %v", err)
	}

	any := fake.New(fake.Config{PullAny: true})
	if _, err := any.PullImage(ctx, "whatever:1"); err != nil {
		t.Errorf("PullAny: %v", err)
	}
}
