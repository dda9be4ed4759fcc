package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"
)

// dockerAPI is a minimal client of the Docker Engine HTTP API (v1.41),
// enough to create and start a pod by hand for comparison. The Docker SDK
// stays in internal/container/docker alone; these few calls are plain
// HTTP on the local socket.
type dockerAPI struct {
	http *http.Client
}

func newDockerAPI() *dockerAPI {
	sock := "/var/run/docker.sock"
	if h := os.Getenv("DOCKER_HOST"); strings.HasPrefix(h, "unix://") {
		sock = strings.TrimPrefix(h, "unix://")
	}
	return &dockerAPI{http: &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, "unix", sock)
		},
		MaxIdleConnsPerHost: 128,
	}}}
}

func (d *dockerAPI) do(ctx context.Context, method, path string, body, out any) error {
	var r io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return err
		}
		r = bytes.NewReader(b)
	}
	req, err := http.NewRequestWithContext(ctx, method, "http://docker/v1.41"+path, r)
	if err != nil {
		return err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := d.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode >= 300 {
		msg, _ := io.ReadAll(resp.Body)
		return fmt.Errorf("docker %s %s: %s: %s", method, path, resp.Status, bytes.TrimSpace(msg))
	}
	if out != nil {
		return json.NewDecoder(resp.Body).Decode(out)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	return nil
}

type dockerContainer struct {
	ID    string `json:"Id"`
	Image string `json:"Image"`
}

// list returns the containers (running or not) carrying every label.
func (d *dockerAPI) list(ctx context.Context, labels ...string) ([]dockerContainer, error) {
	f, err := json.Marshal(map[string][]string{"label": labels})
	if err != nil {
		return nil, err
	}
	var out []dockerContainer
	err = d.do(ctx, http.MethodGet, "/containers/json?all=1&filters="+url.QueryEscape(string(f)), nil, &out)
	return out, err
}

// imageTagged returns the first tag of an image of repository repo.
func (d *dockerAPI) imageTagged(ctx context.Context, repo string) (string, error) {
	f, err := json.Marshal(map[string][]string{"reference": {repo}})
	if err != nil {
		return "", err
	}
	var out []struct {
		RepoTags []string `json:"RepoTags"`
	}
	if err := d.do(ctx, http.MethodGet, "/images/json?filters="+url.QueryEscape(string(f)), nil, &out); err != nil {
		return "", err
	}
	for _, img := range out {
		if len(img.RepoTags) > 0 {
			return img.RepoTags[0], nil
		}
	}
	return "", fmt.Errorf("no image of %s", repo)
}

// removeLabelled force-removes every container carrying label.
func (d *dockerAPI) removeLabelled(ctx context.Context, label string) {
	list, err := d.list(ctx, label)
	if err != nil {
		return
	}
	for _, c := range list {
		_ = d.do(ctx, http.MethodDelete, "/containers/"+c.ID+"?force=1&v=1", nil, nil)
	}
}

// run creates and starts a container and returns its ID.
func (d *dockerAPI) run(ctx context.Context, name string, cfg map[string]any) (string, error) {
	var created struct {
		ID string `json:"Id"`
	}
	if err := d.do(ctx, http.MethodPost, "/containers/create?name="+url.QueryEscape(name), cfg, &created); err != nil {
		return "", err
	}
	return created.ID, d.do(ctx, http.MethodPost, "/containers/"+created.ID+"/start", nil, nil)
}

// handmadePod starts what a Gantry pod is, by hand: a pause container on
// the pod network, owning a shareable IPC namespace, and an app container
// joining its network and IPC namespaces.
func (d *dockerAPI) handmadePod(ctx context.Context, pause, image, network, name string) error {
	labels := map[string]string{"io.gantry.bench": "handmade"}
	id, err := d.run(ctx, name+"-pause", map[string]any{
		"Image": pause, "Hostname": name, "Labels": labels,
		"HostConfig": map[string]any{"NetworkMode": network, "IpcMode": "shareable"},
	})
	if err != nil {
		return err
	}
	_, err = d.run(ctx, name+"-app", map[string]any{
		"Image": image, "Cmd": []string{"sleep"}, "Labels": labels,
		"HostConfig": map[string]any{"NetworkMode": "container:" + id, "IpcMode": "container:" + id},
	})
	return err
}

// handmadePods starts n hand-made pods at once (16 at a time, as the
// Gantry rounds create them) and returns each one's latency and the time
// until the last had started; it removes them afterwards.
func (d *dockerAPI) handmadePods(ctx context.Context, pause, image, network, prefix string, n int) ([]time.Duration, time.Duration, error) {
	defer d.removeLabelled(context.WithoutCancel(ctx), "io.gantry.bench=handmade")
	start := time.Now()
	lat := make([]time.Duration, n)
	errs := make([]error, n)
	work := make(chan int)
	var wg sync.WaitGroup
	for range min(16, n) {
		wg.Go(func() {
			for i := range work {
				t := time.Now()
				errs[i] = d.handmadePod(ctx, pause, image, network, fmt.Sprintf("%s-%d", prefix, i))
				lat[i] = time.Since(t)
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	all := time.Since(start)
	for _, err := range errs {
		if err != nil {
			return nil, 0, err
		}
	}
	return lat, all, nil
}
