package docker

import (
	"context"
	"fmt"
	"testing"

	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/network"

	"github.com/gantry-dev/gantry/internal/container"
)

// BenchmarkPodStart measures a pod start through the runtime: sandbox, then
// its app containers created and started (the test image sleeping), against
// the same containers made by hand with the Docker API.
//
//	go test -run '^$' -bench PodStart -benchtime 10x ./internal/container/docker
func BenchmarkPodStart(b *testing.B) {
	img := testImage(b)
	r := newTestRuntime(b)
	netw := testNetwork(b, r)
	ctx := context.Background()
	if err := r.ensurePauseImage(ctx); err != nil {
		b.Fatal(err)
	}
	n := 0
	sandbox := func(b *testing.B) string {
		n++
		sb, err := r.RunSandbox(ctx, container.SandboxConfig{
			Pod:      container.PodRef{Name: fmt.Sprintf("bench%d", n), Namespace: "bench", UID: randomHex(8)},
			Hostname: "bench",
			Network:  container.SandboxNetwork{Network: netw.Name, IP: nthIP(netw.Subnet, 10+n%200)},
		})
		if err != nil {
			b.Fatal(err)
		}
		return sb
	}
	create := func(b *testing.B, sb string, count int) []string {
		var ids []string
		for i := range count {
			id, err := r.CreateContainer(ctx, sb, container.ContainerConfig{Name: fmt.Sprintf("c%d", i), Image: img, Args: []string{"sleep"}})
			if err != nil {
				b.Fatal(err)
			}
			ids = append(ids, id)
		}
		return ids
	}
	cleanup := func(b *testing.B, sb string) {
		b.StopTimer()
		if err := r.RemoveSandbox(ctx, sb); err != nil {
			b.Fatal(err)
		}
		b.StartTimer()
	}

	b.Run("containers=1", func(b *testing.B) {
		for range b.N {
			sb := sandbox(b)
			if err := r.StartContainer(ctx, create(b, sb, 1)[0]); err != nil {
				b.Fatal(err)
			}
			cleanup(b, sb)
		}
	})
	b.Run("containers=3/sequential", func(b *testing.B) {
		for range b.N {
			sb := sandbox(b)
			for _, id := range create(b, sb, 3) {
				if err := r.StartContainer(ctx, id); err != nil {
					b.Fatal(err)
				}
			}
			cleanup(b, sb)
		}
	})
	b.Run("containers=3/parallel", func(b *testing.B) {
		for range b.N {
			sb := sandbox(b)
			if err := container.StartAll(ctx, r, create(b, sb, 3)...); err != nil {
				b.Fatal(err)
			}
			cleanup(b, sb)
		}
	})
	b.Run("containers=1/by-hand", func(b *testing.B) {
		for range b.N {
			n++
			name := fmt.Sprintf("gantry-bench-%s", randomHex(6))
			p, err := r.api.ContainerCreate(ctx, &dcontainer.Config{Image: PauseImage(), Hostname: "bench"},
				&dcontainer.HostConfig{NetworkMode: dcontainer.NetworkMode(netw.Name), IpcMode: "shareable"},
				&network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{
					netw.Name: {IPAMConfig: &network.EndpointIPAMConfig{IPv4Address: nthIP(netw.Subnet, 10+n%200)}}}},
				nil, name)
			if err != nil {
				b.Fatal(err)
			}
			if err := r.api.ContainerStart(ctx, p.ID, dcontainer.StartOptions{}); err != nil {
				b.Fatal(err)
			}
			join := "container:" + p.ID
			c, err := r.api.ContainerCreate(ctx, &dcontainer.Config{Image: img, Cmd: []string{"sleep"}},
				&dcontainer.HostConfig{NetworkMode: dcontainer.NetworkMode(join), IpcMode: dcontainer.IpcMode(join)}, nil, nil, name+"-app")
			if err != nil {
				b.Fatal(err)
			}
			if err := r.api.ContainerStart(ctx, c.ID, dcontainer.StartOptions{}); err != nil {
				b.Fatal(err)
			}
			b.StopTimer()
			r.remove(ctx, c.ID)
			r.remove(ctx, p.ID)
			b.StartTimer()
		}
	})
}
