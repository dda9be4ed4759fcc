// Command gen builds the pause program statically for each architecture
// Gantry ships and writes the binaries the docker package embeds. Run it
// with "go generate ./internal/container/docker" after changing the pause
// sources; TestPauseBinaryUpToDate fails until then.
//
// The binaries are linked with the hash of the sources (see SourceHash), so
// "pause version" tells which sources a binary came from whatever Go
// toolchain built it.
package main

import (
	"crypto/sha256"
	"encoding/hex"
	"flag"
	"fmt"
	"log"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
)

func main() {
	src := flag.String("src", "pause", "directory of the pause program's sources")
	out := flag.String("out", ".", "directory to write pause_<arch>.bin to")
	arches := flag.String("arch", "amd64,arm64", "comma-separated GOARCH values")
	flag.Parse()
	hash, err := sourceHash(*src)
	if err != nil {
		log.Fatal(err)
	}
	for _, arch := range strings.Split(*arches, ",") {
		dst, err := filepath.Abs(filepath.Join(*out, "pause_"+arch+".bin"))
		if err != nil {
			log.Fatal(err)
		}
		cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
			"-ldflags", "-s -w -buildid= -X main.sourceHash="+hash, "-o", dst, ".")
		cmd.Dir = *src
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+arch)
		cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
		if err := cmd.Run(); err != nil {
			log.Fatalf("build pause for %s: %v", arch, err)
		}
		fmt.Println("wrote", dst)
	}
}

// sourceHash hashes the non-test Go files of dir (names and contents).
func sourceHash(dir string) (string, error) {
	names, err := filepath.Glob(filepath.Join(dir, "*.go"))
	if err != nil {
		return "", err
	}
	sort.Strings(names)
	h := sha256.New()
	for _, n := range names {
		if strings.HasSuffix(n, "_test.go") {
			continue
		}
		b, err := os.ReadFile(n)
		if err != nil {
			return "", err
		}
		fmt.Fprintf(h, "%s\x00%d\x00", filepath.Base(n), len(b))
		h.Write(b)
	}
	return hex.EncodeToString(h.Sum(nil))[:16], nil
}
