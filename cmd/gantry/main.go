// Command gantry is a container orchestrator in one binary: the control
// plane (`gantry server`), the node agent (`gantry agent`) and an embedded
// kubectl (`gantry kubectl`).
package main

import (
	"os"

	"github.com/gantry-dev/gantry/internal/cli"
)

func main() {
	os.Exit(cli.Main(os.Args[1:]))
}
