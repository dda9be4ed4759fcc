// Package container is the node agent's boundary to the container runtime.
//
// A pod is a sandbox plus containers. The sandbox owns the pod's network,
// IPC and UTS namespaces (and its PID namespace when the pod shares process
// namespaces); every container of the pod is created inside a sandbox and
// joins those namespaces. [Runtime] is everything the agent needs from a
// runtime: networks, sandboxes, containers, images, logs, exec, attach,
// port-forward and stats. It is composed of small interfaces so that a part
// of the agent (a prober, the stats collector) can depend on only what it
// uses.
//
// Implementations: internal/container/docker (Docker Engine, the only
// importer of the Docker SDK) and internal/container/fake (scriptable, in
// memory). internal/container/containertest is the conformance suite both
// pass, so the fake cannot drift from Docker.
//
// # Identity and adoption
//
// Every sandbox and container carries labels (see [LabelPodUID] and the
// other Label constants) with the pod's name, namespace and UID, the
// container's name and its attempt (restart count). The runtime keeps no
// state of its own: after an agent restart, ListSandboxes and ListContainers
// find what exists by those labels, so running containers are adopted, not
// restarted.
//
// # Errors
//
// Methods return errors that wrap one of the sentinels in errors.go
// ([ErrNotFound], [ErrImageNotFound], [ErrAlreadyExists], [ErrConflict],
// [ErrInvalid], [ErrUnavailable]); check them with errors.Is. [IsTemporary]
// says whether retrying the same call may succeed (the daemon was
// unreachable, a call timed out) or not (a missing image, a rejected
// configuration).
//
// # Concurrency
//
// Every method of a Runtime is safe for concurrent use. Starting the
// containers of one pod concurrently is faster than one after the other
// (about 20% on Docker for three containers); [StartAll] does that.
//
// # Example
//
//	sb, err := rt.RunSandbox(ctx, container.SandboxConfig{
//		Pod: container.PodRef{Name: "web", Namespace: "default", UID: uid},
//		Hostname: "web",
//		Network: container.SandboxNetwork{Network: "gantry", IP: "10.244.1.7"},
//	})
//	id, err := rt.CreateContainer(ctx, sb, container.ContainerConfig{
//		Name: "app", Image: "example/app:1",
//	})
//	err = container.StartAll(ctx, rt, id)
package container
