package server

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"k8s.io/client-go/rest"
)

// TestInProcess checks the in-process connections: requests arrive over
// HTTP/1.1 without TLS carrying the client's bearer token, many at once, a
// streamed answer arrives in pieces as it is flushed, and after shutdown
// no new connection can be made.
func TestInProcess(t *testing.T) {
	flushed := make(chan struct{})
	p := newInProcess(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/stream" {
			fmt.Fprint(w, "first\n")
			w.(http.Flusher).Flush()
			<-flushed
			fmt.Fprint(w, "second\n")
			return
		}
		fmt.Fprintf(w, "%s %v %s", r.Proto, r.TLS != nil, r.Header.Get("Authorization"))
	}))
	served := make(chan error, 1)
	go func() { served <- p.serve() }()

	cfg := p.config("secret-token")
	hc, err := rest.HTTPClientFor(cfg)
	if err != nil {
		t.Fatal(err)
	}
	get := func(path string) (*http.Response, error) {
		req, err := http.NewRequestWithContext(context.Background(), http.MethodGet, cfg.Host+path, nil)
		if err != nil {
			return nil, err
		}
		return hc.Do(req)
	}

	t.Run("HTTP/1.1 without TLS, authenticated, concurrent", func(t *testing.T) {
		var wg sync.WaitGroup
		errs := make(chan error, 50)
		for range 50 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				resp, err := get("/")
				if err != nil {
					errs <- err
					return
				}
				defer resp.Body.Close()
				body, _ := io.ReadAll(resp.Body)
				if got, want := string(body), "HTTP/1.1 false Bearer secret-token"; got != want {
					errs <- fmt.Errorf("server saw %q, want %q", got, want)
				}
			}()
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("a streamed answer arrives as it is flushed", func(t *testing.T) {
		resp, err := get("/stream")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		buf := make([]byte, len("first\n"))
		if _, err := io.ReadFull(resp.Body, buf); err != nil || string(buf) != "first\n" {
			t.Fatalf("read %q, %v; want the first line before the handler goes on", buf, err)
		}
		close(flushed)
		rest, err := io.ReadAll(resp.Body)
		if err != nil || string(rest) != "second\n" {
			t.Fatalf("rest %q, %v", rest, err)
		}
	})

	t.Run("no connections after shutdown", func(t *testing.T) {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		p.shutdown(ctx)
		if err := <-served; err != nil {
			t.Fatalf("serve: %v", err)
		}
		if _, err := p.dial(ctx); !errors.Is(err, net.ErrClosed) {
			t.Fatalf("dial after shutdown: %v, want net.ErrClosed", err)
		}
		hc.CloseIdleConnections()
		if _, err := get("/"); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("request after shutdown: %v, want a closed-connection error", err)
		}
	})
}
