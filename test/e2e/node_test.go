package e2e

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// nodeCluster is a `gantry server` with its node agent on real Docker,
// isolated from anything else on the host: its own node name (Docker
// objects are labelled with it) and its own cluster CIDR (so its own pod
// network).
type nodeCluster struct {
	t        *testing.T
	dir      string
	port     int
	nodeName string
	ns       string // namespace of the objects jsonpath and waitFor get
	args     []string
	proc     *gantryProcess
}

func startNodeCluster(t *testing.T, extraArgs ...string) *nodeCluster {
	t.Helper()
	needDocker(t)
	b := make([]byte, 3)
	rand.Read(b)
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c := &nodeCluster{
		t:        t,
		dir:      t.TempDir(),
		port:     port,
		nodeName: "e2e-" + hex.EncodeToString(b),
	}
	cidr := fmt.Sprintf("10.%d.0.0/16", 60+int(b[0])%40)
	agentPort, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	c.args = append([]string{"--node-name", c.nodeName, "--cluster-cidr", cidr, "--node-lease-seconds", "8", "--agent-port", strconv.Itoa(agentPort)}, extraArgs...)
	t.Cleanup(func() {
		if c.proc != nil {
			c.proc.stop()
			if t.Failed() {
				t.Logf("--- server log ---\n%s", tail(c.proc.log.String(), 80))
			}
		}
		// The agent leaves containers running when it stops (a restarted
		// agent adopts them): remove them and the pod network.
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.gantry.node="+c.nodeName).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
				t.Errorf("cleanup: docker rm: %v\n%s", err, out)
			}
		}
		_ = exec.Command("docker", "network", "rm", "gantry-"+strings.ReplaceAll(cidr, "/", "-")).Run()
		removeProxyRules(c.nodeName)
		unmountUnder(t, c.dir)
	})
	c.start()
	return c
}

func (c *nodeCluster) start() {
	c.t.Helper()
	proc, err := launch(c.dir, c.port, c.args...)
	c.proc = proc
	if err != nil {
		c.t.Fatalf("%v\n%s", err, tail(proc.log.String(), 60))
	}
}

func (c *nodeCluster) restart() {
	c.t.Helper()
	c.proc.stop()
	c.start()
}

func (c *nodeCluster) kubectl(stdin string, args ...string) string {
	c.t.Helper()
	r := kubectlWith(c.t, c.proc.kubeconfig, stdin, args...)
	if r.err != nil {
		c.t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// jsonpath returns a field of an object.
func (c *nodeCluster) jsonpath(obj, path string) string {
	c.t.Helper()
	r := kubectlWith(c.t, c.proc.kubeconfig, "", "get", obj, "-n", c.ns, "-o", "jsonpath="+path)
	return strings.TrimSpace(r.stdout)
}

// waitFor polls a jsonpath of obj until match accepts it.
func (c *nodeCluster) waitFor(obj, path, what string, match func(string) bool) string {
	c.t.Helper()
	var last string
	deadline := time.Now().Add(90 * time.Second)
	for {
		last = c.jsonpath(obj, path)
		if match(last) {
			return last
		}
		if time.Now().After(deadline) {
			status := kubectlWith(c.t, c.proc.kubeconfig, "", "get", obj, "-n", c.ns, "-o", "jsonpath={.status}")
			c.t.Fatalf("%s: timed out waiting for %s; %s = %q\nstatus: %s", obj, what, path, last, status.stdout)
		}
		time.Sleep(200 * time.Millisecond) // polling interval
	}
}

// portForwardGet runs `kubectl port-forward obj :port`, GETs / through the
// forwarded local port and returns the body.
func portForwardGet(t *testing.T, kc, ns, obj string, port int) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	// -v=4: kubectl logs when its first try, SPDY tunnelled in a
	// WebSocket, fails and it falls back to plain SPDY; it must not.
	cmd := exec.CommandContext(ctx, gantryBin, "kubectl", "-v=4", "port-forward", "-n", ns, obj, fmt.Sprintf(":%d", port), "--address", "127.0.0.1")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kc)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stderr lockedBuffer
	cmd.Stderr = &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = cmd.Process.Kill(); _ = cmd.Wait() }()
	// "Forwarding from 127.0.0.1:43127 -> 8080"
	re := regexp.MustCompile(`Forwarding from 127\.0\.0\.1:(\d+) ->`)
	sc := bufio.NewScanner(stdout)
	local := ""
	for local == "" && sc.Scan() {
		if m := re.FindStringSubmatch(sc.Text()); m != nil {
			local = m[1]
		}
	}
	if local == "" {
		t.Fatalf("kubectl port-forward printed no forwarding line; stderr: %s", stderr.String())
	}
	go func() {
		for sc.Scan() {
		}
	}()
	resp, err := (&http.Client{Timeout: 20 * time.Second}).Get("http://127.0.0.1:" + local + "/")
	if err != nil {
		t.Fatalf("GET through port-forward: %v; stderr: %s", err, stderr.String())
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if strings.Contains(stderr.String(), "fallback") {
		t.Errorf("kubectl port-forward fell back from WebSocket to SPDY: %s", stderr.String())
	}
	return string(b)
}

