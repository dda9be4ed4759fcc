// Package kubectltext loads kubectl's message catalog only in a process
// that runs the embedded kubectl (`gantry kubectl …`).
//
// kubectl's packages translate their help texts while they are
// initialised: the first i18n.T call unpacks and parses a catalog, which
// took a quarter of the binary's package initialisation (24 ms and 4.4 MB
// of allocations) in every `gantry server` and `gantry agent` start, whose
// processes never print kubectl's texts. Without a catalog, i18n.T returns
// the English text it is given, which is what the default catalog holds.
//
// The hook must be set before any package calls i18n.T. Packages are
// initialised in import-path order among those whose imports are done, so
// this one, which imports only i18n, runs right after it and before every
// k8s.io/kubectl package that depends on i18n. TestCatalogDeferred checks
// that.
package kubectltext

import (
	"os"
	"strings"

	"k8s.io/kubectl/pkg/util/i18n"
)

func init() {
	load := i18n.LoadTranslationsFunc
	// SetLoadTranslationsFunc fails only once a catalog is loaded.
	_ = i18n.SetLoadTranslationsFunc(func() error {
		if !RunsKubectl(os.Args[1:]) {
			return nil
		}
		return load()
	})
}

// RunsKubectl reports whether args (the command line without the program
// name) run the embedded kubectl: whether its first word that is not a
// flag is "kubectl".
func RunsKubectl(args []string) bool {
	for _, a := range args {
		if !strings.HasPrefix(a, "-") {
			return a == "kubectl"
		}
	}
	return false
}
