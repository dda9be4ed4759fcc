// Package testimage is the program of the conformance suite's test image,
// written against a small System interface so that the same behaviour runs
// as a static binary in a FROM-scratch image on Docker (./cmd) and in
// process on the fake runtime. Its first argument picks a mode:
//
//	serve PORT     HTTP on PORT answering with the hostname; exit 0 on SIGTERM
//	               (closing at once); with READY_FILE set, /healthz answers
//	               503 while that file does not exist
//	get URL        GET URL (retrying for 10 s), print the body; exit 0 on 200
//	exit CODE      print "stdout CODE" and "stderr CODE", exit CODE
//	env            print the environment, sorted
//	hostname       print the hostname
//	cat FILE...    print files
//	sleep [SECS]   print "sleeping", then exit 0 on SIGTERM ("terminated") or after SECS
//	ignore-term    print "ignoring SIGTERM" and run until killed
//	log N          print "line 1" … "line N", then sleep
//	echo-stdin     copy stdin to stdout until EOF, exit 0
//	echo-line      copy one line of stdin to stdout, exit 0
//	oom            allocate memory until killed
//	orphan SECS    start a child that exits after SECS and exit at once
//	ps             print "PID STATE CMDLINE" for every process (Linux /proc)
//	lookup NAME    resolve NAME with the process's resolver, print the addresses sorted
//	write FILE S   write S to FILE
//	rm FILE        remove FILE
//	burn FILE      use a whole CPU while FILE exists, idle otherwise; exit 0 on SIGTERM
//	kube-get PATH  GET PATH from the API server with client-go's in-cluster
//	               configuration (the service account token and CA mounted
//	               in the pod, KUBERNETES_SERVICE_HOST/PORT), print the body;
//	               exit 0 on 200
//
// lookup, write, rm and kube-get use the real resolver, network and file
// system, not System: they are for images on a real runtime.
package testimage

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/rest"
)

// System is what the program needs from its environment.
type System interface {
	Stdin() io.Reader
	Stdout() io.Writer
	Stderr() io.Writer
	Environ() []string
	Hostname() (string, error)
	ReadFile(name string) ([]byte, error)
	// Listen listens on TCP port on every address of the pod.
	Listen(port int) (net.Listener, error)
	// Dial connects to a TCP address ("localhost:8080").
	Dial(ctx context.Context, addr string) (net.Conn, error)
	// Signals delivers SIGTERM and SIGINT.
	Signals() <-chan os.Signal
	// Allocate allocates n bytes, touches them and keeps them.
	Allocate(n int)
	// StartChild starts a copy of the program with args without waiting
	// for it.
	StartChild(args ...string) error
}

