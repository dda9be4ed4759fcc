package openapi

import (
	"bytes"
	"fmt"
	"sort"
	"strings"
	"unicode"

	"github.com/gantry-dev/gantry/internal/api"
	"k8s.io/apimachinery/pkg/runtime/schema"
	"k8s.io/kube-openapi/pkg/common"
	"k8s.io/kube-openapi/pkg/util"
	"k8s.io/kube-openapi/pkg/validation/spec"
)

// definitionNamer names schemas and tags each schema that is the Go type of
// a served kind with x-kubernetes-group-version-kind, like k8s.io/apiserver's
// DefinitionNamer but limited to the served group/versions.
type definitionNamer struct {
	gvks map[string][]schema.GroupVersionKind // model name → kinds, sorted
}

// newDefinitionNamer indexes every kind the scheme knows in a served
// group/version, so meta types registered into each group/version
// (DeleteOptions, WatchEvent, ListOptions, …) carry one GVK per served
// group/version, as Kubernetes publishes them.
func newDefinitionNamer(reg *api.Registry) (*definitionNamer, error) {
	served := map[schema.GroupVersion]bool{}
	for _, gv := range reg.GroupVersions() {
		served[gv] = true
	}
	scheme := api.NewScheme()
	n := &definitionNamer{gvks: map[string][]schema.GroupVersionKind{}}
	for gvk := range scheme.AllKnownTypes() {
		if !served[gvk.GroupVersion()] {
			continue
		}
		name, err := scheme.ToOpenAPIDefinitionName(gvk)
		if err != nil {
			return nil, fmt.Errorf("openapi: definition name of %v: %w", gvk, err)
		}
		n.gvks[name] = append(n.gvks[name], gvk)
	}
	for _, list := range n.gvks {
		sort.Slice(list, func(i, j int) bool {
			a, b := list[i], list[j]
			if a.Group != b.Group {
				return a.Group < b.Group
			}
			if a.Version != b.Version {
				return a.Version < b.Version
			}
			return a.Kind < b.Kind
		})
	}
	return n, nil
}

// name implements common.Config.GetDefinitionName. Generated definitions are
// keyed by their OpenAPI model names (io.k8s.api.core.v1.Pod); Go package
// paths (k8s.io/api/core/v1.Pod), which older generated code used, are
// converted to the same form.
func (n *definitionNamer) name(name string) (string, spec.Extensions) {
	if strings.Contains(name, "/") {
		name = util.ToRESTFriendlyName(name)
	}
	list, found := n.gvks[name]
	if !found {
		return name, nil
	}
	return name, spec.Extensions{extGVK: gvkExtension(list)}
}

// gvkExtension renders kinds the way managedfields and kubectl read
// x-kubernetes-group-version-kind: a list of {group, version, kind} maps.
func gvkExtension(list []schema.GroupVersionKind) []interface{} {
	out := make([]interface{}, 0, len(list))
	for _, gvk := range list {
		out = append(out, map[string]interface{}{"group": gvk.Group, "version": gvk.Version, "kind": gvk.Kind})
	}
	return out
}

// verbs are the operation-name prefixes, as k8s.io/apiserver lists them; the
// shortest matching prefix wins ("deletecollection…" → "delete").
var verbs = util.NewTrie([]string{"get", "log", "read", "replace", "patch", "delete", "deletecollection", "watch", "connect", "proxy", "list", "create"})

// operationID implements common.Config.GetOperationIDAndTagsFromRoute: it
// qualifies an operation name with its group and version
// ("listNamespacedPod" at /api/v1/… → "listCoreV1NamespacedPod", tag "core_v1").
func operationID(r common.Route) (string, []string, error) {
	op := r.OperationName()
	prefix, found := verbs.GetPrefix(op)
	if !found {
		return op, nil, fmt.Errorf("openapi: operation %q does not start with a verb", op)
	}
	op = op[len(prefix):]
	parts := strings.Split(strings.Trim(r.Path(), "/"), "/")
	if len(parts) >= 1 && parts[0] == "api" {
		parts = append([]string{"apis", "core"}, parts[1:]...)
	}
	var tags []string
	if len(parts) >= 2 && parts[0] == "apis" {
		trimmed := strings.TrimSuffix(parts[1], ".k8s.io")
		prefix += validOperationID(trimmed, prefix != "")
		tag := validOperationID(trimmed, false)
		if len(parts) > 2 {
			prefix += validOperationID(parts[2], prefix != "")
			tag += "_" + validOperationID(parts[2], false)
		}
		tags = append(tags, tag)
	} else if len(parts) >= 1 {
		tags = append(tags, validOperationID(parts[0], false))
	}
	return prefix + validOperationID(op, prefix != ""), tags, nil
}

// validOperationID removes punctuation from s and camel-cases the words.
func validOperationID(s string, capitalizeFirst bool) string {
	var b bytes.Buffer
	capitalize := capitalizeFirst
	for i, r := range s {
		if unicode.IsLetter(r) || r == '_' || (i != 0 && unicode.IsDigit(r)) {
			if capitalize {
				b.WriteRune(unicode.ToUpper(r))
				capitalize = false
			} else {
				b.WriteRune(r)
			}
		} else {
			capitalize = true
		}
	}
	return b.String()
}
