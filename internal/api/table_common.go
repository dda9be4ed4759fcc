package api

import (
	"fmt"
	"strings"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/runtime"
	"k8s.io/apimachinery/pkg/util/duration"
)

// Server-side tables mirror Kubernetes' printers
// (pkg/printers/internalversion/printers.go): the same column names, types,
// priorities and descriptions, and the same cell formatting. Like
// kube-apiserver, every Row returns the cells of every column, wide ones
// included; kubectl hides priority-1 columns unless -o wide is given.
//
// Helpers in the table_*.go files are prefixed with "print" so they do not
// clash with the strategy code living in the same package.

// printObjectMetaDocs holds ObjectMeta's OpenAPI descriptions, which
// Kubernetes uses for the Name and Age columns of every table.
var printObjectMetaDocs = metav1.ObjectMeta{}.SwaggerDoc()

// printNameColumn is the Name column every Kubernetes table has.
func printNameColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Name", Type: "string", Format: "name", Description: printObjectMetaDocs["name"]}
}

// printAgeColumn is the Age column: a string rendered by printAge.
func printAgeColumn() metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: "Age", Type: "string", Description: printObjectMetaDocs["creationTimestamp"]}
}

// printCol is a default (priority 0) column.
func printCol(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Description: description}
}

// printWideCol is a column kubectl shows only with -o wide (priority 1).
func printWideCol(name, typ, description string) metav1.TableColumnDefinition {
	return metav1.TableColumnDefinition{Name: name, Type: typ, Priority: 1, Description: description}
}

// Column descriptions Kubernetes uses for the pod-template columns of
// workload tables.
const (
	printContainersDoc = "Names of each container in the template."
	printImagesDoc     = "Images referenced by each container in the template."
)

// printTableFor adapts a typed row function to a TableConvertor. An object of
// another type yields a nil row (a programming error in the caller).
func printTableFor[T runtime.Object](columns []metav1.TableColumnDefinition, row func(obj T, now time.Time) []interface{}) *TableConvertor {
	return &TableConvertor{
		Columns: columns,
		Row: func(obj runtime.Object, now time.Time) []interface{} {
			typed, ok := obj.(T)
			if !ok {
				return nil
			}
			return row(typed, now)
		},
	}
}

// printDefaultTable is the table kube-apiserver serves for resources without
// a printer (roles, cluster roles, limit ranges): NAME and CREATED AT, the
// creation time in RFC 3339 (rest.NewDefaultTableConvertor).
func printDefaultTable() *TableConvertor {
	return &TableConvertor{
		Columns: []metav1.TableColumnDefinition{
			printNameColumn(),
			{Name: "Created At", Type: "date", Description: printObjectMetaDocs["creationTimestamp"]},
		},
		Row: func(obj runtime.Object, _ time.Time) []interface{} {
			m, ok := obj.(metav1.Object)
			if !ok {
				return nil
			}
			return []interface{}{m.GetName(), m.GetCreationTimestamp().UTC().Format(time.RFC3339)}
		},
	}
}

// printAge renders the time elapsed since ts as Kubernetes does in its AGE
// columns ("5m", "3h12m", "2d"); "<unknown>" for an unset time.
func printAge(ts metav1.Time, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// printMicroAge is printAge for a MicroTime.
func printMicroAge(ts metav1.MicroTime, now time.Time) string {
	if ts.IsZero() {
		return "<unknown>"
	}
	return duration.HumanDuration(now.Sub(ts.Time))
}

// printContainers lays out the names and images of containers on one line
// each, comma separated (the CONTAINERS and IMAGES columns).
func printContainers(containers []corev1.Container) (names, images string) {
	n := make([]string, len(containers))
	i := make([]string, len(containers))
	for k := range containers {
		n[k] = containers[k].Name
		i[k] = containers[k].Image
	}
	return strings.Join(n, ","), strings.Join(i, ",")
}

// printListWithMore joins up to max shown items and appends " + N more..."
// for the rest; "<unset>" for an empty list.
func printListWithMore(list []string, more bool, count, max int) string {
	ret := strings.Join(list, ",")
	if more {
		return fmt.Sprintf("%s + %d more...", ret, count-max)
	}
	if ret == "" {
		ret = "<unset>"
	}
	return ret
}

// printBoolPtr renders an optional bool as "True", "False" or "<unset>".
func printBoolPtr(v *bool) string {
	if v == nil {
		return "<unset>"
	}
	if *v {
		return "True"
	}
	return "False"
}