// Main runs the mode in args (without the program name) and returns the
// exit code.
func Main(args []string, sys System) int {
	out, errw := sys.Stdout(), sys.Stderr()
	if len(args) == 0 {
		fmt.Fprintln(errw, "testimage: no mode")
		return 2
	}
	arg := func(i int) string {
		if i < len(args) {
			return args[i]
		}
		return ""
	}
	switch args[0] {
	case "serve":
		return serve(sys, arg(1))
	case "get":
		return get(sys, arg(1))
	case "kube-get":
		return kubeGet(sys, arg(1))
	case "exit":
		code, _ := strconv.Atoi(arg(1))
		fmt.Fprintf(out, "stdout %d\n", code)
		fmt.Fprintf(errw, "stderr %d\n", code)
		return code
	case "env":
		env := sys.Environ()
		sort.Strings(env)
		for _, e := range env {
			fmt.Fprintln(out, e)
		}
		return 0
	case "hostname":
		h, err := sys.Hostname()
		if err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		fmt.Fprintln(out, h)
		return 0
	case "lookup":
		addrs, err := net.DefaultResolver.LookupHost(context.Background(), arg(1))
		if err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		sort.Strings(addrs)
		for _, a := range addrs {
			fmt.Fprintln(out, a)
		}
		return 0
	case "write":
		if err := os.WriteFile(arg(1), []byte(arg(2)), 0o644); err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		return 0
	case "rm":
		if err := os.Remove(arg(1)); err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		return 0
	case "burn":
		fmt.Fprintln(out, "burning while", arg(1), "exists")
		for {
			select {
			case <-sys.Signals():
				return 0
			default:
			}
			if _, err := sys.ReadFile(arg(1)); err != nil {
				time.Sleep(100 * time.Millisecond)
				continue
			}
			for end := time.Now().Add(100 * time.Millisecond); time.Now().Before(end); {
			}
		}
	case "cat":
		for _, f := range args[1:] {
			b, err := sys.ReadFile(f)
			if err != nil {
				fmt.Fprintln(errw, err)
				return 1
			}
			out.Write(b)
		}
		return 0
	case "sleep":
		fmt.Fprintln(out, "sleeping")
		var after <-chan time.Time
		if secs, err := strconv.ParseFloat(arg(1), 64); err == nil {
			after = time.After(time.Duration(secs * float64(time.Second)))
		}
		select {
		case <-sys.Signals():
			fmt.Fprintln(out, "terminated")
		case <-after:
		}
		return 0
	case "ignore-term":
		fmt.Fprintln(out, "ignoring SIGTERM")
		for range sys.Signals() {
			fmt.Fprintln(out, "got a signal, ignoring it")
		}
		return 0
	case "log":
		n, _ := strconv.Atoi(arg(1))
		for i := 1; i <= n; i++ {
			fmt.Fprintf(out, "line %d\n", i)
		}
		<-sys.Signals()
		return 0
	case "echo-stdin":
		if _, err := io.Copy(out, sys.Stdin()); err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		return 0
	case "echo-line":
		line, err := bufio.NewReader(sys.Stdin()).ReadString('\n')
		if err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		fmt.Fprint(out, line)
		return 0
	case "oom":
		fmt.Fprintln(out, "allocating")
		for {
			sys.Allocate(4 << 20)
		}
	case "orphan":
		if err := sys.StartChild("sleep", arg(1)); err != nil {
			fmt.Fprintln(errw, err)
			return 1
		}
		return 0
	case "ps":
		return ps(sys)
	}
	fmt.Fprintf(errw, "testimage: unknown mode %q\n", args[0])
	return 127
}

func serve(sys System, port string) int {
	p, err := strconv.Atoi(port)
	if err != nil {
		fmt.Fprintln(sys.Stderr(), "serve: bad port", port)
		return 2
	}
	l, err := sys.Listen(p)
	if err != nil {
		fmt.Fprintln(sys.Stderr(), err)
		return 1
	}
	host, _ := sys.Hostname()
	readyFile := ""
	for _, e := range sys.Environ() {
		if v, ok := strings.CutPrefix(e, "READY_FILE="); ok {
			readyFile = v
		}
	}
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/healthz" && readyFile != "" {
			if _, err := sys.ReadFile(readyFile); err != nil {
				http.Error(w, "not ready: "+err.Error(), http.StatusServiceUnavailable)
				return
			}
		}
		fmt.Fprintf(w, "hello from %s\n", host)
	})}
	go srv.Serve(l)
	fmt.Fprintf(sys.Stdout(), "serving on %d\n", p)
	<-sys.Signals()
	srv.Close()
	fmt.Fprintln(sys.Stdout(), "terminated")
	return 0
}

