package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// skewManifest is what a kubectl 1.20 user applies: a Namespace,
// ConfigMap, Deployment and Service, an autoscaling/v1 HPA (the version
// that 1.20's tutorials use, still served) and a batch/v1 CronJob (newer
// than kubectl 1.20, which knows only batch/v1beta1).
const skewManifest = `apiVersion: v1
kind: Namespace
metadata:
  name: e2e-skew
---
apiVersion: v1
kind: ConfigMap
metadata:
  name: shop-config
  namespace: e2e-skew
data:
  greeting: hello
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: shop
  namespace: e2e-skew
  labels: {app: shop}
spec:
  replicas: 2
  selector:
    matchLabels: {app: shop}
  template:
    metadata:
      labels: {app: shop}
    spec:
      containers:
      - name: shop
        image: gantry-test/shop:1.0
        ports:
        - containerPort: 8080
        envFrom:
        - configMapRef: {name: shop-config}
---
apiVersion: v1
kind: Service
metadata:
  name: shop
  namespace: e2e-skew
spec:
  selector: {app: shop}
  ports:
  - name: http
    port: 80
    targetPort: 8080
---
apiVersion: autoscaling/v1
kind: HorizontalPodAutoscaler
metadata:
  name: shop
  namespace: e2e-skew
spec:
  scaleTargetRef: {apiVersion: apps/v1, kind: Deployment, name: shop}
  minReplicas: 1
  maxReplicas: 5
  targetCPUUtilizationPercentage: 80
---
apiVersion: batch/v1
kind: CronJob
metadata:
  name: nightly
  namespace: e2e-skew
spec:
  schedule: "0 3 * * *"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: OnFailure
          containers:
          - name: report
            image: gantry-test/report:1
`

