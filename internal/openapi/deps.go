package openapi

import (
	_ "github.com/prometheus/client_golang/prometheus"
	_ "gopkg.in/evanphx/json-patch.v4"
	_ "k8s.io/apimachinery/pkg/util/managedfields"
	_ "k8s.io/apimachinery/pkg/util/strategicpatch"
	_ "k8s.io/kube-openapi/pkg/common"
	_ "k8s.io/kube-openapi/pkg/spec3"
	_ "k8s.io/kube-openapi/pkg/validation/spec"
)