func get(sys System, url string) int {
	client := &http.Client{
		Timeout: 2 * time.Second,
		Transport: &http.Transport{DialContext: func(ctx context.Context, _, addr string) (net.Conn, error) {
			return sys.Dial(ctx, addr)
		}},
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		resp, err := client.Get(url)
		if err == nil {
			body, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			sys.Stdout().Write(body)
			if resp.StatusCode == http.StatusOK {
				return 0
			}
			return 1
		}
		if time.Now().After(deadline) {
			fmt.Fprintln(sys.Stderr(), err)
			return 1
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// kubeGet is what a client-go program in a pod does: in-cluster
// configuration, then one request.
func kubeGet(sys System, path string) int {
	cfg, err := rest.InClusterConfig()
	if err != nil {
		fmt.Fprintln(sys.Stderr(), err)
		return 1
	}
	client, err := rest.HTTPClientFor(cfg)
	if err != nil {
		fmt.Fprintln(sys.Stderr(), err)
		return 1
	}
	client.Timeout = 10 * time.Second
	resp, err := client.Get(cfg.Host + path)
	if err != nil {
		fmt.Fprintln(sys.Stderr(), err)
		return 1
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	sys.Stdout().Write(body)
	if resp.StatusCode != http.StatusOK {
		fmt.Fprintln(sys.Stderr(), resp.Status)
		return 1
	}
	return 0
}

// ps lists /proc: "PID STATE CMDLINE" (a zombie has no command line).
func ps(sys System) int {
	dir, err := os.ReadDir("/proc")
	if err != nil {
		fmt.Fprintln(sys.Stderr(), err)
		return 1
	}
	for _, e := range dir {
		if _, err := strconv.Atoi(e.Name()); err != nil {
			continue
		}
		stat, err := sys.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		// "pid (comm) S …": the state follows the last ')'.
		s, state := string(stat), "?"
		if i := strings.LastIndexByte(s, ')'); i >= 0 && len(s) > i+2 {
			state = s[i+2 : i+3]
		}
		cmd, _ := sys.ReadFile("/proc/" + e.Name() + "/cmdline")
		fmt.Fprintf(sys.Stdout(), "%s %s %s\n", e.Name(), state, strings.TrimSpace(strings.ReplaceAll(string(cmd), "\x00", " ")))
	}
	return 0
}

// OS is the System of a real process.
type OS struct {
	signals chan os.Signal
	keep    [][]byte
}

// NewOS returns the System of this process; it takes over SIGTERM and
// SIGINT.
func NewOS(notify func(c chan<- os.Signal, sig ...os.Signal)) *OS {
	s := &OS{signals: make(chan os.Signal, 4)}
	notify(s.signals, syscall.SIGTERM, syscall.SIGINT)
	return s
}

func (s *OS) Stdin() io.Reader                     { return bufio.NewReader(os.Stdin) }
func (s *OS) Stdout() io.Writer                    { return os.Stdout }
func (s *OS) Stderr() io.Writer                    { return os.Stderr }
func (s *OS) Environ() []string                    { return os.Environ() }
func (s *OS) Hostname() (string, error)            { return os.Hostname() }
func (s *OS) ReadFile(name string) ([]byte, error) { return os.ReadFile(name) }
func (s *OS) Signals() <-chan os.Signal            { return s.signals }
func (s *OS) Listen(port int) (net.Listener, error) {
	return net.Listen("tcp", ":"+strconv.Itoa(port))
}
func (s *OS) Dial(ctx context.Context, addr string) (net.Conn, error) {
	var d net.Dialer
	return d.DialContext(ctx, "tcp", addr)
}
func (s *OS) Allocate(n int) {
	b := make([]byte, n)
	for i := 0; i < n; i += 4096 {
		b[i] = 1
	}
	s.keep = append(s.keep, b)
}
func (s *OS) StartChild(args ...string) error {
	exe, err := os.Executable()
	if err != nil {
		return err
	}
	// The child outlives our output streams: writing to them would kill it
	// with SIGPIPE.
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		return err
	}
	defer null.Close()
	p, err := os.StartProcess(exe, append([]string{exe}, args...), &os.ProcAttr{Files: []*os.File{null, null, null}})
	if err != nil {
		return err
	}
	return p.Release()
}
