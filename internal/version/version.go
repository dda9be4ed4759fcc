// Package version holds the build version of the gantry binary.
package version

// Version is set at link time with -ldflags "-X .../internal/version.Version=v1.2.3".
var Version = "v0.1.0-dev"

// KubernetesVersion is the Kubernetes API version Gantry's wire types come from
// and the version it reports at /version.
const KubernetesVersion = "v1.37.2"
