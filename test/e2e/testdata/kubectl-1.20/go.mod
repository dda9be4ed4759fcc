// kubectl 1.20 for the version-skew test (../../skew_test.go).
module gantry.test/oldkubectl

go 1.15

require (
	github.com/spf13/pflag v1.0.5
	k8s.io/component-base v0.20.15
	k8s.io/kubectl v0.20.15
)

// kubectl 1.20.15 requires reflect2 v1.0.1, which calls the runtime's map
// iterator with its pre-Go 1.18 signature: built with a current Go, kubectl
// crashes when it encodes a map with json-iterator, for example writing a
// kubeconfig after `kubectl config set-credentials --auth-provider-arg`.
// Kubernetes built 1.20.15 with Go 1.15; v1.0.2 is the fix for Go 1.18+.
require github.com/modern-go/reflect2 v1.0.2 // indirect
