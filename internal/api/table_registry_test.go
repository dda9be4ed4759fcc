package api

import (
	"testing"
	"time"
)

// TestEveryResourceHasTable keeps tables complete: every served resource has
// one, with a Name column in Kubernetes' place, documented columns, and a
// row of one cell per column even for an empty object.
func TestEveryResourceHasTable(t *testing.T) {
	for _, r := range NewRegistry().All() {
		t.Run(r.GVR.String(), func(t *testing.T) {
			tc := r.Table
			if tc == nil {
				t.Fatal("no Table: add the resource to presentationTable")
			}
			if len(tc.Columns) == 0 || tc.Row == nil {
				t.Fatalf("table has %d columns, Row set: %v", len(tc.Columns), tc.Row != nil)
			}
			nameAt := -1
			for i, c := range tc.Columns {
				if c.Name == "Name" && c.Type == "string" && c.Format == "name" {
					nameAt = i
				}
				if c.Description == "" {
					t.Errorf("column %q has no description", c.Name)
				}
				if c.Priority != 0 && c.Priority != 1 {
					t.Errorf("column %q has priority %d", c.Name, c.Priority)
				}
			}
			// Events print LAST SEEN first and NAME last (wide), as in Kubernetes.
			wantNameAt := 0
			if r.GVR.Resource == "events" {
				wantNameAt = len(tc.Columns) - 1
			}
			if nameAt != wantNameAt {
				t.Errorf("Name column (format name) at %d, want %d", nameAt, wantNameAt)
			}

			row := tc.Row(r.New(), time.Now())
			if len(row) != len(tc.Columns) {
				t.Errorf("Row of an empty object has %d cells, want %d", len(row), len(tc.Columns))
			}
			if row := tc.Row(r.NewList(), time.Now()); row != nil {
				t.Errorf("Row of a list = %v, want nil", row)
			}
		})
	}
}

// TestEmptyObjectCells pins the cells Kubernetes prints for objects with
// nothing set, where placeholders ("<none>", "<unknown>", "<unset>") matter.
func TestEmptyObjectCells(t *testing.T) {
	reg := NewRegistry()
	tests := []struct {
		gvr  [3]string
		want []interface{}
	}{
		{[3]string{"", "v1", "pods"}, []interface{}{"", "0/0", "", "0", "<unknown>", "<none>", "<none>", "<none>", "<none>"}},
		{[3]string{"", "v1", "services"}, []interface{}{"", "", "<none>", "<unknown>", "<none>", "<unknown>", "<none>"}},
		{[3]string{"", "v1", "endpoints"}, []interface{}{"", "<none>", "<unknown>"}},
		{[3]string{"", "v1", "nodes"}, []interface{}{"", "Unknown", "<none>", "<unknown>", "", "<none>", "<none>", "<unknown>", "<unknown>", "<unknown>"}},
		{[3]string{"", "v1", "persistentvolumeclaims"}, []interface{}{"", "", "", "", "", "", "<unset>", "<unknown>", "<unset>"}},
		{[3]string{"apps", "v1", "deployments"}, []interface{}{"", "0/0", int64(0), int64(0), "<unknown>", "", "", ""}},
		{[3]string{"apps", "v1", "replicasets"}, []interface{}{"", int64(0), int64(0), int64(0), "<unknown>", "", "", "<none>"}},
		{[3]string{"apps", "v1", "controllerrevisions"}, []interface{}{"", "<none>", int64(0), "<unknown>"}},
		{[3]string{"batch", "v1", "jobs"}, []interface{}{"", "Running", "0/1", "", "<unknown>", "", "", "<none>"}},
		{[3]string{"batch", "v1", "cronjobs"}, []interface{}{"", "", "<none>", "<unset>", int64(0), "<none>", "<unknown>", "", "", "<none>"}},
		{[3]string{"autoscaling", "v2", "horizontalpodautoscalers"}, []interface{}{"", "/", "<none>", "<unset>", int64(0), int64(0), "<unknown>"}},
		{[3]string{"networking.k8s.io", "v1", "ingresses"}, []interface{}{"", "<none>", "*", "", "80", "<unknown>"}},
		{[3]string{"discovery.k8s.io", "v1", "endpointslices"}, []interface{}{"", "", "<unset>", "<unset>", "<unknown>"}},
		{[3]string{"storage.k8s.io", "v1", "storageclasses"}, []interface{}{"", "", "Delete", "Immediate", false, "<unknown>"}},
		{[3]string{"policy", "v1", "poddisruptionbudgets"}, []interface{}{"", "N/A", "N/A", int64(0), "<unknown>"}},
		{[3]string{"rbac.authorization.k8s.io", "v1", "roles"}, []interface{}{"", "0001-01-01T00:00:00Z"}},
		{[3]string{"", "v1", "events"}, []interface{}{"<unknown>", "", "", "", "", "", "", "<unknown>", int64(1), ""}},
	}
	for _, tt := range tests {
		r := reg.Get(gvr(tt.gvr[0], tt.gvr[1], tt.gvr[2]))
		if r == nil {
			t.Fatalf("%v not served", tt.gvr)
		}
		got := r.Table.Row(r.New(), tableNow)
		if !tableCellsEqual(got, tt.want) {
			t.Errorf("%s: row = %#v\nwant %#v", r.GVR.Resource, got, tt.want)
		}
	}
}
