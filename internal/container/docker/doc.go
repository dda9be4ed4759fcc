// Package docker implements container.Runtime on Docker Engine. It is the
// only package that imports the Docker SDK (github.com/docker/docker/client
// v28, which negotiates down to the API of Docker 20.10, 1.41).
//
// # Mapping
//
// A sandbox is a container of Gantry's own pause image (built locally from
// the embedded pause program, see pause.go and
// docs/design/0002-pause-image.md) with IpcMode "shareable". On a pod
// network it gets a fixed IP on a user-defined bridge network: plumbed by
// this runtime when the daemon is local and we are root (podnet.go,
// docs/design/0012-pod-network-plumbing.md), else attached by Docker; with
// host network it uses NetworkMode "host". App containers join it with
// NetworkMode, IpcMode (and PidMode, with a shared process namespace)
// "container:<sandbox>".
//
// Facts measured on Docker 20.10 that shape the code:
//   - Docker refuses Hostname with NetworkMode "container:…" ("conflicting
//     options: hostname and the network mode") and has no UTS mode to join
//     another container's UTS namespace. It does give every such container
//     the network container's hostname (in a UTS namespace of its own), so
//     the sandbox's Hostname is the pod's hostname everywhere.
//   - Other containers may join a container's IPC namespace only if it was
//     created with IpcMode "shareable".
//   - On a user-defined network Docker writes "nameserver 127.0.0.11" (its
//     embedded DNS) into resolv.conf. A pod's DNS settings are therefore
//     written to <StateDir>/<sandbox>/resolv.conf and bind-mounted at
//     /etc/resolv.conf in the sandbox; Docker then uses that file as the
//     sandbox's ResolvConfPath, which joined containers inherit, as they
//     inherit its /etc/hosts (hostname, Domainname, HostAliases). For a
//     plumbed sandbox Docker writes neither file: the runtime writes both
//     and binds them into every container of the pod.
//   - Docker configures an attached container's network in a prestart
//     hook that runs a fresh dockerd, about 0.35 s of CPU here: the reason
//     for plumbing. Its stats API answers zeros for containers joined to a
//     sandbox it did not attach, so those are read from their cgroups
//     (cgroupstats.go).
//   - Docker's stop timeout has a granularity of one second.
//   - State.OOMKilled loses a race with the exit event now and then; the
//     daemon's "oom" event fills in (oom.go).
//   - A negative oom_score_adj makes runc fail ("can't get final child's
//     PID from pipe") where dockerd lacks CAP_SYS_RESOURCE, as on these
//     machines; negative values (kubelet's -998 for sandboxes, -997 for
//     Guaranteed pods) are raised to 0.
//
// Every object carries the labels of container.Label* plus
// io.gantry.node=<Config.Node>; the List methods filter on the node, so
// several nodes can share one daemon. The runtime keeps no state besides
// knowing the pause image exists.
//
// All methods are safe for concurrent use.
package docker
