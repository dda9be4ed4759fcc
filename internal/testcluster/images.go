package testcluster

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
)

// BuildTestImage builds the container conformance suite's test program
// (internal/container/containertest/testimage; modes serve, sleep, exit …)
// statically into an image FROM scratch with the docker CLI, tagged
// repo:<hash of the binary>, and returns the reference. An image with that
// tag is reused. No registry is involved.
func BuildTestImage(dir, repo string) (string, error) {
	bin := filepath.Join(dir, "testimage")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin,
		"github.com/gantry-dev/gantry/internal/container/containertest/testimage/cmd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		return "", fmt.Errorf("go build testimage: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		return "", err
	}
	sum := sha256.Sum256(b)
	ref := repo + ":" + hex.EncodeToString(sum[:6])
	if exec.Command("docker", "image", "inspect", ref).Run() == nil {
		return ref, nil
	}
	dockerfile := "FROM scratch\nCOPY testimage /testimage\nENTRYPOINT [\"/testimage\"]\n"
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return "", err
	}
	if out, err := exec.Command("docker", "build", "-q", "-t", ref, dir).CombinedOutput(); err != nil {
		return "", fmt.Errorf("docker build %s: %v\n%s", ref, err, out)
	}
	return ref, nil
}
