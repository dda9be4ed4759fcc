package e2e

import (
	"bufio"
	"context"
	"encoding/base64"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestApplyManifest applies a multi-document manifest with default
// (server-side field) validation, re-applies it unchanged, then applies it
// server-side.
func TestApplyManifest(t *testing.T) {
	out := mustKubectl(t, "", "apply", "-f", "testdata/app.yaml")
	for _, want := range []string{
		"namespace/e2e-app created", "configmap/web-config created", "secret/web-secret created",
		"deployment.apps/web created", "service/web created",
		"ingress.networking.k8s.io/web created", "horizontalpodautoscaler.autoscaling/web created",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("apply output lacks %q:\n%s", want, out)
		}
	}
	out = mustKubectl(t, "", "apply", "-f", "testdata/app.yaml")
	// The Secret uses stringData, which the server folds into data, so
	// kubectl's three-way diff always finds stringData missing from the
	// live object and sends it again ("configured"), as with Kubernetes.
	if strings.Count(out, "unchanged") != 6 || !strings.Contains(out, "secret/web-secret configured") {
		t.Errorf("second apply should leave all objects but the stringData Secret unchanged:\n%s", out)
	}
	out = mustKubectl(t, "", "apply", "--server-side", "--force-conflicts", "-f", "testdata/app.yaml")
	if strings.Count(out, "serverside-applied") != 7 {
		t.Errorf("server-side apply should report 7 objects:\n%s", out)
	}
	out = mustKubectl(t, "", "get", "deploy,svc,cm,secret,ing,hpa", "-n", "e2e-app")
	for _, want := range []string{"deployment.apps/web", "service/web", "configmap/web-config", "secret/web-secret", "ingress.networking.k8s.io/web", "horizontalpodautoscaler.autoscaling/web"} {
		if !strings.Contains(out, want) {
			t.Errorf("get lacks %q:\n%s", want, out)
		}
	}
	// Server-side tables: the columns Kubernetes prints.
	header := firstLine(mustKubectl(t, "", "get", "deploy", "-n", "e2e-app"))
	if !regexp.MustCompile(`^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`).MatchString(header) {
		t.Errorf("deployment columns = %q", header)
	}
	svc := mustKubectl(t, "", "get", "svc", "web", "-n", "e2e-app", "-o", "jsonpath={.spec.clusterIP}")
	if !strings.HasPrefix(svc, "10.43.") {
		t.Errorf("service ClusterIP %q not from 10.43.0.0/16", svc)
	}
}

// TestCreateCommands covers kubectl's typed create commands, which send
// protobuf bodies.
func TestCreateCommands(t *testing.T) {
	mustKubectl(t, "", "create", "namespace", "e2e-create")
	mustKubectl(t, "", "create", "configmap", "cfg", "-n", "e2e-create", "--from-literal=a=1", "--from-literal=b=2")
	mustKubectl(t, "", "create", "secret", "generic", "sec", "-n", "e2e-create", "--from-literal=token=abc")
	got := mustKubectl(t, "", "get", "secret", "sec", "-n", "e2e-create", "-o", "jsonpath={.data.token}")
	if got != "YWJj" {
		t.Errorf("secret data = %q, want base64 of abc", got)
	}
	stderr := failKubectl(t, "", "create", "namespace", "e2e-create")
	if !strings.Contains(stderr, `namespaces "e2e-create" already exists`) {
		t.Errorf("duplicate create: %q", stderr)
	}

	// A service account's token, used alone (no client certificate).
	mustKubectl(t, "", "create", "serviceaccount", "robot", "-n", "e2e-create")
	token := strings.TrimSpace(mustKubectl(t, "", "create", "token", "robot", "-n", "e2e-create", "--duration", "15m"))
	server := mustKubectl(t, "", "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.server}")
	caData, err := base64.StdEncoding.DecodeString(mustKubectl(t, "", "config", "view", "--raw", "-o", "jsonpath={.clusters[0].cluster.certificate-authority-data}"))
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "ca.crt")
	if err := os.WriteFile(caFile, caData, 0o600); err != nil {
		t.Fatal(err)
	}
	empty := filepath.Join(t.TempDir(), "empty-kubeconfig")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	withToken := func(tok string) result {
		return kubectlWith(t, empty, "", "--server", server, "--certificate-authority", caFile, "--token", tok, "get", "serviceaccount", "robot", "-n", "e2e-create", "-o", "name")
	}
	if r := withToken(token); r.err != nil || strings.TrimSpace(r.stdout) != "serviceaccount/robot" {
		t.Errorf("kubectl with the service account's token: %s", r)
	}
	mustKubectl(t, "", "delete", "serviceaccount", "robot", "-n", "e2e-create")
	if r := withToken(token); r.err == nil || !strings.Contains(r.stderr, "Unauthorized") {
		t.Errorf("token of a deleted service account: %s", r)
	}
}

