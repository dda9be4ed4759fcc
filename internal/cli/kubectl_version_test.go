package cli

import (
	"strconv"
	"testing"

	utilversion "k8s.io/apimachinery/pkg/util/version"
	componentversion "k8s.io/component-base/version"
)

// TestKubectlVersion: the embedded kubectl reports the release of the
// kubectl module it is built from, in a form kubectl itself parses (its
// `version` command failed on the unset placeholder).
func TestKubectlVersion(t *testing.T) {
	setKubectlVersion()
	v := componentversion.Get()
	want := kubectlReleaseVersion()
	if v.GitVersion != want {
		t.Fatalf("GitVersion = %q, want %q", v.GitVersion, want)
	}
	parsed, err := utilversion.ParseSemantic(v.GitVersion)
	if err != nil {
		t.Fatalf("kubectl cannot parse its version: %v", err)
	}
	if parsed.Major() != 1 || v.Major != "1" || v.Minor != strconv.Itoa(int(parsed.Minor())) {
		t.Fatalf("version %+v does not match %s", v, want)
	}
}

func TestSplitMajorMinor(t *testing.T) {
	for _, tc := range []struct{ in, major, minor string }{
		{"v1.37.2", "1", "37"},
		{"v1.9.0-alpha.1", "1", "9"},
	} {
		major, minor, ok := splitMajorMinor(tc.in)
		if !ok || major != tc.major || minor != tc.minor {
			t.Errorf("splitMajorMinor(%q) = %q, %q, %v", tc.in, major, minor, ok)
		}
	}
	for _, in := range []string{"", "v1", "v1.", "v.1.2"} {
		if _, _, ok := splitMajorMinor(in); ok {
			t.Errorf("splitMajorMinor(%q) accepted", in)
		}
	}
}
