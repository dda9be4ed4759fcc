package api

import (
	"time"

	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
)

// TableConvertor renders server-side Table rows (what `kubectl get` prints).
type TableConvertor struct {
	// Columns lists every column, starting with Name, as Kubernetes prints
	// them (priority 0 columns show by default; priority 1 with -o wide).
	Columns []metav1.TableColumnDefinition
	// Row returns one cell per column for obj; now is used for ages.
	Row func(obj runtime.Object, now time.Time) []interface{}
}
