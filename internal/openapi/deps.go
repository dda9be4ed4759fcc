package openapi

import (
	_ "k8s.io/apimachinery/pkg/util/managedfields"
	_ "k8s.io/kube-openapi/pkg/common"
	_ "k8s.io/kube-openapi/pkg/spec3"
	_ "k8s.io/kube-openapi/pkg/validation/spec"
	_ "github.com/prometheus/client_golang/prometheus"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "gopkg.in/evanphx/json-patch.v4"
)