// removeProxyRules deletes a node's nftables table and its DOCKER-USER
// rule if a killed node left them (a node stopped cleanly removes its
// own). The rule's comment names the node's table.
func removeProxyRules(node string) {
	table := "gantry-" + strings.ReplaceAll(node, ".", "_")
	if exec.Command("nft", "list", "table", "ip", table).Run() == nil {
		_ = exec.Command("nft", "delete", "table", "ip", table).Run()
	}
	out, err := exec.Command("iptables", "-S", "DOCKER-USER").Output()
	if err != nil {
		return // no Docker chain: no rule
	}
	for _, line := range strings.Split(string(out), "\n") {
		rule, ok := strings.CutPrefix(line, "-A DOCKER-USER ")
		if !ok || !strings.Contains(rule, `"`+table+`: `) {
			continue
		}
		// iptables -S quotes the comment, which has spaces: a quoted
		// part is one argument, without its quotes.
		args := []string{"-D", "DOCKER-USER"}
		for i, part := range strings.Split(rule, `"`) {
			if i%2 == 1 {
				args = append(args, part)
			} else {
				args = append(args, strings.Fields(part)...)
			}
		}
		_ = exec.Command("iptables", args...).Run()
	}
}

func equals(want string) func(string) bool { return func(s string) bool { return s == want } }

// dockerID strips the runtime prefix of a containerID.
func dockerID(containerID string) string {
	_, id, _ := strings.Cut(containerID, "://")
	return id
}

