package agent

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"

	gwebsocket "github.com/gorilla/websocket"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	portforwardconst "k8s.io/apimachinery/pkg/util/portforward"
	clientportforward "k8s.io/client-go/tools/portforward"
	"k8s.io/cri-streaming/pkg/streaming/remotecommand"
	"k8s.io/streaming/pkg/httpstream"
	"k8s.io/streaming/pkg/httpstream/spdy"
	"k8s.io/streaming/pkg/httpstream/wsstream"
	utilexec "k8s.io/utils/exec"
)

// The channels of the remote-command WebSocket protocols, in frame order.
const (
	wsStdin = iota
	wsStdout
	wsStderr
	wsError
	wsResize
)

// wantsWebSocketV5 reports whether r is a WebSocket upgrade that offers the
// v5.channel.k8s.io remote-command protocol, which kubectl 1.30 and later
// try before SPDY. (The streaming library serves WebSocket only up to v4;
// v5 adds the signal that closes one stream, so that stdin can reach EOF.
// kube-apiserver translates v5 to SPDY for the kubelet; Gantry's agent
// speaks it itself.)
func wantsWebSocketV5(r *http.Request) bool {
	return wsstream.IsWebSocketRequest(r) && offersProtocol(r, remotecommand.StreamProtocolV5Name)
}

// wsRemoteCommand runs one exec or attach whose streams the caller gets.
type wsRemoteCommand func(ctx context.Context, in io.Reader, out, errw io.WriteCloser, tty bool, resize <-chan remotecommand.TerminalSize) error

// serveWebSocketV5 upgrades r to the v5.channel.k8s.io protocol, runs run
// with the streams opts asks for and writes its outcome as a Status to the
// error channel, as kube-apiserver does for v4 and v5 clients.
func serveWebSocketV5(w http.ResponseWriter, r *http.Request, opts *remotecommand.Options, run wsRemoteCommand) {
	channels := make([]wsstream.ChannelType, 5)
	channels[wsStdin] = wsChannel(opts.Stdin, wsstream.ReadChannel)
	channels[wsStdout] = wsChannel(opts.Stdout, wsstream.WriteChannel)
	channels[wsStderr] = wsChannel(opts.Stderr, wsstream.WriteChannel)
	channels[wsError] = wsstream.WriteChannel
	channels[wsResize] = wsstream.ReadChannel
	conn := wsstream.NewConn(map[string]wsstream.ChannelProtocolConfig{
		remotecommand.StreamProtocolV5Name: {Binary: true, Channels: channels},
	})
	conn.SetIdleTimeout(streamIdleTimeout)
	_, streams, err := conn.Open(w, r)
	if err != nil {
		// Open has answered the client.
		return
	}
	defer conn.Close()

	// An empty frame on the first channel the client reads tells it the
	// streams are ready.
	first := wsError
	if opts.Stdout {
		first = wsStdout
	} else if opts.Stderr {
		first = wsStderr
	}
	if _, err := streams[first].Write(nil); err != nil {
		return
	}

	ctx, cancel := context.WithCancel(r.Context())
	defer cancel()
	var (
		in        io.Reader
		out, errw io.WriteCloser
		resize    chan remotecommand.TerminalSize
	)
	if opts.Stdin {
		in = streams[wsStdin]
	}
	if opts.Stdout {
		out = streams[wsStdout]
	}
	if opts.Stderr {
		errw = streams[wsStderr]
	}
	if opts.TTY {
		resize = make(chan remotecommand.TerminalSize)
		go decodeResizes(ctx, streams[wsResize], resize)
	}
	status := commandStatus(run(ctx, in, out, errw, opts.TTY, resize))
	data, err := json.Marshal(status)
	if err != nil {
		return
	}
	_, _ = streams[wsError].Write(data)
}

func wsChannel(wanted bool, t wsstream.ChannelType) wsstream.ChannelType {
	if wanted {
		return t
	}
	return wsstream.IgnoreChannel
}

// decodeResizes sends the terminal sizes the client writes (one JSON
// object each) until the stream or ctx ends, then closes sizes.
func decodeResizes(ctx context.Context, r io.Reader, sizes chan<- remotecommand.TerminalSize) {
	defer close(sizes)
	dec := json.NewDecoder(r)
	for {
		var sz remotecommand.TerminalSize
		if err := dec.Decode(&sz); err != nil {
			return
		}
		select {
		case sizes <- sz:
		case <-ctx.Done():
			return
		}
	}
}

