// Package containertest is the conformance suite every container.Runtime
// passes: the Docker runtime against a real daemon, the fake in memory. It
// checks behaviour a pod can observe (hostname, a sibling's port on
// localhost, exit codes and reasons, SIGTERM then SIGKILL, logs, exec) and
// the contracts of each method (idempotency, error classes, adoption by
// labels), so the fake cannot drift from Docker.
//
// The suite runs the program of package testimage in its containers; the
// caller makes it available as Options.TestImage (the Docker tests build a
// FROM-scratch image of ./testimage/cmd; the fake runs testimage.Main in
// process).
//
// Each subtest gets its own runtime from newRuntime, which must scope it
// (e.g. by node name) so that parallel subtests do not see each other's
// sandboxes, and removes what it created with t.Cleanup.
//
//	func TestConformance(t *testing.T) {
//		containertest.Run(t, func(t *testing.T) container.Runtime { return newRuntime(t) },
//			containertest.Options{TestImage: img, Network: container.NetworkConfig{Name: "x", Subnet: "10.213.0.0/24"}})
//	}
package containertest
