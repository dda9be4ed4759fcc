package fake_test

import (
	"context"
	"testing"

	"github.com/gantry-dev/gantry/internal/container"
	"github.com/gantry-dev/gantry/internal/container/containertest"
	"github.com/gantry-dev/gantry/internal/container/containertest/testimage"
	"github.com/gantry-dev/gantry/internal/container/fake"
)

const testImage = "gantry-test/testimage:fake"

// newRuntime returns a fake with the test image, whose processes run the
// test program in process.
func newRuntime(t *testing.T) container.Runtime {
	rt := fake.New(fake.Config{})
	rt.AddImage(testImage, fake.Image{
		Entrypoint:  []string{"/testimage"},
		Executables: []string{"/testimage"},
		Program: func(ctx context.Context, p *fake.Process) int {
			return testimage.Main(p.Args[1:], p)
		},
	})
	return rt
}

func TestConformance(t *testing.T) {
	containertest.Run(t, newRuntime, containertest.Options{
		TestImage: testImage,
		Network:   container.NetworkConfig{Name: "fake", Subnet: "10.244.0.0/16"},
	})
}

var _ testimage.System = (*fake.Process)(nil)
