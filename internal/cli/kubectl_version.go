package cli

import (
	"runtime/debug"
	"strings"
	_ "unsafe" // for go:linkname

	componentversion "k8s.io/component-base/version"

	"github.com/gantry-dev/gantry/internal/version"
)

// kubectl reports its own version (`kubectl version`, the skew warning,
// its User-Agent) from k8s.io/component-base/version, whose variables
// Kubernetes' release builds set with -ldflags -X. Unset, they hold a
// placeholder that kubectl cannot parse: `kubectl version` failed with
// "could not parse pre-release/metadata". Gantry is built with plain
// `go build`, so it sets them before kubectl runs, from the version of the
// k8s.io/kubectl module linked in (v0.X.Y is Kubernetes v1.X.Y).

//go:linkname kubectlGitVersion k8s.io/component-base/version.gitVersion
var kubectlGitVersion string

//go:linkname kubectlGitMajor k8s.io/component-base/version.gitMajor
var kubectlGitMajor string

//go:linkname kubectlGitMinor k8s.io/component-base/version.gitMinor
var kubectlGitMinor string

// kubectlPlaceholderVersion is component-base's gitVersion when no build
// flag set it.
const kubectlPlaceholderVersion = "v0.0.0-master+$Format:%H$"

// setKubectlVersion gives kubectl its release version unless the build
// set one.
func setKubectlVersion() {
	if kubectlGitVersion != kubectlPlaceholderVersion {
		return
	}
	v := kubectlReleaseVersion()
	major, minor, ok := splitMajorMinor(v)
	if !ok {
		return
	}
	kubectlGitVersion, kubectlGitMajor, kubectlGitMinor = v, major, minor
	// Get reads the version through this copy, taken at package
	// initialisation; it accepts only the (now set) gitVersion's release.
	_ = componentversion.SetDynamicVersion(v)
}

// kubectlReleaseVersion is the Kubernetes release of the linked kubectl
// module, or the API version Gantry serves if the build has no module
// information.
func kubectlReleaseVersion() string {
	if info, ok := debug.ReadBuildInfo(); ok {
		for _, dep := range info.Deps {
			if dep.Path == "k8s.io/kubectl" && strings.HasPrefix(dep.Version, "v0.") {
				return "v1." + strings.TrimPrefix(dep.Version, "v0.")
			}
		}
	}
	return version.KubernetesVersion
}

// splitMajorMinor splits "v1.37.2" into "1" and "37".
func splitMajorMinor(v string) (major, minor string, ok bool) {
	parts := strings.SplitN(strings.TrimPrefix(v, "v"), ".", 3)
	if len(parts) < 3 || parts[0] == "" || parts[1] == "" {
		return "", "", false
	}
	return parts[0], parts[1], true
}