// TestPatchLabelAnnotateEdit covers every patch type and the commands
// built on them.
func TestPatchLabelAnnotateEdit(t *testing.T) {
	ns := "e2e-patch"
	mustKubectl(t, "", "create", "namespace", ns)
	mustKubectl(t, "", "create", "deployment", "app", "-n", ns, "--image=gantry-test/app:1", "--replicas=1")
	mustKubectl(t, "", "patch", "deploy", "app", "-n", ns, "--type=merge", "-p", `{"spec":{"replicas":2}}`)
	mustKubectl(t, "", "patch", "deploy", "app", "-n", ns, "--type=json", "-p", `[{"op":"replace","path":"/spec/replicas","value":3}]`)
	mustKubectl(t, "", "patch", "deploy", "app", "-n", ns, "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"app","image":"gantry-test/app:2"}]}}}}`)
	got := mustKubectl(t, "", "get", "deploy", "app", "-n", ns, "-o", `jsonpath={.spec.replicas} {.spec.template.spec.containers[0].image} {.metadata.generation}`)
	if got != "3 gantry-test/app:2 4" {
		t.Errorf("after patches: %q, want replicas 3, image app:2, generation 4", got)
	}
	mustKubectl(t, "", "label", "deploy", "app", "-n", ns, "tier=backend")
	mustKubectl(t, "", "annotate", "deploy", "app", "-n", ns, "owner=team-a")
	got = mustKubectl(t, "", "get", "deploy", "-n", ns, "-l", "tier=backend", "-o", "jsonpath={.items[*].metadata.annotations.owner}")
	if got != "team-a" {
		t.Errorf("label selector + annotation: %q", got)
	}
	// kubectl edit through an "editor" that rewrites the replica count.
	editor := filepath.Join(t.TempDir(), "editor.sh")
	if err := os.WriteFile(editor, []byte("#!/bin/sh\nsed -i 's/replicas: 3/replicas: 4/' \"$1\"\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(gantryBin, "kubectl", "edit", "deploy", "app", "-n", ns)
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig, "KUBE_EDITOR="+editor)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("kubectl edit: %v\n%s", err, out)
	}
	if got := mustKubectl(t, "", "get", "deploy", "app", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "4" {
		t.Errorf("after edit replicas = %q", got)
	}
	mustKubectl(t, "", "scale", "deploy", "app", "-n", ns, "--replicas=1")
	if got := mustKubectl(t, "", "get", "deploy", "app", "-n", ns, "-o", "jsonpath={.spec.replicas}"); got != "1" {
		t.Errorf("after scale replicas = %q", got)
	}
	out := mustKubectl(t, "", "describe", "deploy", "app", "-n", ns)
	if !strings.Contains(out, "Name:") || !strings.Contains(out, "gantry-test/app:2") {
		t.Errorf("describe output:\n%s", out)
	}
}

// TestWatchAndWait covers `get -w` and `wait`.
func TestWatchAndWait(t *testing.T) {
	ns := "e2e-watch"
	mustKubectl(t, "", "create", "namespace", ns)
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, gantryBin, "kubectl", "get", "configmaps", "-n", ns, "-w", "--output-watch-events")
	cmd.Env = append(os.Environ(), "KUBECONFIG="+kubeconfig)
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { cancel(); _ = cmd.Wait() }()
	lines := make(chan string, 100)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	// Wait for the watch to be established: the root CA configmap is not
	// there yet, so create a marker until it shows up.
	mustKubectl(t, "", "create", "configmap", "first", "-n", ns)
	expectLine(t, lines, regexp.MustCompile(`ADDED\s+first`))
	mustKubectl(t, "", "label", "configmap", "first", "-n", ns, "x=y")
	expectLine(t, lines, regexp.MustCompile(`MODIFIED\s+first`))
	mustKubectl(t, "", "delete", "configmap", "first", "-n", ns)
	expectLine(t, lines, regexp.MustCompile(`DELETED\s+first`))

	// kubectl wait: jsonpath condition met by a later patch, and --for=delete.
	mustKubectl(t, "", "create", "configmap", "flag", "-n", ns, "--from-literal=state=pending")
	waitDone := make(chan result, 1)
	go func() {
		waitDone <- kubectl(t, "", "wait", "configmap/flag", "-n", ns, "--for=jsonpath={.data.state}=done", "--timeout=30s")
	}()
	mustKubectl(t, "", "patch", "configmap", "flag", "-n", ns, "--type=merge", "-p", `{"data":{"state":"done"}}`)
	if r := <-waitDone; r.err != nil {
		t.Fatalf("wait --for=jsonpath: %s", r)
	}
	go func() {
		waitDone <- kubectl(t, "", "wait", "configmap/flag", "-n", ns, "--for=delete", "--timeout=30s")
	}()
	mustKubectl(t, "", "delete", "configmap", "flag", "-n", ns)
	if r := <-waitDone; r.err != nil {
		t.Fatalf("wait --for=delete: %s", r)
	}
}

func expectLine(t *testing.T, lines <-chan string, re *regexp.Regexp) {
	t.Helper()
	timeout := time.After(30 * time.Second)
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				t.Fatalf("watch ended before a line matching %s", re)
			}
			if re.MatchString(l) {
				return
			}
		case <-timeout:
			t.Fatalf("no watch line matching %s within 30s", re)
		}
	}
}

