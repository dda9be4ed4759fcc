package agent_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/httpstream"
	"k8s.io/client-go/tools/portforward"
	"k8s.io/client-go/tools/remotecommand"
	"k8s.io/client-go/transport/spdy"
	utilexec "k8s.io/utils/exec"

	"github.com/gantry-dev/gantry/internal/container/fake"
)

// TestStreaming drives logs, exec and port-forward through the API server,
// which proxies them to the agent's streaming endpoint.
func TestStreaming(t *testing.T) {
	e := newEnv(t)
	serve := server(8080)
	e.agent.Runtime.AddImage("web:1", fake.Image{Program: func(ctx context.Context, p *fake.Process) int {
		if len(p.Args) > 1 && p.Args[1] == "cat" {
			// Copies stdin until it ends: shows that the client's end of
			// stdin reaches the container.
			if _, err := io.Copy(p.Stdout(), p.Stdin()); err != nil {
				return 1
			}
			return 0
		}
		if len(p.Args) > 1 && p.Args[1] == "echo" {
			fmt.Fprintln(p.Stdout(), strings.Join(p.Args[2:], " "))
			fmt.Fprintln(p.Stderr(), "to stderr")
			return 3
		}
		return serve(ctx, p)
	}})
	e.createPod(t, pod("stream", ctr("app", "web:1")))
	e.waitPod(t, "stream", "Ready", isReady)
	ctx := t.Context()

	t.Run("logs", func(t *testing.T) {
		poll(t, 10*time.Second, "log line", func() bool {
			b, err := e.cs.CoreV1().Pods(e.ns).GetLogs("stream", &corev1.PodLogOptions{}).DoRaw(ctx)
			return err == nil && strings.Contains(string(b), "serving")
		})
		_, err := e.cs.CoreV1().Pods(e.ns).GetLogs("stream", &corev1.PodLogOptions{Container: "nope"}).Stream(ctx)
		if err == nil || !strings.Contains(err.Error(), "container nope is not valid for pod stream") {
			t.Errorf("logs of a missing container: %v", err)
		}
		_, err = e.cs.CoreV1().Pods(e.ns).GetLogs("stream", &corev1.PodLogOptions{Previous: true}).Stream(ctx)
		if err == nil || !strings.Contains(err.Error(), `previous terminated container "app" in pod "stream" not found`) {
			t.Errorf("previous logs of a container never restarted: %v", err)
		}
	})

	t.Run("exec", func(t *testing.T) {
		req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(e.ns).Name("stream").SubResource("exec").
			VersionedParams(&corev1.PodExecOptions{Container: "app", Command: []string{"/web", "echo", "hi", "there"}, Stdout: true, Stderr: true}, parameterCodec())
		exec, err := remotecommand.NewSPDYExecutor(e.c.Config, "POST", req.URL())
		if err != nil {
			t.Fatal(err)
		}
		var out, errb bytes.Buffer
		err = exec.StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
		if err == nil || !strings.Contains(err.Error(), "command terminated with exit code 3") {
			t.Errorf("exec error %v, want exit code 3", err)
		}
		if out.String() != "hi there\n" || errb.String() != "to stderr\n" {
			t.Errorf("stdout %q stderr %q", out.String(), errb.String())
		}
	})

	// kubectl 1.30 and later try WebSocket with the v5 protocol first and
	// fall back to SPDY only when the upgrade fails. These use the
	// WebSocket executor alone: no fallback.
	t.Run("exec over WebSocket v5", func(t *testing.T) {
		execWS := func(opts corev1.PodExecOptions) remotecommand.Executor {
			t.Helper()
			req := e.cs.CoreV1().RESTClient().Get().Resource("pods").Namespace(e.ns).Name("stream").SubResource("exec").
				VersionedParams(&opts, parameterCodec())
			exec, err := remotecommand.NewWebSocketExecutor(e.c.Config, "GET", req.URL().String())
			if err != nil {
				t.Fatal(err)
			}
			return exec
		}
		var out, errb bytes.Buffer
		err := execWS(corev1.PodExecOptions{Container: "app", Command: []string{"/web", "echo", "hi", "there"}, Stdout: true, Stderr: true}).
			StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: &out, Stderr: &errb})
		var exit utilexec.ExitError
		if !errors.As(err, &exit) || exit.ExitStatus() != 3 {
			t.Errorf("exec error %v, want exit code 3", err)
		}
		if out.String() != "hi there\n" || errb.String() != "to stderr\n" {
			t.Errorf("stdout %q stderr %q", out.String(), errb.String())
		}

		// stdin's end reaches the command (the v5 close signal), which
		// then exits 0.
		out.Reset()
		done := make(chan error, 1)
		go func() {
			done <- execWS(corev1.PodExecOptions{Container: "app", Command: []string{"/web", "cat"}, Stdin: true, Stdout: true}).
				StreamWithContext(ctx, remotecommand.StreamOptions{Stdin: strings.NewReader("line one\nline two\n"), Stdout: &out})
		}()
		select {
		case err := <-done:
			if err != nil || out.String() != "line one\nline two\n" {
				t.Errorf("cat over WebSocket: %v, stdout %q", err, out.String())
			}
		case <-time.After(20 * time.Second):
			t.Fatal("cat over WebSocket did not end: stdin's end did not reach it")
		}

		// A container that does not exist is refused before any stream.
		err = execWS(corev1.PodExecOptions{Container: "nope", Command: []string{"true"}, Stdout: true}).
			StreamWithContext(ctx, remotecommand.StreamOptions{Stdout: io.Discard})
		if err == nil || !strings.Contains(err.Error(), "container nope is not valid for pod stream") {
			t.Errorf("exec in a missing container over WebSocket: %v", err)
		}
	})

	t.Run("port-forward", func(t *testing.T) {
		req := e.cs.CoreV1().RESTClient().Post().Resource("pods").Namespace(e.ns).Name("stream").SubResource("portforward")
		rt, upgrader, err := spdy.RoundTripperFor(e.c.Config)
		if err != nil {
			t.Fatal(err)
		}
		forwardGet(t, spdy.NewDialer(upgrader, &http.Client{Transport: rt}, "POST", req.URL()))
	})

	// kubectl 1.31 and later tunnel SPDY in a WebSocket first and fall back
	// to plain SPDY only when the upgrade fails; this dialer does not.
	t.Run("port-forward tunnelled in a WebSocket", func(t *testing.T) {
		req := e.cs.CoreV1().RESTClient().Get().Resource("pods").Namespace(e.ns).Name("stream").SubResource("portforward")
		dialer, err := portforward.NewSPDYOverWebsocketDialer(req.URL(), e.c.Config)
		if err != nil {
			t.Fatal(err)
		}
		forwardGet(t, dialer)
	})
}

// forwardGet forwards a local port to the pod's port 8080 through dialer
// and checks that an HTTP request through it reaches the pod's server.
func forwardGet(t *testing.T, dialer httpstream.Dialer) {
	t.Helper()
	stop, ready := make(chan struct{}), make(chan struct{})
	defer close(stop)
	fw, err := portforward.NewOnAddresses(dialer, []string{"127.0.0.1"}, []string{"0:8080"}, stop, ready, io.Discard, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	errc := make(chan error, 1)
	go func() { errc <- fw.ForwardPorts() }()
	select {
	case <-ready:
	case err := <-errc:
		t.Fatalf("port-forward: %v", err)
	case <-time.After(20 * time.Second):
		t.Fatal("port-forward not ready")
	}
	ports, err := fw.GetPorts()
	if err != nil {
		t.Fatal(err)
	}
	conn, err := net.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", ports[0].Local))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	fmt.Fprintf(conn, "GET / HTTP/1.0\r\n\r\n")
	b, _ := io.ReadAll(conn)
	if !strings.Contains(string(b), "200 OK") || !strings.HasSuffix(string(b), "ok") {
		t.Errorf("through the forwarded port: %q", b)
	}
}
