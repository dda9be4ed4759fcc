package e2e

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// agentProcess is a running `gantry agent`.
type agentProcess struct {
	name   string
	cmd    *exec.Cmd
	log    *lockedBuffer
	exited chan struct{}
}

// startAgent runs `gantry agent` for node name with its own data dir and a
// free streaming port, joining the server at url with token. The agent is
// stopped when owner ends (the whole test, also for agents started in a
// subtest).
func startAgent(t, owner *testing.T, url, token, name, dataDir string, extra ...string) *agentProcess {
	t.Helper()
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	args := append([]string{"agent", "--server", url, "--node-name", name, "--data-dir", dataDir, "--agent-port", fmt.Sprint(port)}, extra...)
	a := &agentProcess{name: name, cmd: exec.Command(gantryBin, args...), log: &lockedBuffer{}, exited: make(chan struct{})}
	// The token goes through the environment (GANTRY_TOKEN), as a secret
	// should, rather than the command line.
	a.cmd.Env = append(os.Environ(), "GANTRY_TOKEN="+token)
	a.cmd.Stdout, a.cmd.Stderr = a.log, a.log
	if err := a.cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { _ = a.cmd.Wait(); close(a.exited) }()
	owner.Cleanup(func() {
		a.stop()
		if owner.Failed() {
			t.Logf("--- agent %s log ---\n%s", name, tail(a.log.String(), 60))
		}
	})
	return a
}

// stop interrupts the agent and waits for it to exit.
func (a *agentProcess) stop() {
	_ = a.cmd.Process.Signal(os.Interrupt)
	select {
	case <-a.exited:
	case <-time.After(20 * time.Second):
		_ = a.cmd.Process.Kill()
		<-a.exited
	}
}

// kill ends the agent with SIGKILL, as a machine that dies.
func (a *agentProcess) kill() {
	_ = a.cmd.Process.Signal(syscall.SIGKILL)
	<-a.exited
}