// TestDiscoveryAndExplain covers api-resources, api-versions and explain.
func TestDiscoveryAndExplain(t *testing.T) {
	out := mustKubectl(t, "", "api-resources")
	for _, want := range []*regexp.Regexp{
		regexp.MustCompile(`(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`),
		regexp.MustCompile(`(?m)^horizontalpodautoscalers\s+hpa\s+autoscaling/v2\s+true\s+HorizontalPodAutoscaler$`),
		regexp.MustCompile(`(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$`),
		regexp.MustCompile(`(?m)^poddisruptionbudgets\s+pdb\s+policy/v1\s+true\s+PodDisruptionBudget$`),
	} {
		if !want.MatchString(out) {
			t.Errorf("api-resources lacks %s:\n%s", want, out)
		}
	}
	out = mustKubectl(t, "", "api-versions")
	for _, gv := range []string{"apps/v1", "batch/v1", "networking.k8s.io/v1", "rbac.authorization.k8s.io/v1", "v1"} {
		if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(gv) + `$`).MatchString(out) {
			t.Errorf("api-versions lacks %s", gv)
		}
	}
	out = mustKubectl(t, "", "explain", "deployment.spec.replicas")
	if !strings.Contains(out, "Number of desired pods") {
		t.Errorf("explain output:\n%s", out)
	}
	// The embedded kubectl knows its release, and the server's is the
	// same, so no skew warning.
	r := kubectl(t, "", "version")
	if r.err != nil || !regexp.MustCompile(`(?m)^Client Version: v1\.\d+\.\d+$`).MatchString(r.stdout) ||
		!strings.Contains(r.stdout, "Server Version: v1.") || strings.Contains(r.stderr, "Warning") {
		t.Errorf("kubectl version: %s", r)
	}
}

// TestAuthCommands covers kubectl auth whoami and can-i (with --list and
// --as), answered by the review APIs: with no RBAC yet every user may do
// everything but profile the server.
func TestAuthCommands(t *testing.T) {
	out := mustKubectl(t, "", "auth", "whoami")
	if !regexp.MustCompile(`(?m)^Groups\s+\[.*system:masters.*\]$`).MatchString(out) {
		t.Errorf("auth whoami:\n%s", out)
	}
	out = mustKubectl(t, "", "auth", "whoami", "--as", "alice", "--as-group", "devs")
	if !regexp.MustCompile(`(?m)^Username\s+alice$`).MatchString(out) || !regexp.MustCompile(`(?m)^Groups\s+\[devs system:authenticated\]$`).MatchString(out) {
		t.Errorf("auth whoami --as alice:\n%s", out)
	}
	if out := mustKubectl(t, "", "auth", "can-i", "create", "deployments", "-n", "default"); strings.TrimSpace(out) != "yes" {
		t.Errorf("can-i create deployments: %q", out)
	}
	if out := mustKubectl(t, "", "auth", "can-i", "get", "/debug/pprof/heap"); strings.TrimSpace(out) != "yes" {
		t.Errorf("admin can-i get /debug/pprof/heap: %q", out)
	}
	// kubectl exits 1 for "no".
	r := kubectl(t, "", "auth", "can-i", "get", "/debug/pprof/heap", "--as", "alice")
	if r.err == nil || !strings.HasPrefix(r.stdout, "no") {
		t.Errorf("alice can-i get /debug/pprof/heap: %s", r)
	}
	out = mustKubectl(t, "", "auth", "can-i", "--list", "-n", "default")
	if !regexp.MustCompile(`(?m)^\*\.\*\s+\[\]\s+\[\]\s+\[\*\]$`).MatchString(out) {
		t.Errorf("can-i --list:\n%s", out)
	}
}

