package docker

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"sync"
)

// The pause program (./pause) is built statically for each architecture by
// "go generate" and embedded (pause_<arch>.go); see
// docs/design/0002-pause-image.md for why.

//go:generate go run ./pause/gen -src pause -out .

// pauseRepo is the repository of the pause image; the tag is a hash of the
// embedded binary, so a new binary makes a new image and an upgraded agent
// never runs an old one.
const pauseRepo = "gantry/pause"

var pauseTag = sync.OnceValue(func() string {
	sum := sha256.Sum256(pauseBinary)
	return pauseRepo + ":" + hex.EncodeToString(sum[:6])
})

// PauseImage returns the reference of the pause image this runtime uses.
func PauseImage() string { return pauseTag() }

// ensurePauseImage builds the pause image unless it exists. A failure is
// not remembered: the next sandbox tries again.
func (r *Runtime) ensurePauseImage(ctx context.Context) error {
	r.pauseMu.Lock()
	defer r.pauseMu.Unlock()
	if r.pauseReady {
		return nil
	}
	tag := PauseImage()
	if _, err := r.api.ImageInspect(ctx, tag); err == nil {
		r.pauseReady = true
		return nil
	}
	if len(pauseBinary) == 0 {
		return fmt.Errorf("docker: no pause program is embedded for this architecture; run go generate ./internal/container/docker")
	}
	r.log.Info("building pause image", "image", tag)
	err := r.buildImage(ctx, tag, map[string][]byte{"pause": pauseBinary},
		[]string{"COPY pause /pause", `ENTRYPOINT ["/pause"]`},
		map[string]string{labelKind: "pause"})
	if err != nil {
		return fmt.Errorf("docker: pause image: %w", err)
	}
	r.pauseReady = true
	return nil
}
