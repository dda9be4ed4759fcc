package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/docker/docker/api/types/build"
	"github.com/docker/docker/api/types/image"

	"github.com/gantry-dev/gantry/internal/container"
)

// ImageStatus implements container.ImageManager.
func (r *Runtime) ImageStatus(ctx context.Context, ref string) (container.Image, error) {
	img, err := r.api.ImageInspect(ctx, ref)
	if err != nil {
		if cerrdefs.IsNotFound(err) {
			return container.Image{}, fmt.Errorf("image %q: %w", ref, container.ErrImageNotFound)
		}
		return container.Image{}, classify(err, "inspect image %q", ref)
	}
	out := container.Image{ID: img.ID, RepoTags: img.RepoTags, Size: img.Size}
	if img.Config != nil {
		out.User = img.Config.User
	}
	return out, nil
}

// PullImage implements container.ImageManager. Docker reports most pull
// failures inside the progress stream, so the stream is read to its end.
func (r *Runtime) PullImage(ctx context.Context, ref string) (container.Image, error) {
	rc, err := r.api.ImagePull(ctx, ref, image.PullOptions{})
	if err == nil {
		err = readProgress(rc)
		rc.Close()
	}
	if err != nil {
		return container.Image{}, pullError(ref, err)
	}
	return r.ImageStatus(ctx, ref)
}

// pullError classifies a failed pull. A registry that says the image does
// not exist, or that we may not see it, gives ErrImageNotFound; a registry
// that cannot be reached gives ErrImageNotFound too (the image is not here
// and cannot be fetched) but marked temporary, so the caller backs off and
// retries.
func pullError(ref string, err error) error {
	switch {
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("pull %q: %w", ref, err)
	case cerrdefs.IsNotFound(err), cerrdefs.IsUnauthorized(err), cerrdefs.IsPermissionDenied(err), cerrdefs.IsInvalidArgument(err):
		return fmt.Errorf("pull %q: %w: %w", ref, container.ErrImageNotFound, err)
	default:
		return container.Temporary(fmt.Errorf("image %q is not present and could not be pulled: %w: %w", ref, container.ErrImageNotFound, err))
	}
}

// progressError is an error Docker reported in a progress stream.
type progressError struct{ msg string }

func (e progressError) Error() string { return e.msg }

// readProgress consumes a JSON progress stream (pull, build) and returns
// the error it reports, if any.
func readProgress(rc io.Reader) error {
	dec := json.NewDecoder(rc)
	for {
		var m struct {
			Error       string
			ErrorDetail *struct{ Message string }
		}
		if err := dec.Decode(&m); err != nil {
			if err == io.EOF {
				return nil
			}
			return err
		}
		switch {
		case m.ErrorDetail != nil && m.ErrorDetail.Message != "":
			return progressError{m.ErrorDetail.Message}
		case m.Error != "":
			return progressError{m.Error}
		}
	}
}

// buildImage builds tag FROM scratch with files (name → content, mode 0755)
// and the Dockerfile instructions after FROM. Nothing is pulled.
func (r *Runtime) buildImage(ctx context.Context, tag string, files map[string][]byte, instructions []string, labels map[string]string) error {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	dockerfile := "FROM scratch\n" + strings.Join(instructions, "\n") + "\n"
	all := map[string][]byte{"Dockerfile": []byte(dockerfile)}
	for n, b := range files {
		all[n] = b
	}
	names := make([]string, 0, len(all))
	for n := range all {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o755, Size: int64(len(all[n])), Typeflag: tar.TypeReg}); err != nil {
			return err
		}
		if _, err := tw.Write(all[n]); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	resp, err := r.api.ImageBuild(ctx, &buf, build.ImageBuildOptions{
		Tags:        []string{tag},
		Dockerfile:  "Dockerfile",
		Remove:      true,
		ForceRemove: true,
		Labels:      labels,
		Version:     build.BuilderV1,
	})
	if err != nil {
		return classify(err, "build image %s", tag)
	}
	defer resp.Body.Close()
	if err := readProgress(resp.Body); err != nil {
		return fmt.Errorf("build image %s: %w", tag, err)
	}
	return nil
}

// jsonDecode decodes one JSON value from r.
func jsonDecode(r io.Reader, v any) error {
	return json.NewDecoder(r).Decode(v)
}