// TestAgentJoin runs a control plane without an agent and two `gantry
// agent` processes that join it with the join token: pods run on the
// joined nodes on real Docker, kubectl logs reaches them through the API
// server, a restarted agent needs no token, and the Deployment pods of a
// killed agent's node are replaced on the other node.
func TestAgentJoin(t *testing.T) {
	needDocker(t)
	b := make([]byte, 3)
	rand.Read(b)
	suffix := hex.EncodeToString(b)
	first, second := "e2e-first-"+suffix, "e2e-second-"+suffix
	// Node tests use 10.60-99, benchmarks 10.110-149, the Docker runtime's
	// tests 10.200-249: this test's own range keeps the pod networks apart
	// when they run on one Docker host.
	cidr := fmt.Sprintf("10.%d.0.0/16", 150+int(b[0])%50)
	dir := t.TempDir()
	t.Cleanup(func() {
		defer unmountUnder(t, dir)
		// Agents leave their containers running when they stop or die.
		for _, node := range []string{first, second} {
			out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=io.gantry.node="+node).Output()
			if ids := strings.Fields(string(out)); len(ids) > 0 {
				if out, err := exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).CombinedOutput(); err != nil {
					t.Errorf("cleanup: docker rm: %v\n%s", err, out)
				}
			}
			// A killed agent's proxy leaves its nftables table (whose
			// service rules would catch later tests' service IPs) and
			// its DOCKER-USER rule behind.
			removeProxyRules(node)
		}
		_ = exec.Command("docker", "network", "rm", "gantry-"+strings.ReplaceAll(cidr, "/", "-")).Run()
	})
	port, err := freePort()
	if err != nil {
		t.Fatal(err)
	}
	srv, err := launch(filepath.Join(dir, "server"), port, "--disable-agent", "--cluster-cidr", cidr)
	if err != nil {
		t.Fatalf("%v\n%s", err, tail(srv.log.String(), 60))
	}
	t.Cleanup(func() {
		srv.stop()
		if t.Failed() {
			t.Logf("--- server log ---\n%s", tail(srv.log.String(), 80))
		}
	})
	raw, err := os.ReadFile(filepath.Join(dir, "server", "join-token"))
	if err != nil {
		t.Fatalf("join token: %v", err)
	}
	token := strings.TrimSpace(string(raw))
	kc := srv.kubeconfig

	get := func(t *testing.T, obj, ns, path string) string {
		t.Helper()
		args := []string{"get", obj, "-o", "jsonpath=" + path}
		if ns != "" {
			args = append(args, "-n", ns)
		}
		return strings.TrimSpace(kubectlWith(t, kc, "", args...).stdout)
	}
	must := func(t *testing.T, stdin string, args ...string) string {
		t.Helper()
		r := kubectlWith(t, kc, stdin, args...)
		if r.err != nil {
			t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
		}
		return r.stdout
	}
	nodeReady := func(t *testing.T, name string) {
		t.Helper()
		eventually(t, 90*time.Second, "node "+name+" Ready", func() bool {
			return get(t, "node/"+name, "", `{.status.conditions[?(@.type=="Ready")].status}`) == "True"
		})
	}

	startAgent(t, t, srv.url, token, first, filepath.Join(dir, "agent-1"))
	// One after the other: agents on one Docker host share the pod network,
	// and two creating it at the same moment can fail (Docker 20.10 answers
	// the loser "Pool overlaps", which internal/container/docker does not
	// treat as "created concurrently").
	nodeReady(t, first)
	agent2 := startAgent(t, t, srv.url, token, second, filepath.Join(dir, "agent-2"), "--node-labels", "e2e-role=second")
	nodeReady(t, second)
	if got := get(t, "node/"+second, "", `{.metadata.labels.e2e-role}`); got != "second" {
		t.Errorf("--node-labels: label e2e-role = %q, want second", got)
	}

	parent := t
	img := testImage(t)
	ns := "agent-e2e"
	must(t, "", "create", "namespace", ns)

	t.Run("a pod runs on the joined node and kubectl logs reaches it", func(t *testing.T) {
		must(t, strings.NewReplacer("NS", ns, "IMG", img, "NODE", second).Replace(`
apiVersion: v1
kind: Pod
metadata: {name: hello, namespace: NS}
spec:
  terminationGracePeriodSeconds: 1
  nodeSelector: {kubernetes.io/hostname: NODE}
  containers:
  - name: main
    image: IMG
    args: [serve, "8080"]
`), "apply", "-f", "-")
		eventually(t, 90*time.Second, "pod hello Running", func() bool {
			return get(t, "pod/hello", ns, "{.status.phase}") == "Running"
		})
		if node := get(t, "pod/hello", ns, "{.spec.nodeName}"); node != second {
			t.Fatalf("pod hello on node %q, want %s", node, second)
		}
		id := dockerID(get(t, "pod/hello", ns, `{.status.containerStatuses[0].containerID}`))
		if got := docker(t, "inspect", "-f", `{{.State.Running}} {{index .Config.Labels "io.gantry.node"}}`, id); got != "true "+second {
			t.Errorf("docker inspect of the pod's container: %q, want running on %s", got, second)
		}
		var out string
		eventually(t, 30*time.Second, "kubectl logs of the pod", func() bool {
			r := kubectlWith(t, kc, "", "logs", "hello", "-n", ns)
			out = r.stdout
			return r.err == nil && strings.Contains(out, "serving on 8080")
		})
	})

	t.Run("the server holds the controllers' Lease", func(t *testing.T) {
		// Leader election (docs/design/0010): the scheduler and the
		// controllers run on the server holding kube-system/gantry-controllers.
		holder := get(t, "lease/gantry-controllers", "kube-system", "{.spec.holderIdentity}")
		if host, _ := os.Hostname(); !strings.HasPrefix(holder, host+"_") {
			t.Errorf("controllers' Lease held by %q, want this host's server (%s_<id>)", holder, host)
		}
	})

	t.Run("every node answers endpoint drain requests through its Lease", func(t *testing.T) {
		// The drain handshake (docs/design/0009): each node keeps
		// kube-system/gantry-drain-<node>, owned by its Node.
		for _, n := range []string{first, second} {
			eventually(t, 60*time.Second, "the drain lease of "+n, func() bool {
				return get(t, "lease/gantry-drain-"+n, "kube-system", "{.metadata.ownerReferences[0].kind}/{.metadata.ownerReferences[0].name}") == "Node/"+n
			})
		}
	})

	t.Run("a restarted agent reuses its credentials without the token", func(t *testing.T) {
		agent2.stop()
		if _, err := os.Stat(filepath.Join(dir, "agent-2", "agent", second, "kubeconfig.yaml")); err != nil {
			t.Fatalf("the agent kept no kubeconfig: %v", err)
		}
		agent2 = startAgent(t, parent, srv.url, "", second, filepath.Join(dir, "agent-2"))
		eventually(t, 60*time.Second, "the restarted agent to log its earlier join", func() bool {
			return strings.Contains(agent2.log.String(), "using the credentials of an earlier join")
		})
		nodeReady(t, second)
		if r := kubectlWith(t, kc, "", "logs", "hello", "-n", ns); r.err != nil || !strings.Contains(r.stdout, "serving on 8080") {
			t.Errorf("kubectl logs after the agent restart: %s", r)
		}
	})

	t.Run("a killed agent's Deployment pods are replaced on the other node", func(t *testing.T) {
		// Put both replicas on the second node, then let the first take pods again.
		must(t, "", "cordon", first)
		must(t, strings.NewReplacer("NS", ns, "IMG", img).Replace(`
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: NS}
spec:
  replicas: 2
  selector: {matchLabels: {app: web}}
  template:
    metadata: {labels: {app: web}}
    spec:
      terminationGracePeriodSeconds: 1
      containers:
      - name: main
        image: IMG
        args: [serve, "8080"]
`), "apply", "-f", "-")
		// podsOn lists the Deployment's live Running pods by node.
		podsOn := func() map[string]int {
			out := get(t, "pods", ns, `{range .items[?(@.metadata.labels.app=="web")]}{.spec.nodeName} {.status.phase} {.metadata.deletionTimestamp}{"\n"}{end}`)
			m := map[string]int{}
			for _, line := range strings.Split(out, "\n") {
				if f := strings.Fields(line); len(f) == 2 && f[1] == "Running" {
					m[f[0]]++
				}
			}
			return m
		}
		eventually(t, 90*time.Second, "2 web pods Running on "+second, func() bool { return podsOn()[second] == 2 })
		must(t, "", "uncordon", first)

		agent2.kill()
		killed := time.Now()
		// docs/design/0008-node-lifecycle.md: with the defaults (15 s grace
		// period, 10 s default toleration) a dead node's pods run elsewhere
		// within 30 s; the deadline allows 15 s more for Docker on a busy
		// machine.
		var last map[string]int
		eventually(t, 45*time.Second, "2 web pods Running on "+first+" after "+second+" was killed", func() bool {
			last = podsOn()
			return last[first] == 2
		})
		t.Logf("pods of the killed node running on %s %v after the kill", first, time.Since(killed).Round(time.Second))
		if got := get(t, "node/"+second, "", `{.status.conditions[?(@.type=="Ready")].status}`); got == "True" {
			t.Errorf("killed node %s still Ready", second)
		}
	})
}
