package openapi

import (
	"testing"

	"github.com/gantry-dev/gantry/internal/api"
)

func BenchmarkNew(b *testing.B) {
	reg := api.NewRegistry()
	for b.Loop() {
		if _, err := New(reg); err != nil {
			b.Fatal(err)
		}
	}
}
