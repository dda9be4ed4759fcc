//go:build !linux

package clusterdns

import (
	"errors"
	"syscall"
)

// setReusePort is supported on Linux only.
func setReusePort(_, _ string, _ syscall.RawConn) error {
	return errors.New("clusterdns: SO_REUSEPORT is supported on Linux only")
}
