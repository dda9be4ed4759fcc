package server

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"sync"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// inProcessHost is the URL the in-process clients use; it names no
// network address: their connections are socket pairs (see inProcess).
const inProcessHost = "http://gantry.in-process"

// inProcess connects the server's own clients (scheduler, controllers,
// ingress, leader election) to its API server without TLS or TCP: each
// connection is a pair of connected Unix sockets made in the process,
// served by a second http.Server speaking HTTP/1.1. Nothing outside the
// process can reach it, so it needs no encryption; requests still carry
// the loopback bearer token and are authenticated and authorised like any
// other. On this project's 2-core machines TLS on loopback cost about an
// eighth of the server's CPU while it scheduled a 3,000-pod Deployment,
// and HTTP/2's framing (every request and watch event passing through
// each connection's serving goroutine) another sixth; HTTP/1.1 over a
// socket pair is a buffered write and a read (design 0011).
type inProcess struct {
	conns  chan net.Conn
	done   chan struct{}
	once   sync.Once
	server *http.Server

	mu         sync.Mutex
	transports []*http.Transport // of config's clients
}

func newInProcess(handler http.Handler) *inProcess {
	p := &inProcess{conns: make(chan net.Conn), done: make(chan struct{})}
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	p.server = &http.Server{Handler: handler, Protocols: &protocols, ReadHeaderTimeout: 30 * time.Second}
	return p
}

// serve answers in-process connections until shutdown.
func (p *inProcess) serve() error {
	err := p.server.Serve(p)
	if errors.Is(err, http.ErrServerClosed) {
		return nil
	}
	return err
}

// shutdown stops accepting and closes idle connections, waiting at most
// until ctx ends; watches still open are closed then.
func (p *inProcess) shutdown(ctx context.Context) {
	// Clients close their idle connections first: a connection a client
	// dialed but then did not need (another became free first) has never
	// carried a request, and the server would wait seconds before it
	// counts as idle.
	p.mu.Lock()
	for _, t := range p.transports {
		t.CloseIdleConnections()
	}
	p.mu.Unlock()
	if err := p.server.Shutdown(ctx); err != nil {
		_ = p.server.Close()
	}
}

// inProcessIdleConns is how many idle in-process connections clients keep
// for reuse. With HTTP/1.1 every request in flight needs a connection of
// its own, and the ReplicaSet controller creates up to 256 pods at once
// (slow start up to its burst of 500); an idle connection costs two
// sockets and some 16 KiB of buffers until IdleConnTimeout closes it.
const inProcessIdleConns = 256

// config returns a client configuration that reaches the API server in
// process with token.
func (p *inProcess) config(token string) *rest.Config {
	var protocols http.Protocols
	protocols.SetHTTP1(true)
	t := &http.Transport{
		DialContext:         func(ctx context.Context, _, _ string) (net.Conn, error) { return p.dial(ctx) },
		Protocols:           &protocols,
		MaxIdleConnsPerHost: inProcessIdleConns,
		IdleConnTimeout:     90 * time.Second,
	}
	p.mu.Lock()
	p.transports = append(p.transports, t)
	p.mu.Unlock()
	return &rest.Config{
		Host:        inProcessHost,
		BearerToken: token,
		QPS:         -1, // no client-side throttling inside the process
		Transport:   t,
	}
}

// dial makes a connected socket pair and hands one end to the server.
func (p *inProcess) dial(ctx context.Context) (net.Conn, error) {
	// Under ForkLock, as package net does, so that no child started
	// meanwhile inherits the descriptors.
	syscall.ForkLock.RLock()
	fds, err := syscall.Socketpair(syscall.AF_UNIX, syscall.SOCK_STREAM, 0)
	if err == nil {
		syscall.CloseOnExec(fds[0])
		syscall.CloseOnExec(fds[1])
	}
	syscall.ForkLock.RUnlock()
	if err != nil {
		return nil, fmt.Errorf("in-process connection: %w", err)
	}
	client, err := fileConn(fds[0], "gantry-in-process-client")
	if err != nil {
		syscall.Close(fds[1])
		return nil, err
	}
	server, err := fileConn(fds[1], "gantry-in-process-server")
	if err != nil {
		client.Close()
		return nil, err
	}
	select {
	case p.conns <- server:
		return client, nil
	case <-p.done:
	case <-ctx.Done():
	}
	client.Close()
	server.Close()
	if ctx.Err() != nil {
		return nil, ctx.Err()
	}
	return nil, net.ErrClosed
}

// fileConn wraps a socket descriptor in a net.Conn, which takes it over.
func fileConn(fd int, name string) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), name)
	defer f.Close() // net.FileConn keeps its own duplicate
	c, err := net.FileConn(f)
	if err != nil {
		return nil, fmt.Errorf("in-process connection: %w", err)
	}
	return c, nil
}

// Accept implements net.Listener for the in-process http.Server.
func (p *inProcess) Accept() (net.Conn, error) {
	select {
	case c := <-p.conns:
		return c, nil
	case <-p.done:
		return nil, net.ErrClosed
	}
}

// Close implements net.Listener.
func (p *inProcess) Close() error {
	p.once.Do(func() { close(p.done) })
	return nil
}

// Addr implements net.Listener.
func (p *inProcess) Addr() net.Addr { return inProcessAddr{} }

type inProcessAddr struct{}

func (inProcessAddr) Network() string { return "in-process" }
func (inProcessAddr) String() string  { return "gantry.in-process" }
