package kubectltext_test

import (
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/chai2010/gettext-go"
	_ "k8s.io/kubectl/pkg/cmd" // its packages translate texts while initialised
	"k8s.io/kubectl/pkg/util/i18n"

	"github.com/gantry-dev/gantry/internal/cli/kubectltext"
)

// catalogDomain is the gettext domain kubectl's catalog sets once loaded.
const catalogDomain = "k8s"

func TestRunsKubectl(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want bool
	}{
		{nil, false},
		{[]string{"server", "--data-dir", "d"}, false},
		{[]string{"agent"}, false},
		{[]string{"kubectl", "get", "pods"}, true},
		{[]string{"--log-level=debug", "kubectl"}, true},
		{[]string{"-test.run=X", "kubectl"}, true},
		{[]string{"version", "kubectl"}, false},
	} {
		if got := kubectltext.RunsKubectl(tc.args); got != tc.want {
			t.Errorf("RunsKubectl(%q) = %v, want %v", tc.args, got, tc.want)
		}
	}
}

// TestCatalogDeferred: kubectl's packages are initialised in this test
// binary, which does not run kubectl, and no catalog was loaded; their
// texts are the English ones they were given.
func TestCatalogDeferred(t *testing.T) {
	if os.Getenv("KUBECTLTEXT_PRINT_DOMAIN") != "" {
		t.Skip("helper run of TestCatalogLoadedForKubectl")
	}
	if d := gettext.SetDomain(""); d == catalogDomain {
		t.Fatalf("kubectl's catalog was loaded (domain %q) in a process that does not run kubectl", d)
	}
	if got := i18n.T("Display one or many resources"); got != "Display one or many resources" {
		t.Fatalf("i18n.T changed an English text to %q", got)
	}
}

// TestCatalogLoadedForKubectl runs this test binary again with "kubectl"
// as its first word: there the catalog is loaded as kubectl loads it.
func TestCatalogLoadedForKubectl(t *testing.T) {
	if os.Getenv("KUBECTLTEXT_PRINT_DOMAIN") != "" {
		os.Stdout.WriteString("domain=" + gettext.SetDomain("") + "\n")
		return
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestCatalogLoadedForKubectl$", "kubectl")
	cmd.Env = append(os.Environ(), "KUBECTLTEXT_PRINT_DOMAIN=1")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("helper: %v\n%s", err, out)
	}
	if !strings.Contains(string(out), "domain="+catalogDomain+"\n") {
		t.Fatalf("helper did not load kubectl's catalog:\n%s", out)
	}
}