// TestOlderKubectl runs kubectl 1.20, the oldest release Gantry supports,
// against the shared server: it is built from testdata/kubectl-1.20.
//
// Not tested, because they fail against Kubernetes 1.37 too: the commands
// of kubectl 1.20 that hard-code API versions removed in Kubernetes 1.25
// (`create poddisruptionbudget` and `describe pdb` use policy/v1beta1,
// `create cronjob` and `describe cronjob` batch/v1beta1). `describe hpa`
// asks for autoscaling/v2beta2 (removed in 1.26) and falls back to
// autoscaling/v1, which is tested.
func TestOlderKubectl(t *testing.T) {
	if testing.Short() {
		t.Skip("building kubectl 1.20 takes minutes without a warm module and build cache (-short)")
	}
	k := buildKubectl(t, "testdata/kubectl-1.20", "v1.20.15")
	ns := "-n=e2e-skew"

	t.Run("version", func(t *testing.T) {
		out := k.must(t, "", "version", "--short")
		if !regexp.MustCompile(`(?m)^Client Version: v1\.20\.15$`).MatchString(out) ||
			!regexp.MustCompile(`(?m)^Server Version: v1\.\d+\.\d+`).MatchString(out) {
			t.Errorf("version:\n%s", out)
		}
	})

	if !t.Run("apply", func(t *testing.T) {
		out := k.must(t, skewManifest, "apply", "-f", "-")
		for _, want := range []string{
			"namespace/e2e-skew created", "configmap/shop-config created", "deployment.apps/shop created",
			"service/shop created", "horizontalpodautoscaler.autoscaling/shop created", "cronjob.batch/nightly created",
		} {
			if !strings.Contains(out, want) {
				t.Errorf("apply output lacks %q:\n%s", want, out)
			}
		}
		// kubectl 1.20 has no Go type for batch/v1 CronJob, so it sends a
		// JSON merge patch, which replaces the container list whole: never
		// empty, hence "configured", as against Kubernetes.
		out = k.must(t, skewManifest, "apply", "-f", "-")
		if strings.Count(out, " unchanged") != 5 || !strings.Contains(out, "cronjob.batch/nightly configured") {
			t.Errorf("second apply should leave all objects but the CronJob unchanged:\n%s", out)
		}
		out = k.must(t, skewManifest, "apply", "--server-side", "-f", "-")
		if strings.Count(out, "serverside-applied") != 6 {
			t.Errorf("server-side apply should report 6 objects:\n%s", out)
		}
	}) {
		return
	}

	t.Run("get and describe", func(t *testing.T) {
		// Server-side tables, also for kinds kubectl 1.20 cannot print
		// itself (batch/v1 CronJob, with the newer TIMEZONE column).
		for _, tt := range []struct{ resource, header string }{
			{"deployments", `^NAME\s+READY\s+UP-TO-DATE\s+AVAILABLE\s+AGE$`},
			{"services", `^NAME\s+TYPE\s+CLUSTER-IP\s+EXTERNAL-IP\s+PORT\(S\)\s+AGE$`},
			{"cronjobs", `^NAME\s+SCHEDULE\s+TIMEZONE\s+SUSPEND\s+ACTIVE\s+LAST SCHEDULE\s+AGE$`},
			{"hpa", `^NAME\s+REFERENCE\s+TARGETS\s+MINPODS\s+MAXPODS\s+REPLICAS\s+AGE$`},
		} {
			if header := firstLine(k.must(t, "", "get", tt.resource, ns)); !regexp.MustCompile(tt.header).MatchString(header) {
				t.Errorf("%s columns = %q", tt.resource, header)
			}
		}
		out := k.must(t, "", "get", "all", ns)
		for _, want := range []string{"deployment.apps/shop", "service/shop", "horizontalpodautoscaler.autoscaling/shop", "cronjob.batch/nightly"} {
			if !strings.Contains(out, want) {
				t.Errorf("get all lacks %s:\n%s", want, out)
			}
		}
		if got := k.must(t, "", "get", "hpa.v1.autoscaling", "shop", ns, "-o", "jsonpath={.apiVersion} {.spec.targetCPUUtilizationPercentage}"); got != "autoscaling/v1 80" {
			t.Errorf("HPA as autoscaling/v1: %q", got)
		}
		for _, tt := range []struct {
			resource string
			want     []string
		}{
			{"deployment/shop", []string{"Name:                   shop", "Image:      gantry-test/shop:1.0", "shop-config  ConfigMap  Optional: false"}},
			{"service/shop", []string{"Selector:          app=shop", "TargetPort:        8080/TCP"}},
			{"hpa/shop", []string{"Reference:                Deployment/shop", "Max replicas:             5"}},
		} {
			out := k.must(t, "", "describe", tt.resource, ns)
			for _, want := range tt.want {
				if !strings.Contains(out, want) {
					t.Errorf("describe %s lacks %q:\n%s", tt.resource, want, out)
				}
			}
		}
	})

	t.Run("patch label annotate scale", func(t *testing.T) {
		k.must(t, "", "patch", "deployment", "shop", ns, "--type=merge", "-p", `{"spec":{"replicas":3}}`)
		k.must(t, "", "patch", "deployment", "shop", ns, "--type=json", "-p", `[{"op":"add","path":"/metadata/labels/tier","value":"web"}]`)
		k.must(t, "", "patch", "deployment", "shop", ns, "-p", `{"spec":{"template":{"spec":{"containers":[{"name":"shop","image":"gantry-test/shop:2.0"}]}}}}`)
		got := k.must(t, "", "get", "deployment", "shop", ns, "-o", `jsonpath={.spec.replicas} {.metadata.labels.tier} {.spec.template.spec.containers[0].image} {.metadata.generation}`)
		// Generation: 1 after create (the applies changed nothing), +1
		// for replicas, +0 for a label, +1 for the template.
		if got != "3 web gantry-test/shop:2.0 3" {
			t.Errorf("after patches: %q, want replicas 3, tier web, image shop:2.0, generation 3", got)
		}
		if out := k.must(t, "", "label", "deployment", "shop", ns, "stage=canary"); !strings.Contains(out, "deployment.apps/shop labeled") {
			t.Errorf("label: %q", out)
		}
		if out := k.must(t, "", "annotate", "deployment", "shop", ns, "owner=team-skew"); !strings.Contains(out, "deployment.apps/shop annotated") {
			t.Errorf("annotate: %q", out)
		}
		if got := k.must(t, "", "get", "deployments", ns, "-l", "stage=canary,tier=web", "-o", "jsonpath={.items[*].metadata.annotations.owner}"); got != "team-skew" {
			t.Errorf("label selector + annotation: %q", got)
		}
		if got := k.must(t, "", "get", "deployments", ns, "-l", "stage=stable", "-o", "name"); got != "" {
			t.Errorf("selector stage=stable matched %q", got)
		}
		if out := k.must(t, "", "scale", "deployment", "shop", ns, "--replicas=1"); !strings.Contains(out, "deployment.apps/shop scaled") {
			t.Errorf("scale: %q", out)
		}
		if got := k.must(t, "", "get", "deployment", "shop", ns, "-o", "jsonpath={.spec.replicas}"); got != "1" {
			t.Errorf("after scale replicas = %q", got)
		}
	})

	t.Run("rollout", func(t *testing.T) {
		// The image patch above made revision 2.
		revision := func(n string) *regexp.Regexp { return regexp.MustCompile(`(?m)^` + n + `\s`) }
		var out string
		eventually(t, 30*time.Second, "revision 2 in rollout history", func() bool {
			out = k.must(t, "", "rollout", "history", "deployment/shop", ns)
			return revision("1").MatchString(out) && revision("2").MatchString(out)
		})
		if out := k.must(t, "", "rollout", "undo", "deployment/shop", ns); !strings.Contains(out, "deployment.apps/shop rolled back") {
			t.Errorf("rollout undo: %q", out)
		}
		if got := k.must(t, "", "get", "deployment", "shop", ns, "-o", "jsonpath={.spec.template.spec.containers[0].image}"); got != "gantry-test/shop:1.0" {
			t.Errorf("image after rollout undo = %q, want gantry-test/shop:1.0", got)
		}
		// Revision 1 comes back as revision 3.
		eventually(t, 30*time.Second, "revision 3 in rollout history", func() bool {
			out = k.must(t, "", "rollout", "history", "deployment/shop", ns)
			return revision("3").MatchString(out) && !revision("1").MatchString(out)
		})
	})

	t.Run("create", func(t *testing.T) {
		if out := k.must(t, "", "create", "namespace", "e2e-skew-create"); !strings.Contains(out, "namespace/e2e-skew-create created") {
			t.Errorf("create namespace: %q", out)
		}
		k.must(t, "", "create", "configmap", "cfg", "-n=e2e-skew-create", "--from-literal=a=1", "--from-literal=b=2")
		k.must(t, "", "create", "secret", "generic", "sec", "-n=e2e-skew-create", "--from-literal=token=abc")
		k.must(t, "", "create", "serviceaccount", "robot", "-n=e2e-skew-create")
		if got := k.must(t, "", "get", "configmap", "cfg", "-n=e2e-skew-create", "-o", "jsonpath={.data.a} {.data.b}"); got != "1 2" {
			t.Errorf("configmap data = %q", got)
		}
		if got := k.must(t, "", "get", "secret", "sec", "-n=e2e-skew-create", "-o", "jsonpath={.data.token}"); got != "YWJj" {
			t.Errorf("secret data = %q, want base64 of abc", got)
		}
		if got := k.must(t, "", "get", "serviceaccount", "robot", "-n=e2e-skew-create", "-o", "name"); got != "serviceaccount/robot\n" {
			t.Errorf("serviceaccount: %q", got)
		}
	})

	t.Run("discovery and explain", func(t *testing.T) {
		out := k.must(t, "", "api-resources")
		for _, want := range []*regexp.Regexp{
			regexp.MustCompile(`(?m)^deployments\s+deploy\s+apps/v1\s+true\s+Deployment$`),
			regexp.MustCompile(`(?m)^cronjobs\s+cj\s+batch/v1\s+true\s+CronJob$`),
			regexp.MustCompile(`(?m)^namespaces\s+ns\s+v1\s+false\s+Namespace$`),
		} {
			if !want.MatchString(out) {
				t.Errorf("api-resources lacks %s:\n%s", want, out)
			}
		}
		if out := k.must(t, "", "explain", "deployment.spec.replicas"); !strings.Contains(out, "Number of desired pods") {
			t.Errorf("explain deployment.spec.replicas:\n%s", out)
		}
		// A field newer than the client: explain reads the server's OpenAPI.
		if out := k.must(t, "", "explain", "cronjob.spec.timeZone"); !strings.Contains(out, "The time zone name for the given schedule") {
			t.Errorf("explain cronjob.spec.timeZone:\n%s", out)
		}
		if got := k.must(t, "", "get", "--raw", "/healthz"); got != "ok" {
			t.Errorf("/healthz = %q", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name  string
			stdin string
			args  []string
			want  string
		}{
			{"missing object", "", []string{"get", "pod", "nosuch", ns}, `Error from server (NotFound): pods "nosuch" not found`},
			{"unknown resource type", "", []string{"get", "frobnicators"}, `error: the server doesn't have a resource type "frobnicators"`},
			{"duplicate create", "", []string{"create", "namespace", "e2e-skew"}, `Error from server (AlreadyExists): namespaces "e2e-skew" already exists`},
			// kubectl 1.20 validates on the client, with the server's OpenAPI.
			{"unknown field", "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: bad\n  namespace: e2e-skew\nbogus: 1\n", []string{"apply", "-f", "-"},
				`unknown field "bogus" in io.k8s.api.core.v1.ConfigMap`},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				if stderr := k.fail(t, tt.stdin, tt.args...); !strings.Contains(stderr, tt.want) {
					t.Errorf("stderr = %q, want it to contain %q", stderr, tt.want)
				}
			})
		}
	})

	t.Run("delete", func(t *testing.T) {
		if out := k.must(t, "", "delete", "deployment", "shop", ns); !strings.Contains(out, `deployment.apps "shop" deleted`) {
			t.Errorf("delete deployment: %q", out)
		}
		if stderr := k.fail(t, "", "get", "deployment", "shop", ns); !strings.Contains(stderr, `deployments.apps "shop" not found`) {
			t.Errorf("deleted deployment still readable: %s", stderr)
		}
		// kubectl 1.20 waits for the namespaces to be finalized.
		out := k.must(t, "", "delete", "namespace", "e2e-skew", "e2e-skew-create")
		if !strings.Contains(out, `namespace "e2e-skew" deleted`) || !strings.Contains(out, `namespace "e2e-skew-create" deleted`) {
			t.Errorf("delete namespaces: %q", out)
		}
		if stderr := k.fail(t, "", "get", "namespace", "e2e-skew"); !strings.Contains(stderr, `namespaces "e2e-skew" not found`) {
			t.Errorf("namespace still there after delete: %s", stderr)
		}
	})
}

