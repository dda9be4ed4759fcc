// Package fake is an in-memory container.Runtime for in-process cluster
// tests. It passes the same conformance suite (containertest) as the
// Docker runtime, so what a test observes through it is what Docker does:
// sandboxes hold a pod's network (its ports, reachable on localhost and by
// pod IP from other sandboxes of the runtime), hostname and DNS files;
// containers run a Program, a Go function standing in for the image's
// process, with stdin, stdout/stderr captured as logs, SIGTERM, a memory
// limit that OOM-kills, exit codes and reasons.
//
// # Scripting
//
// Images are made present with AddImage (or pullable with AddToRegistry,
// or any reference pullable with Config.PullAny). An image's Program
// decides how its containers behave; without one they run until stopped.
// Exit and OOMKill end a running container from outside, as a crash would.
//
// Every method of container.Runtime can be replaced by setting the
// function field of the same name with a Func suffix, e.g.
//
//	rt.StartContainerFunc = func(ctx context.Context, id string) error {
//		return container.Temporary(errors.New("daemon busy"))
//	}
//
// Default returns the runtime without replacements, so a replacement can
// fail some calls and pass the others on. Set function fields before the
// runtime is shared, or inside Script while it is in use.
//
// # Concurrency
//
// All methods are safe for concurrent use; one mutex guards the state.
// Programs run in their own goroutines and call back into the runtime only
// through their Process. Output is written to attached and exec'd streams
// with that mutex held, so those writers must not wait for the runtime.
package fake
