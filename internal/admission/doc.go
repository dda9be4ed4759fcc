// Package admission holds Gantry's admission plugins: changes and checks
// the API server applies to objects after defaulting and validation and
// before storage, as kube-apiserver's admission chain does. Plugins here
// do no I/O: the API server looks up what they need and passes it in.
//
// ServiceAccountToken is Kubernetes' ServiceAccount admission for pods
// (plugin/pkg/admission/serviceaccount): it mounts the projected
// kube-api-access volume (the account's token, the cluster CA from the
// kube-root-ca.crt ConfigMap, the namespace) at
// /var/run/secrets/kubernetes.io/serviceaccount in every container.
package admission
