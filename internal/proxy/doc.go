// Package proxy is Gantry's service proxy (its kube-proxy): it computes
// service rules from Services and EndpointSlices (Compute, a pure
// function returning a Ruleset) and programs them into netfilter.
package proxy
