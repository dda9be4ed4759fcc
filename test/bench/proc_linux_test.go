package bench

import (
	"os/exec"
	"syscall"
)

// killWithParent makes the kernel kill the server if the benchmark process
// dies without stopping it (a timeout, SIGQUIT), so no server is orphaned.
func killWithParent(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
