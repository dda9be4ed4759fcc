// Package openapi publishes the OpenAPI v2 and v3 documents of the served
// API, the way kube-apiserver does, so that kubectl (explain, apply, client-
// side validation, the server-side field validation probe) and client-go work
// against Gantry unchanged, and provides the schemas server-side apply needs.
//
// # Documents
//
// The documents are built from the resource registry: the schemas
// come from the definitions openapi-gen generated from the Go types
// (zz_generated.openapi.go), the paths from the registry (list, create,
// deletecollection, get, replace, patch, delete, the deprecated watch paths,
// and the status, scale, binding and eviction subresources), with the
// operation IDs, parameters, x-kubernetes-action and
// x-kubernetes-group-version-kind extensions the Kubernetes API installer
// produces. Schemas of served kinds, and meta types registered into each
// served group/version (DeleteOptions, WatchEvent, …), carry
// x-kubernetes-group-version-kind.
//
// Documents.ServeHTTP serves
//
//	/openapi/v2                     one document for the whole API (JSON or protobuf)
//	/openapi/v3                     the index: {"paths": {"apis/apps/v1": {"serverRelativeURL": "/openapi/v3/apis/apps/v1?hash=…"}, …}}
//	/openapi/v3/<document>          api, api/v1, apis, apis/<group>, apis/<group>/<version>, version (JSON or protobuf)
//
// with ETag and If-None-Match, and, for a v3 document requested with the
// current ?hash=, Cache-Control: public, immutable (a stale hash is
// redirected to the current one). Documents.Schemas returns the schemas of
// the served kinds for managedfields.NewTypeConverter.
//
// # Memory
//
// Building the documents allocates some 170 MiB in total and peaks at about
// 25 MiB of live heap for a few hundred milliseconds; afterwards Documents
// keeps only gzip-compressed JSON, under 1 MiB. New therefore builds
// nothing: the v3 documents (with their index) are built on the first v3
// request and the v2 document on the first v2 request, one family at a
// time, as kube-apiserver builds its v3 documents lazily. A server that is
// never asked for them never pays for them; the first request of a family
// waits for the build (about 0.3 s for v3). The protobuf forms are built on
// first request too (a similar transient peak) and kept compressed.
// Responses are sent gzip-encoded to clients that accept it and decompressed
// for the others, so do not wrap ServeHTTP in a compressing handler.
//
// # Concurrency
//
// Each lazily built part (the v3 family, the v2 document, each protobuf
// form) is built once, under sync.Once; a Documents is safe for concurrent
// use.
//
// # Regenerating the definitions
//
// zz_generated.openapi.go is generated; do not edit it. After bumping
// k8s.io/api or k8s.io/apimachinery, or serving a new API package, run
//
//	go generate ./internal/openapi
//
// from the repository root. The go:generate line below runs openapi-gen at
// the k8s.io/kube-openapi version go.mod requires (keep the two in step); it
// reads the input packages from the module cache by import path and needs
// only the Go module proxy. Its input is every k8s.io/api package the
// registry serves, plus the packages their types reference
// (scheduling/v1alpha3, used by batch/v1 Jobs) and the apimachinery packages
// of the shared types. A package missing from the list shows up as a
// "cannot find model definition" error from Schemas, from the first request
// and from this package's tests.
package openapi

//go:generate go run k8s.io/kube-openapi/cmd/openapi-gen@v0.0.0-20260721132016-d427ff9ee9ad --output-dir . --output-pkg github.com/gantry-dev/gantry/internal/openapi --output-file zz_generated.openapi.go --report-filename /dev/null k8s.io/api/core/v1 k8s.io/api/apps/v1 k8s.io/api/batch/v1 k8s.io/api/autoscaling/v1 k8s.io/api/autoscaling/v2 k8s.io/api/networking/v1 k8s.io/api/discovery/v1 k8s.io/api/coordination/v1 k8s.io/api/rbac/v1 k8s.io/api/events/v1 k8s.io/api/storage/v1 k8s.io/api/scheduling/v1 k8s.io/api/policy/v1 k8s.io/api/scheduling/v1alpha3 k8s.io/apimachinery/pkg/apis/meta/v1 k8s.io/apimachinery/pkg/runtime k8s.io/apimachinery/pkg/util/intstr k8s.io/apimachinery/pkg/api/resource k8s.io/apimachinery/pkg/version