func docker(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("docker", args...).CombinedOutput()
	if err != nil {
		t.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// needDocker fails the test (or skips it with -short) when Docker is not
// reachable: CI must run the node tests.
func needDocker(t *testing.T) {
	t.Helper()
	if out, err := exec.Command("docker", "version", "--format", "{{.Server.Version}}").CombinedOutput(); err != nil {
		if testing.Short() {
			t.Skipf("docker not reachable (-short): %v", err)
		}
		t.Fatalf("node tests need Docker Engine (docker version: %v: %s); run with -short to skip them", err, out)
	}
}

// testImage builds the conformance suite's test program into an image
// FROM scratch (no registry needed) and returns its reference.
func testImage(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	bin := filepath.Join(dir, "testimage")
	build := exec.Command("go", "build", "-trimpath", "-ldflags=-s -w", "-o", bin, "github.com/gantry-dev/gantry/internal/container/containertest/testimage/cmd")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH="+runtime.GOARCH)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build testimage: %v\n%s", err, out)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	ref := "gantry-test/e2e:" + hex.EncodeToString(sum[:6])
	if exec.Command("docker", "image", "inspect", ref).Run() == nil {
		return ref
	}
	if err := os.WriteFile(filepath.Join(dir, "Dockerfile"), []byte("FROM scratch\nCOPY testimage /testimage\nENTRYPOINT [\"/testimage\"]\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	docker(t, "build", "-q", "-t", ref, dir)
	return ref
}

func TestNodeAgent(t *testing.T) {
	// Listening on every address, as by default, so that pods reach the
	// API server through the kubernetes service.
	c := startNodeCluster(t, "--bind-address", "0.0.0.0")
	img := testImage(t)
	ns := "node-e2e"
	c.ns = ns
	c.kubectl("", "create", "namespace", ns)
	c.waitFor("node/"+c.nodeName, `{.status.conditions[?(@.type=="Ready")].status}`, "node Ready", equals("True"))

	manifest := strings.ReplaceAll(`
apiVersion: v1
kind: ConfigMap
metadata: {name: cfg, namespace: NS}
data: {greeting: hello, COLOR: blue}
---
apiVersion: v1
kind: Secret
metadata: {name: sec, namespace: NS}
stringData: {password: s3cret}
---
apiVersion: v1
kind: Pod
metadata: {name: web, namespace: NS}
spec:
  terminationGracePeriodSeconds: 5
  restartPolicy: OnFailure
  containers:
  - name: main
    image: IMG
    args: [serve, "8080"]
    ports: [{name: http, containerPort: 8080}]
    readinessProbe: {httpGet: {path: /, port: http}, periodSeconds: 1}
    resources: {limits: {memory: 64Mi, cpu: 500m}}
  - name: sidecar
    image: IMG
    args: [get, "http://localhost:8080/"]
---
apiVersion: v1
kind: Pod
metadata: {name: config, namespace: NS}
spec:
  restartPolicy: Never
  containers:
  - name: files
    image: IMG
    args: [cat, /config/greeting, /secret/password]
    volumeMounts:
    - {name: config, mountPath: /config}
    - {name: secret, mountPath: /secret}
  - name: env
    image: IMG
    args: [env]
    envFrom: [{configMapRef: {name: cfg}}]
    env:
    - {name: PASSWORD, valueFrom: {secretKeyRef: {name: sec, key: password}}}
    - {name: MY_POD, valueFrom: {fieldRef: {fieldPath: metadata.name}}}
  volumes:
  - {name: config, configMap: {name: cfg}}
  - {name: secret, secret: {secretName: sec}}
---
apiVersion: v1
kind: Pod
metadata: {name: incluster, namespace: NS}
spec:
  restartPolicy: Never
  containers:
  - name: client
    image: IMG
    args: [kube-get, /api/v1/namespaces/NS/pods/incluster]
---
apiVersion: v1
kind: Pod
metadata: {name: liveness, namespace: NS}
spec:
  terminationGracePeriodSeconds: 1
  containers:
  - name: main
    image: IMG
    args: [serve, "8080"]
    livenessProbe: {tcpSocket: {port: 9999}, periodSeconds: 1, failureThreshold: 1}
---
apiVersion: v1
kind: Pod
metadata: {name: oom, namespace: NS}
spec:
  restartPolicy: Never
  containers:
  - name: main
    image: IMG
    args: [oom]
    resources: {limits: {memory: 32Mi}}
`, "NS", ns)
	c.kubectl(strings.ReplaceAll(manifest, "IMG", img), "apply", "-f", "-")

	t.Run("sidecar reaches the main container on localhost", func(t *testing.T) {
		c.waitFor("pod/web", `{.status.containerStatuses[?(@.name=="sidecar")].state.terminated.exitCode}`, "sidecar exit 0", equals("0"))
		c.waitFor("pod/web", `{.status.containerStatuses[?(@.name=="main")].ready}`, "main ready", equals("true"))
		if ip := c.jsonpath("pod/web", "{.status.podIP}"); !strings.HasPrefix(ip, "10.") {
			t.Errorf("pod IP %q", ip)
		}
	})

	mainID := dockerID(c.jsonpath("pod/web", `{.status.containerStatuses[?(@.name=="main")].containerID}`))
	t.Run("limits are cgroup settings in docker inspect", func(t *testing.T) {
		got := docker(t, "inspect", "-f", "{{.HostConfig.Memory}} {{.HostConfig.NanoCpus}} {{.HostConfig.CpuQuota}} {{.HostConfig.CpuPeriod}}", mainID)
		if got != "67108864 0 50000 100000" {
			t.Errorf("memory, nanocpus, quota, period = %q, want 67108864 0 50000 100000", got)
		}
	})

	t.Run("env and files from a ConfigMap and a Secret", func(t *testing.T) {
		c.waitFor("pod/config", "{.status.phase}", "Succeeded", equals("Succeeded"))
		files := docker(t, "logs", dockerID(c.jsonpath("pod/config", `{.status.containerStatuses[?(@.name=="files")].containerID}`)))
		if !strings.Contains(files, "hello") || !strings.Contains(files, "s3cret") {
			t.Errorf("files container printed %q", files)
		}
		env := docker(t, "logs", dockerID(c.jsonpath("pod/config", `{.status.containerStatuses[?(@.name=="env")].containerID}`)))
		for _, want := range []string{"COLOR=blue", "PASSWORD=s3cret", "MY_POD=config", "HOSTNAME=config"} {
			if !strings.Contains(env, want) {
				t.Errorf("environment lacks %s:\n%s", want, env)
			}
		}
		// The secret's files are in memory on the node, as the kubelet
		// keeps them; the ConfigMap's on disk.
		mountinfo, err := os.ReadFile("/proc/self/mountinfo")
		if err != nil {
			t.Fatal(err)
		}
		uid := c.jsonpath("pod/config", "{.metadata.uid}")
		secretDir, configDir := false, false
		for _, line := range strings.Split(string(mountinfo), "\n") {
			f := strings.Fields(line)
			if len(f) > 8 && strings.HasPrefix(f[4], c.dir+"/") && strings.Contains(f[4], uid) {
				secretDir = secretDir || strings.HasSuffix(f[4], "/volumes/secret") && slices.Contains(f, "tmpfs")
				configDir = configDir || strings.HasSuffix(f[4], "/volumes/config")
			}
		}
		if !secretDir || configDir {
			t.Errorf("secret volume on a tmpfs: %v (want true); configMap volume mounted: %v (want false)", secretDir, configDir)
		}
	})

	t.Run("a client-go program in a pod reaches the API server with its service account", func(t *testing.T) {
		c.waitFor("pod/incluster", "{.status.phase}", "Succeeded", func(s string) bool {
			if s == "Failed" {
				t.Fatalf("in-cluster client failed: %s", docker(t, "logs", dockerID(c.jsonpath("pod/incluster", "{.status.containerStatuses[0].containerID}"))))
			}
			return s == "Succeeded"
		})
		out := docker(t, "logs", dockerID(c.jsonpath("pod/incluster", "{.status.containerStatuses[0].containerID}")))
		if !strings.Contains(out, `"name":"incluster"`) || !strings.Contains(out, `"serviceAccountName":"default"`) {
			t.Errorf("in-cluster GET of its own pod printed %q", out)
		}
	})

	t.Run("failing liveness probe restarts the container", func(t *testing.T) {
		c.waitFor("pod/liveness", "{.status.containerStatuses[0].restartCount}", "a restart", func(s string) bool {
			n, _ := strconv.Atoi(s)
			return n >= 1
		})
	})

	t.Run("OOMKilled is reported", func(t *testing.T) {
		c.waitFor("pod/oom", "{.status.containerStatuses[0].state.terminated.reason}", "OOMKilled", equals("OOMKilled"))
		if phase := c.jsonpath("pod/oom", "{.status.phase}"); phase != "Failed" {
			t.Errorf("phase %s, want Failed", phase)
		}
	})

	t.Run("a killed container is restarted", func(t *testing.T) {
		docker(t, "kill", mainID)
		c.waitFor("pod/web", `{.status.containerStatuses[?(@.name=="main")].restartCount}`, "restartCount 1", equals("1"))
		c.waitFor("pod/web", `{.status.containerStatuses[?(@.name=="main")].ready}`, "main ready again", equals("true"))
	})

	t.Run("a restarted server and agent restart no container", func(t *testing.T) {
		before := c.jsonpath("pod/web", `{.status.containerStatuses[?(@.name=="main")].containerID} {.status.containerStatuses[?(@.name=="main")].restartCount}`)
		c.restart()
		c.waitFor("node/"+c.nodeName, `{.status.conditions[?(@.type=="Ready")].status}`, "node Ready", equals("True"))
		// Give the agent time to look at the pod: its status is rewritten
		// with the adopted container and stays the same.
		c.waitFor("pod/web", `{.status.containerStatuses[?(@.name=="main")].ready}`, "main ready", equals("true"))
		after := c.jsonpath("pod/web", `{.status.containerStatuses[?(@.name=="main")].containerID} {.status.containerStatuses[?(@.name=="main")].restartCount}`)
		if after != before {
			t.Errorf("main container changed across the restart: %q → %q", before, after)
		}
		if state := docker(t, "inspect", "-f", "{{.State.Running}} {{.RestartCount}}", dockerID(strings.Fields(before)[0])); state != "true 0" {
			t.Errorf("docker state %q", state)
		}
	})

	t.Run("kubectl logs, exec and port-forward", func(t *testing.T) {
		if out := c.kubectl("", "logs", "web", "-n", ns, "-c", "main"); !strings.Contains(out, "serving on 8080") {
			t.Errorf("kubectl logs: %q", out)
		}
		if out := c.kubectl("", "logs", "web", "-n", ns, "-c", "main", "--previous"); !strings.Contains(out, "serving on 8080") {
			t.Errorf("kubectl logs --previous (the killed container): %q", out)
		}
		if out := c.kubectl("", "logs", "config", "-n", ns, "-c", "env"); !strings.Contains(out, "COLOR=blue") {
			t.Errorf("kubectl logs of an exited container: %q", out)
		}
		if out := c.kubectl("", "exec", "web", "-n", ns, "-c", "main", "--", "/testimage", "hostname"); strings.TrimSpace(out) != "web" {
			t.Errorf("kubectl exec hostname: %q", out)
		}
		r := kubectlWith(t, c.proc.kubeconfig, "", "exec", "web", "-n", ns, "-c", "main", "--", "/testimage", "exit", "7")
		if r.err == nil || !strings.Contains(r.stderr, "command terminated with exit code 7") {
			t.Errorf("kubectl exec exit 7: %s", r)
		}
		if out := c.kubectl("hello stdin\n", "exec", "-i", "web", "-n", ns, "-c", "main", "--", "/testimage", "echo-stdin"); out != "hello stdin\n" {
			t.Errorf("kubectl exec -i: %q", out)
		}
		// kubectl tries WebSocket (v5.channel.k8s.io) first and, at -v=4,
		// logs when it has to fall back to SPDY: it must not have to.
		r = kubectlWith(t, c.proc.kubeconfig, "over websocket\n", "-v=4", "exec", "-i", "web", "-n", ns, "-c", "main", "--", "/testimage", "echo-stdin")
		if r.err != nil || r.stdout != "over websocket\n" || strings.Contains(r.stderr, "fallback") {
			t.Errorf("kubectl exec -i over WebSocket: %s", r)
		}
		body := portForwardGet(t, c.proc.kubeconfig, ns, "pod/web", 8080)
		if !strings.Contains(body, "hello from web") {
			t.Errorf("through kubectl port-forward: %q", body)
		}
	})

	t.Run("kubectl debug runs an ephemeral container in the target's PID namespace", func(t *testing.T) {
		c.kubectl("", "debug", "web", "-n", ns, "-c", "debugger", "--image", img, "--target", "main", "--", "/testimage", "ps")
		c.waitFor("pod/web", `{.status.ephemeralContainerStatuses[?(@.name=="debugger")].state.terminated.exitCode}`, "debugger exit 0", equals("0"))
		// main's command is PID 1 of the namespace the debugger joined.
		if out := c.kubectl("", "logs", "web", "-n", ns, "-c", "debugger"); !strings.Contains(out, "1 S /testimage serve 8080\n") {
			t.Errorf("processes the debugger saw:\n%s", out)
		}
		// Interactive: kubectl waits for it to run and attaches.
		if out := c.kubectl("through attach\n", "debug", "-i", "web", "-n", ns, "-c", "shell", "--image", img, "--", "/testimage", "echo-line"); !strings.Contains(out, "through attach\n") {
			t.Errorf("kubectl debug -i output: %q", out)
		}
		if ready := c.jsonpath("pod/web", `{.status.containerStatuses[?(@.name=="main")].ready}`); ready != "true" {
			t.Errorf("main ready = %q after debugging", ready)
		}
	})

	t.Run("kubectl top pods and nodes", func(t *testing.T) {
		// The agent samples usage every 10 s; a CPU rate needs two samples.
		var out string
		eventually(t, 60*time.Second, "kubectl top pod to list web", func() bool {
			r := kubectlWith(t, c.proc.kubeconfig, "", "top", "pod", "-n", ns, "--containers")
			out = r.stdout
			return r.err == nil && regexp.MustCompile(`(?m)^web\s+main\s+\d+m\s+\d+(Ki|Mi)`).MatchString(out)
		})
		eventually(t, 60*time.Second, "kubectl top node to list the node", func() bool {
			r := kubectlWith(t, c.proc.kubeconfig, "", "top", "node")
			out = r.stdout
			return r.err == nil && regexp.MustCompile(`(?m)^`+c.nodeName+`\s+\d+m\s+\d+%\s+\d+Mi\s+\d+%`).MatchString(out)
		})
	})

	t.Run("deleting a pod stops and removes its containers", func(t *testing.T) {
		uid := c.jsonpath("pod/web", "{.metadata.uid}")
		c.kubectl("", "delete", "pod", "web", "-n", ns, "--wait=true", "--timeout=60s")
		// Like the kubelet, the agent deletes the pod object once its
		// containers are stopped; Docker may still be removing them.
		eventually(t, 20*time.Second, "containers of the deleted pod removed", func() bool {
			left := docker(t, "ps", "-a", "--format", "{{.Names}} {{.Status}}", "--filter", "label=io.gantry.pod.uid="+uid)
			return left == ""
		})
	})
}