// commandStatus is the Status a remote command ends with: Success, a
// NonZeroExitCode failure carrying the exit code (which clients turn into
// their exit code), or an internal error.
func commandStatus(err error) metav1.Status {
	st := metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}}
	var exit utilexec.ExitError
	switch {
	case err == nil:
		st.Status = metav1.StatusSuccess
	case errors.As(err, &exit) && exit.Exited():
		st.Status = metav1.StatusFailure
		st.Reason = remotecommand.NonZeroExitCodeReason
		st.Message = fmt.Sprintf("command terminated with non-zero exit code: %v", err)
		st.Details = &metav1.StatusDetails{Causes: []metav1.StatusCause{{
			Type:    remotecommand.ExitCodeCauseType,
			Message: fmt.Sprint(exit.ExitStatus()),
		}}}
	default:
		st.Status = metav1.StatusFailure
		st.Reason = metav1.StatusReasonInternalError
		st.Code = http.StatusInternalServerError
		st.Message = fmt.Sprintf("Internal error occurred: error executing command in container: %v", err)
	}
	return st
}

// wantsPortForwardTunnel reports whether r is a WebSocket upgrade that
// tunnels SPDY port forwarding (subprotocol "SPDY/3.1+portforward.k8s.io"),
// which kubectl 1.31 and later try before plain SPDY.
func wantsPortForwardTunnel(r *http.Request) bool {
	return wsstream.IsWebSocketRequest(r) && offersProtocol(r, portforwardconst.WebsocketsSPDYTunnelingPortForwardV1)
}

// servePortForwardTunnel accepts the WebSocket and serves port forwarding
// over SPDY inside it, as kube-apiserver's tunnelling handler does in front
// of the kubelet: the streaming library's SPDY server takes the tunnel as
// the connection it hijacks.
func servePortForwardTunnel(w http.ResponseWriter, r *http.Request, serve func(w http.ResponseWriter, r *http.Request)) {
	up := gwebsocket.Upgrader{
		Subprotocols: []string{portforwardconst.WebsocketsSPDYTunnelingPortForwardV1},
		// Only the API server reaches this endpoint (client certificate);
		// browsers' origins do not apply.
		CheckOrigin: func(*http.Request) bool { return true },
	}
	ws, err := up.Upgrade(w, r, nil)
	if err != nil {
		return // Upgrade has answered the client
	}
	tunnel := clientportforward.NewTunnelingConnection("agent", ws)
	defer tunnel.Close()
	inner := r.Clone(r.Context())
	inner.Header = http.Header{}
	inner.Header.Set(httpstream.HeaderConnection, httpstream.HeaderUpgrade)
	inner.Header.Set(httpstream.HeaderUpgrade, spdy.HeaderSpdy31)
	inner.Header.Set(httpstream.HeaderProtocolVersion, portforwardconst.PortForwardV1Name)
	serve(&tunnelResponse{conn: tunnel, header: http.Header{}}, inner)
}

// tunnelResponse is the response writer of a request carried in a tunnel:
// the status and headers of the SPDY upgrade are not sent (the client
// starts SPDY as soon as the WebSocket is open), and hijacking returns the
// tunnel.
type tunnelResponse struct {
	conn   net.Conn
	header http.Header
}

func (t *tunnelResponse) Header() http.Header         { return t.header }
func (t *tunnelResponse) Write(p []byte) (int, error) { return len(p), nil }
func (t *tunnelResponse) WriteHeader(int)             {}

func (t *tunnelResponse) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	return t.conn, bufio.NewReadWriter(bufio.NewReader(t.conn), bufio.NewWriter(t.conn)), nil
}

// offersProtocol reports whether r's client offers the WebSocket
// subprotocol protocol.
func offersProtocol(r *http.Request, protocol string) bool {
	for _, h := range r.Header.Values("Sec-WebSocket-Protocol") {
		for p := range strings.SplitSeq(h, ",") {
			if strings.TrimSpace(p) == protocol {
				return true
			}
		}
	}
	return false
}
