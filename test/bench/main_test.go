package bench

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// gantryBin is the binary under test, built at most once per process and
// only when a benchmark asks for it (a plain `go test ./...` builds nothing).
var gantryBin struct {
	once sync.Once
	dir  string // temporary directory to remove at exit, if we built
	path string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if gantryBin.dir != "" {
		os.RemoveAll(gantryBin.dir)
	}
	os.Exit(code)
}

// binaryPath returns $GANTRY_BIN or a freshly built gantry binary.
func binaryPath(b *testing.B) string {
	b.Helper()
	gantryBin.once.Do(func() {
		if p := os.Getenv("GANTRY_BIN"); p != "" {
			gantryBin.path = p
			return
		}
		dir, err := os.MkdirTemp("", "gantry-bench-")
		if err != nil {
			gantryBin.err = err
			return
		}
		gantryBin.dir = dir
		gantryBin.path = filepath.Join(dir, "gantry")
		// Static and pure Go, as the Makefile builds it.
		build := exec.Command("go", "build", "-o", gantryBin.path, "github.com/gantry-dev/gantry/cmd/gantry")
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if out, err := build.CombinedOutput(); err != nil {
			gantryBin.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if gantryBin.err != nil {
		b.Fatalf("gantry binary: %v", gantryBin.err)
	}
	return gantryBin.path
}
