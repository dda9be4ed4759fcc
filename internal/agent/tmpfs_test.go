package agent

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/api/resource"
	clocktesting "k8s.io/utils/clock/testing"
)

const tmpfsMagic = 0x01021994

func isTmpfs(t *testing.T, dir string) bool {
	t.Helper()
	var st syscall.Statfs_t
	if err := syscall.Statfs(dir, &st); err != nil {
		t.Fatal(err)
	}
	return st.Type == tmpfsMagic
}

// TestMemoryBackedVolumes: secret and projected volumes and emptyDirs of
// medium Memory are tmpfs mounts on the node, made once, and unmounted
// with the pod; other volumes stay on disk.
func TestMemoryBackedVolumes(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("mounting tmpfs needs root (the agent runs as root; CI does)")
	}
	srv := &tokenServer{clock: clocktesting.NewFakePassiveClock(time.Now())}
	a := newVolumeAgent(t, srv)
	pod := tokenPod(corev1.ServiceAccountTokenProjection{}, nil)
	limit := resource.MustParse("1Mi")
	pod.Spec.Volumes = append(pod.Spec.Volumes,
		corev1.Volume{Name: "scratch", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: &limit}}},
		corev1.Volume{Name: "disk", VolumeSource: corev1.VolumeSource{EmptyDir: &corev1.EmptyDirVolumeSource{}}},
	)
	for range 2 { // a second sync mounts nothing more
		mounts, err := a.setupVolumes(t.Context(), pod)
		if err != nil {
			t.Fatal(err)
		}
		if m := mounts["scratch"]; m.Source == "" || m.Source != filepath.Join(a.podDir(pod.UID), "volumes", "scratch") {
			t.Fatalf("memory emptyDir mount %+v, want the node directory every container shares", m)
		}
	}
	vols := filepath.Join(a.podDir(pod.UID), "volumes")
	for name, want := range map[string]bool{"api": true, "scratch": true, "disk": false} {
		if got := isTmpfs(t, filepath.Join(vols, name)); got != want {
			t.Errorf("volume %s on tmpfs: %v, want %v", name, got, want)
		}
	}
	points, err := mountPointsUnder(a.podDir(pod.UID))
	if err != nil {
		t.Fatal(err)
	}
	if len(points) != 2 {
		t.Fatalf("mount points %v, want api and scratch once each", points)
	}
	// The size limit holds.
	if err := os.WriteFile(filepath.Join(vols, "scratch", "big"), make([]byte, 2<<20), 0o644); err == nil {
		t.Error("wrote 2 MiB into a 1 MiB memory emptyDir")
	}

	if err := UnmountUnder(a.podDir(pod.UID)); err != nil {
		t.Fatal(err)
	}
	if points, _ := mountPointsUnder(a.podDir(pod.UID)); len(points) != 0 {
		t.Fatalf("still mounted: %v", points)
	}
	if err := os.RemoveAll(a.podDir(pod.UID)); err != nil {
		t.Fatal(err)
	}
}

func TestUnescapeMountPath(t *testing.T) {
	if got := unescapeMountPath(`/a\040b/c\011d\`); got != "/a b/c\td\\" {
		t.Fatalf("got %q", got)
	}
}

func TestMemoryVolumeSize(t *testing.T) {
	limits := func(mem string) corev1.ResourceRequirements {
		return corev1.ResourceRequirements{Limits: corev1.ResourceList{corev1.ResourceMemory: resource.MustParse(mem)}}
	}
	q := func(s string) *resource.Quantity { v := resource.MustParse(s); return &v }
	for _, tt := range []struct {
		name       string
		containers []corev1.ResourceRequirements
		init       []corev1.ResourceRequirements
		sizeLimit  *resource.Quantity
		want       int64
	}{
		{"nothing set: kernel default", []corev1.ResourceRequirements{{}}, nil, nil, 0},
		{"sizeLimit only", []corev1.ResourceRequirements{{}}, nil, q("1Mi"), 1 << 20},
		{"pod limit: sum of containers", []corev1.ResourceRequirements{limits("64Mi"), limits("32Mi")}, nil, nil, 96 << 20},
		{"one container without a limit: no pod limit", []corev1.ResourceRequirements{limits("64Mi"), {}}, nil, nil, 0},
		{"a larger init container", []corev1.ResourceRequirements{limits("64Mi")}, []corev1.ResourceRequirements{limits("128Mi")}, nil, 128 << 20},
		{"smaller sizeLimit wins", []corev1.ResourceRequirements{limits("64Mi")}, nil, q("16Mi"), 16 << 20},
		{"larger sizeLimit is capped", []corev1.ResourceRequirements{limits("64Mi")}, nil, q("1Gi"), 64 << 20},
	} {
		t.Run(tt.name, func(t *testing.T) {
			pod := &corev1.Pod{}
			for _, r := range tt.containers {
				pod.Spec.Containers = append(pod.Spec.Containers, corev1.Container{Resources: r})
			}
			for _, r := range tt.init {
				pod.Spec.InitContainers = append(pod.Spec.InitContainers, corev1.Container{Resources: r})
			}
			if got := memoryVolumeSize(pod, &corev1.EmptyDirVolumeSource{Medium: corev1.StorageMediumMemory, SizeLimit: tt.sizeLimit}); got != tt.want {
				t.Fatalf("size %d, want %d", got, tt.want)
			}
		})
	}
}
