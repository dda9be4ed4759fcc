package docker

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	dcontainer "github.com/docker/docker/api/types/container"
	"github.com/docker/docker/api/types/filters"
	"github.com/docker/docker/api/types/network"

	"github.com/gantry-dev/gantry/internal/container"
)

// EnsureNetwork implements container.NetworkManager.
func (r *Runtime) EnsureNetwork(ctx context.Context, cfg container.NetworkConfig) (container.Network, error) {
	want, err := netip.ParsePrefix(cfg.Subnet)
	if cfg.Name == "" || err != nil || !want.Addr().Is4() {
		return container.Network{}, fmt.Errorf("network %q with subnet %q: %w: need a name and an IPv4 CIDR", cfg.Name, cfg.Subnet, container.ErrInvalid)
	}
	want = want.Masked()
	for range 2 {
		n, err := r.inspectNetwork(ctx, cfg.Name)
		if err == nil {
			if n.Subnet != want.String() {
				return container.Network{}, fmt.Errorf("network %q has subnet %s, not %s: %w", cfg.Name, n.Subnet, want, container.ErrConflict)
			}
			return n, nil
		}
		if !cerrdefs.IsNotFound(err) {
			return container.Network{}, classify(err, "inspect network %q", cfg.Name)
		}
		_, err = r.api.NetworkCreate(ctx, cfg.Name, network.CreateOptions{
			Driver: "bridge",
			IPAM:   &network.IPAM{Config: []network.IPAMConfig{{Subnet: want.String()}}},
			Labels: map[string]string{labelKind: "network"},
		})
		switch {
		case err == nil:
			return r.inspectNetwork(ctx, cfg.Name)
		case cerrdefs.IsConflict(err):
			continue // created concurrently by another node: inspect it
		case cerrdefs.IsPermissionDenied(err):
			// Docker answers 403 when the subnet overlaps another network's,
			// also while another node of this host is creating this very
			// network (its pool is taken before its name can be
			// inspected): wait for the name before calling it a conflict.
			if n, ok := r.awaitNetwork(ctx, cfg.Name, want.String()); ok {
				return n, nil
			}
			return container.Network{}, fmt.Errorf("create network %q: %w: %w", cfg.Name, container.ErrConflict, err)
		default:
			return container.Network{}, classify(err, "create network %q", cfg.Name)
		}
	}
	return container.Network{}, fmt.Errorf("create network %q: %w", cfg.Name, container.ErrConflict)
}

// awaitNetwork polls for a network called name with the given subnet for
// up to networkCreateWait, long enough for a concurrent create to finish.
// It returns false when none appears or one with another subnet does.
func (r *Runtime) awaitNetwork(ctx context.Context, name, subnet string) (container.Network, bool) {
	deadline := time.Now().Add(networkCreateWait)
	for {
		n, err := r.inspectNetwork(ctx, name)
		if err == nil {
			return n, n.Subnet == subnet
		}
		if !cerrdefs.IsNotFound(err) || time.Now().After(deadline) {
			return container.Network{}, false
		}
		select {
		case <-ctx.Done():
			return container.Network{}, false
		case <-time.After(20 * time.Millisecond): // polling interval
		}
	}
}

// networkCreateWait bounds how long EnsureNetwork waits for a network
// another node of the host is creating.
const networkCreateWait = 5 * time.Second

// inspectNetwork returns the network name or Docker's (unclassified) error.
func (r *Runtime) inspectNetwork(ctx context.Context, name string) (container.Network, error) {
	n, err := r.api.NetworkInspect(ctx, name, network.InspectOptions{})
	if err != nil {
		return container.Network{}, err
	}
	if n.Name != name { // inspect also matches ID prefixes
		return container.Network{}, cerrdefs.ErrNotFound.WithMessage("network " + name)
	}
	out := container.Network{ID: n.ID, Name: n.Name}
	if len(n.IPAM.Config) > 0 {
		out.Subnet, out.Gateway = n.IPAM.Config[0].Subnet, n.IPAM.Config[0].Gateway
	}
	if p, err := netip.ParsePrefix(out.Subnet); out.Gateway == "" && err == nil {
		// Docker 20.10 does not report a gateway it chose itself: its
		// default is the subnet's first address.
		out.Gateway = p.Masked().Addr().Next().String()
	}
	return out, nil
}

// RemoveNetwork implements container.NetworkManager.
func (r *Runtime) RemoveNetwork(ctx context.Context, name string) error {
	if _, err := r.inspectNetwork(ctx, name); cerrdefs.IsNotFound(err) {
		return nil
	}
	// Docker refuses while containers it attached are on the network, but
	// knows nothing of the sandboxes this runtime plumbed (podnet.go).
	f := filters.NewArgs(filters.Arg("label", labelKind+"="+kindSandbox),
		filters.Arg("label", labelNetwork+"="+name), filters.Arg("label", labelPlumbed+"=true"))
	attached, err := r.api.ContainerList(ctx, dcontainer.ListOptions{Filters: f}) // running only
	if err != nil {
		return classify(err, "remove network %q", name)
	}
	if len(attached) > 0 {
		return fmt.Errorf("remove network %q: %w: %d running sandboxes are attached, %s among them", name, container.ErrConflict, len(attached), strings.TrimPrefix(attached[0].Names[0], "/"))
	}
	err = r.api.NetworkRemove(ctx, name)
	switch {
	case err == nil, cerrdefs.IsNotFound(err):
		return nil
	case cerrdefs.IsPermissionDenied(err):
		// Docker answers 403 while endpoints are attached.
		return fmt.Errorf("remove network %q: %w: %w", name, container.ErrConflict, err)
	}
	return classify(err, "remove network %q", name)
}
