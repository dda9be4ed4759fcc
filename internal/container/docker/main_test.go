package docker

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/container"
)

// These tests need a Docker daemon (DOCKER_HOST or the local socket). Where
// there is none they fail, unless run with -short, which skips them.

// needDocker skips under -short and fails when the daemon is unreachable.
func needDocker(t testing.TB) {
	t.Helper()
	if testing.Short() {
		t.Skip("needs Docker; skipped with -short")
	}
	dockerOnce.Do(func() {
		r, err := New(Config{}, nil)
		if err == nil {
			ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
			defer cancel()
			err = r.Ping(ctx)
			r.Close()
		}
		dockerErr = err
	})
	if dockerErr != nil {
		t.Fatalf("these tests need a Docker daemon (set DOCKER_HOST or start dockerd; run with -short to skip them): %v", dockerErr)
	}
}

var (
	dockerOnce sync.Once
	dockerErr  error
)

// newTestRuntime returns a runtime serving a node of its own, with its state
// in a temporary directory; it is closed at the end of the test.
func newTestRuntime(t testing.TB) *Runtime {
	t.Helper()
	needDocker(t)
	return openRuntime(t, Config{Node: "ct-" + randomHex(6), StateDir: t.TempDir()})
}

func openRuntime(t testing.TB, cfg Config) *Runtime {
	t.Helper()
	r, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close() })
	return r
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// testImage builds (once per test binary) the conformance test image: the
// testimage program built statically, FROM scratch. The tag is a hash of
// the binary, so an unchanged program reuses the image across runs.
func testImage(t testing.TB) string {
	t.Helper()
	needDocker(t)
	imageOnce.Do(func() { imageRef, imageErr = buildTestImage() })
	if imageErr != nil {
		t.Fatalf("test image: %v", imageErr)
	}
	return imageRef
}

var (
	imageOnce sync.Once
	imageRef  string
	imageErr  error
)

func buildTestImage() (string, error) {
	dir, err := os.MkdirTemp("", "gantry-testimage")
	if err != nil {
		return "", err
	}
	defer os.RemoveAll(dir)
	bin := filepath.Join(dir, "testimage")
	cmd := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "../containertest/testimage/cmd")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build testimage: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	ref := "gantry-test/testimage:" + hex.EncodeToString(sum[:6])
	r, err := New(Config{}, nil)
	if err != nil {
		return "", err
	}
	defer r.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	if _, err := r.ImageStatus(ctx, ref); err == nil {
		return ref, nil
	}
	err = r.buildImage(ctx, ref, map[string][]byte{"testimage": b},
		[]string{"COPY testimage /testimage", `ENTRYPOINT ["/testimage"]`}, nil)
	return ref, err
}

// testNetwork creates a network with a free /24 for the test and removes
// it at the end.
func testNetwork(t testing.TB, r *Runtime) container.NetworkConfig {
	t.Helper()
	for i := 0; ; i++ {
		cfg := container.NetworkConfig{
			Name:   "gantry-ct-" + randomHex(4),
			Subnet: fmt.Sprintf("10.%d.%d.0/24", 200+int(randomByte()%50), randomByte()),
		}
		_, err := r.EnsureNetwork(t.Context(), cfg)
		if err == nil {
			t.Cleanup(func() {
				if err := r.RemoveNetwork(context.Background(), cfg.Name); err != nil {
					t.Errorf("cleanup: %v", err)
				}
			})
			return cfg
		}
		if !errors.Is(err, container.ErrConflict) || i == 20 {
			t.Fatalf("EnsureNetwork: %v", err)
		}
	}
}

func randomByte() byte {
	b := make([]byte, 1)
	rand.Read(b)
	return b[0]
}

// nthIP returns host n of a /24 subnet.
func nthIP(subnet string, n int) string {
	base, _, _ := strings.Cut(subnet, "/")
	return base[:strings.LastIndexByte(base, '.')+1] + fmt.Sprint(n)
}