// TestErrorMessages checks that errors read as Kubernetes prints them.
func TestErrorMessages(t *testing.T) {
	tests := []struct {
		name  string
		stdin string
		args  []string
		want  string
	}{
		{"missing object", "", []string{"get", "configmap", "nope", "-n", "default"}, `Error from server (NotFound): configmaps "nope" not found`},
		{"unknown resource type", "", []string{"get", "frobnicators"}, `error: the server doesn't have a resource type "frobnicators"`},
		{"missing namespace", "", []string{"create", "configmap", "x", "-n", "no-such-ns"}, `failed to create configmap: namespaces "no-such-ns" not found`},
		{"unknown field is rejected", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: default\nbogus: 1\n", []string{"apply", "-f", "-"}, `unknown field "bogus"`},
		{"malformed manifest", "apiVersion: v1\nkind: ConfigMap\nmetadata: [\n", []string{"apply", "-f", "-"}, `error`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stderr := failKubectl(t, tt.stdin, tt.args...)
			if !strings.Contains(stderr, tt.want) {
				t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
			}
		})
	}
}

// TestDelete covers delete of single objects, by label and namespace.
func TestDelete(t *testing.T) {
	ns := "e2e-delete"
	mustKubectl(t, "", "create", "namespace", ns)
	for _, n := range []string{"a", "b", "c"} {
		mustKubectl(t, "", "create", "configmap", n, "-n", ns)
	}
	mustKubectl(t, "", "label", "configmap", "a", "b", "-n", ns, "group=ab")
	out := mustKubectl(t, "", "delete", "configmap", "-n", ns, "-l", "group=ab")
	if !strings.Contains(out, `configmap "a" deleted`) || !strings.Contains(out, `configmap "b" deleted`) {
		t.Errorf("delete -l output:\n%s", out)
	}
	// Every namespace also has kube-root-ca.crt, as in Kubernetes.
	left := mustKubectl(t, "", "get", "configmaps", "-n", ns, "-o", "name", "--field-selector", "metadata.name!=kube-root-ca.crt")
	if strings.TrimSpace(left) != "configmap/c" {
		t.Errorf("left after delete -l: %q", left)
	}
	mustKubectl(t, "", "delete", "configmap", "c", "-n", ns)
	if stderr := failKubectl(t, "", "get", "configmap", "c", "-n", ns); !strings.Contains(stderr, "NotFound") {
		t.Errorf("deleted configmap still readable: %s", stderr)
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return strings.TrimSpace(line)
}

// TestMetrics reads the server's Prometheus metrics through kubectl.
func TestMetrics(t *testing.T) {
	// Deleting a namespace makes the namespace controller reconcile; the
	// namespace and its contents go away.
	mustKubectl(t, "", "create", "namespace", "e2e-metrics")
	mustKubectl(t, "", "create", "configmap", "x", "-n", "e2e-metrics")
	mustKubectl(t, "", "delete", "namespace", "e2e-metrics", "--wait=true", "--timeout=60s")
	if stderr := failKubectl(t, "", "get", "namespace", "e2e-metrics"); !strings.Contains(stderr, "NotFound") {
		t.Errorf("namespace still there after delete --wait: %s", stderr)
	}
	var out string
	eventually(t, 30*time.Second, "controller reconcile metrics", func() bool {
		out = mustKubectl(t, "", "get", "--raw", "/metrics")
		return strings.Contains(out, `gantry_controller_reconcile_total{controller="namespace"`)
	})
	for _, want := range []string{"process_resident_memory_bytes", "go_goroutines", "gantry_controller_queue_depth"} {
		if !strings.Contains(out, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}
