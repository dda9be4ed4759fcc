package container

import (
	"context"
	"errors"
)

// Error classes. Runtimes wrap one of these (fmt.Errorf("…: %w", ErrX)) so
// that callers can branch with errors.Is without reading messages.
var (
	// ErrNotFound: the sandbox, container, exec or network does not exist.
	ErrNotFound = errors.New("container: not found")
	// ErrImageNotFound: the image is not present locally, or the registry
	// says it does not exist. Retrying does not help until someone builds,
	// loads or pushes it.
	ErrImageNotFound = errors.New("container: image not found")
	// ErrAlreadyExists: a sandbox or container with the same name (pod UID,
	// container name and attempt) exists already.
	ErrAlreadyExists = errors.New("container: already exists")
	// ErrConflict: the request contradicts the runtime's current state: a
	// network exists with another subnet, a subnet overlaps another network,
	// an IP address is taken, a running container cannot be removed.
	ErrConflict = errors.New("container: conflict with current state")
	// ErrInvalid: the runtime rejected the configuration (an unknown
	// capability, a bad mount, an IP outside the network). Fatal.
	ErrInvalid = errors.New("container: invalid configuration")
	// ErrUnavailable: the runtime could not be reached or did not answer in
	// time. Temporary.
	ErrUnavailable = errors.New("container: runtime unavailable")
	// ErrNotRunning: the operation needs a running container (exec, attach,
	// port-forward, stats) and it is not running.
	ErrNotRunning = errors.New("container: not running")
)

// temporary is implemented by errors that know whether a retry may succeed.
type temporary interface{ Temporary() bool }

type classified struct {
	err  error
	temp bool
}

func (e classified) Error() string   { return e.err.Error() }
func (e classified) Unwrap() error   { return e.err }
func (e classified) Temporary() bool { return e.temp }

// Temporary marks err as temporary: retrying the same call later may succeed.
// It returns nil for a nil err.
func Temporary(err error) error {
	if err == nil {
		return nil
	}
	return classified{err, true}
}

// Fatal marks err as fatal, whatever it wraps: retrying the same call will
// fail again. It returns nil for a nil err.
func Fatal(err error) error {
	if err == nil {
		return nil
	}
	return classified{err, false}
}

// IsTemporary reports whether retrying the call that returned err may
// succeed. The outermost mark made by Temporary or Fatal (or any error with
// a Temporary() bool method) decides; without one, errors wrapping
// ErrUnavailable or context.DeadlineExceeded are temporary and everything
// else (ErrImageNotFound, ErrInvalid, ErrNotFound …) is fatal. A cancelled
// context is not temporary: the caller gave up.
func IsTemporary(err error) bool {
	if err == nil {
		return false
	}
	var t temporary
	if errors.As(err, &t) {
		return t.Temporary()
	}
	return errors.Is(err, ErrUnavailable) || errors.Is(err, context.DeadlineExceeded)
}