// standaloneKubectl is a kubectl binary other than `gantry kubectl`; it
// runs against the shared server with a discovery cache of its own.
type standaloneKubectl struct {
	path, cacheDir string
}

// buildKubectl builds the kubectl main package in dir, a module of its own
// with a complete go.sum, stamped as release version (e.g. "v1.20.15"),
// which kubectl prints in `version` and sends in its User-Agent. A failed
// build fails the test: CI must prove that old clients work.
func buildKubectl(t *testing.T, dir, version string) standaloneKubectl {
	t.Helper()
	major, rest, _ := strings.Cut(strings.TrimPrefix(version, "v"), ".")
	minor, _, _ := strings.Cut(rest, ".")
	var ldflags []string
	for _, pkg := range []string{"k8s.io/client-go/pkg/version", "k8s.io/component-base/version"} {
		ldflags = append(ldflags, "-X", pkg+".gitVersion="+version, "-X", pkg+".gitMajor="+major, "-X", pkg+".gitMinor="+minor)
	}
	tmp := t.TempDir()
	k := standaloneKubectl{path: filepath.Join(tmp, "kubectl"), cacheDir: filepath.Join(tmp, "cache")}
	// -mod=readonly: the committed go.sum verifies every module, so the
	// build needs no checksum database and never rewrites go.sum.
	build := exec.CommandContext(t.Context(), "go", "build", "-mod=readonly", "-ldflags", strings.Join(ldflags, " "), "-o", k.path, ".")
	build.Dir = dir
	// Static and pure Go, as the e2e TestMain builds gantry.
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOWORK=off")
	start := time.Now()
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building kubectl %s in %s: %v\n%s", version, dir, err, out)
	}
	t.Logf("built kubectl %s in %v", version, time.Since(start).Round(time.Second))
	return k
}

func (k standaloneKubectl) run(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return runKubectl(t, kubeconfig, stdin, append([]string{k.path, "--cache-dir", k.cacheDir}, args...)...)
}

// must runs kubectl and fails the test if it exits non-zero.
func (k standaloneKubectl) must(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := k.run(t, stdin, args...)
	if r.err != nil {
		t.Fatalf("kubectl %s: %s", strings.Join(args, " "), r)
	}
	return r.stdout
}

// fail runs kubectl, expects a non-zero exit and returns stderr.
func (k standaloneKubectl) fail(t *testing.T, stdin string, args ...string) string {
	t.Helper()
	r := k.run(t, stdin, args...)
	if r.err == nil {
		t.Fatalf("kubectl %s succeeded, want failure: %s", strings.Join(args, " "), r)
	}
	return r.stderr
}
