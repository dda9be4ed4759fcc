// Package arch checks the package import rules of ARCHITECTURE.md §3.
package arch

import (
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/gantry-dev/gantry/"

// allowed maps a package (relative to the module, a trailing "/..." also
// covering sub-packages) to the internal packages it may import.
// Composition roots may import whatever they compose.
var allowed = map[string][]string{
	"cmd/gantry":               {"internal/cli"},
	"internal/cli":             {"internal/server", "internal/node", "internal/logging", "internal/version", "internal/cli/kubectltext", "internal/memtrim"},
	"internal/cli/kubectltext": {},
	"internal/server":          {"*"},
	"internal/node":            {"*"},
	"internal/api":             {},
	"internal/embedetcd":       {"internal/logging"},
	"internal/storage":         {"internal/api"},
	"internal/storage/...":     {"internal/storage", "internal/storage/...", "internal/embedetcd", "internal/api"},
	"internal/apiserver":       {"internal/api", "internal/storage", "internal/auth", "internal/admission", "internal/logging", "internal/version"},
	"internal/auth":            {"internal/api"},
	"internal/admission":       {"internal/api"},
	"internal/openapi":         {"internal/api"},
	"internal/controller":      {"internal/logging"},
	"internal/controller/...":  {"internal/controller", "internal/api", "internal/logging"},
	"internal/scheduler":       {"internal/api", "internal/logging", "internal/scheduler/..."},
	"internal/scheduler/...":   {"internal/api", "internal/logging", "internal/scheduler/..."},
	"internal/agent":           {"internal/container", "internal/api", "internal/logging"},
	"internal/container":       {"internal/api"},
	"internal/container/...":   {"internal/container", "internal/container/...", "internal/api", "internal/logging"},
	"internal/proxy":           {"internal/api", "internal/logging"},
	"internal/clusterdns":      {"internal/api", "internal/logging"},
	"internal/ingress":         {"internal/api", "internal/logging"},
	"internal/dashboard":       {},
	"internal/logging":         {},
	"internal/version":         {},
	"internal/memtrim":         {},
	"internal/testcluster":     {"*"},
	"internal/fixture":         {"*"},
	"test/...":                 {"*"},
}

// rule returns the allowed list for pkg, preferring an exact entry.
func rule(pkg string) ([]string, bool) {
	if r, ok := allowed[pkg]; ok {
		return r, true
	}
	best := ""
	for k := range allowed {
		if strings.HasSuffix(k, "/...") {
			base := strings.TrimSuffix(k, "/...")
			if strings.HasPrefix(pkg, base+"/") && len(base) > len(best) {
				best = k
			}
		}
	}
	if best == "" {
		return nil, false
	}
	return allowed[best], true
}

func permits(list []string, imp string) bool {
	for _, a := range list {
		switch {
		case a == "*", a == imp:
			return true
		case strings.HasSuffix(a, "/...") && strings.HasPrefix(imp, strings.TrimSuffix(a, "...")):
			return true
		}
	}
	return false
}

func TestImportRules(t *testing.T) {
	out, err := exec.Command("go", "list", "-json=ImportPath,Imports", "github.com/gantry-dev/gantry/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	dec := json.NewDecoder(strings.NewReader(string(out)))
	n := 0
	for dec.More() {
		var p struct {
			ImportPath string
			Imports    []string
		}
		if err := dec.Decode(&p); err != nil {
			t.Fatal(err)
		}
		n++
		pkg := strings.TrimPrefix(p.ImportPath, module)
		list, ok := rule(pkg)
		if !ok {
			t.Errorf("%s has no import rule: add it to ARCHITECTURE's table and to this test", pkg)
			continue
		}
		for _, imp := range p.Imports {
			if !strings.HasPrefix(imp, module) {
				continue
			}
			imp = strings.TrimPrefix(imp, module)
			if !permits(list, imp) {
				t.Errorf("%s imports %s, which ARCHITECTURE.md §3 does not allow", pkg, imp)
			}
		}
	}
	if n < 10 {
		t.Fatalf("only %d packages listed; the check would prove nothing", n)
	}
}

func TestRuleMatching(t *testing.T) {
	if permits(allowed["internal/controller/..."], "internal/storage") {
		t.Error("controllers must not import storage")
	}
	if !permits(allowed["internal/controller/..."], "internal/api") {
		t.Error("controllers may import api")
	}
	if r, _ := rule("internal/controller/gc"); !permits(r, "internal/controller") {
		t.Error("sub-package rule not applied")
	}
}
