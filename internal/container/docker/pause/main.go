// Command pause is the process of a Gantry pod sandbox: it holds the pod's
// namespaces, does nothing else, and exits 0 on SIGTERM or SIGINT. When the
// pod shares its PID namespace it is PID 1 and reaps the orphans other
// processes leave behind.
//
// "pause forward PORT" is a helper run with exec inside the sandbox: it
// connects to PORT on localhost (IPv4, then IPv6) in the sandbox's network
// namespace and copies stdin to the connection and the connection to
// stdout, which is how port-forward reaches ports bound to loopback only.
// "pause version" prints the hash of the sources it was built from.
//
// It is linked statically and stays small: no fmt, no net.
package main

import (
	"io"
	"os"
	"os/signal"
	"strconv"
	"syscall"
)

// sourceHash is set at link time by gen (the hash of this directory's Go
// sources), so a test can tell a stale embedded binary from a fresh one.
var sourceHash = "dev"

func main() {
	if len(os.Args) > 1 {
		switch os.Args[1] {
		case "version":
			os.Stdout.WriteString(sourceHash + "\n")
			return
		case "forward":
			if len(os.Args) != 3 {
				break
			}
			port, err := strconv.Atoi(os.Args[2])
			if err != nil || port < 1 || port > 65535 {
				break
			}
			os.Exit(forward(port))
		}
		os.Stderr.WriteString("usage: pause [version | forward PORT]\n")
		os.Exit(2)
	}
	os.Exit(pause())
}

// pause blocks until SIGTERM or SIGINT, reaping children on SIGCHLD.
func pause() int {
	sigs := make(chan os.Signal, 8)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGCHLD)
	reap()
	for sig := range sigs {
		if sig != syscall.SIGCHLD {
			return 0
		}
		reap()
	}
	return 0
}

// reap collects every exited child without blocking.
func reap() {
	for {
		var ws syscall.WaitStatus
		pid, err := syscall.Wait4(-1, &ws, syscall.WNOHANG, nil)
		if err == syscall.EINTR {
			continue
		}
		if pid <= 0 || err != nil {
			return
		}
	}
}

// forward copies stdin to localhost:port and the connection to stdout.
func forward(port int) int {
	fd, err := dialLoopback(port)
	if err != nil {
		os.Stderr.WriteString("pause: connect to localhost:" + strconv.Itoa(port) + ": " + err.Error() + "\n")
		return 1
	}
	conn := os.NewFile(uintptr(fd), "conn")
	go func() {
		io.Copy(conn, os.Stdin)
		syscall.Shutdown(fd, syscall.SHUT_WR)
	}()
	if _, err := io.Copy(os.Stdout, conn); err != nil {
		return 1
	}
	return 0
}

// dialLoopback connects a TCP socket to 127.0.0.1:port, or [::1]:port if
// that is refused.
func dialLoopback(port int) (int, error) {
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	err = syscall.Connect(fd, &syscall.SockaddrInet4{Port: port, Addr: [4]byte{127, 0, 0, 1}})
	if err == nil {
		return fd, nil
	}
	syscall.Close(fd)
	fd6, err6 := syscall.Socket(syscall.AF_INET6, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err6 != nil {
		return -1, err
	}
	if err6 = syscall.Connect(fd6, &syscall.SockaddrInet6{Port: port, Addr: [16]byte{15: 1}}); err6 != nil {
		syscall.Close(fd6)
		return -1, err
	}
	return fd6, nil
}
