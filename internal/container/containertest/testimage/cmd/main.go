// Command testimage is the conformance suite's test program, built
// statically into a FROM-scratch image by the Docker runtime's tests. See
// package testimage for its modes.
package main

import (
	"os"
	"os/signal"

	"github.com/gantry-dev/gantry/internal/container/containertest/testimage"
)

func main() {
	os.Exit(testimage.Main(os.Args[1:], testimage.NewOS(signal.Notify)))
}
