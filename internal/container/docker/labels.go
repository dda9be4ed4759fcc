package docker

import (
	"fmt"
	"maps"
	"strconv"
	"strings"
	"time"

	"github.com/docker/docker/api/types/filters"

	"github.com/gantry-dev/gantry/internal/container"
)

// Labels only this package reads.
const (
	labelKind         = "io.gantry.kind" // kindSandbox or kindContainer
	labelSandboxID    = "io.gantry.sandbox.id"
	labelNetwork      = "io.gantry.sandbox.network"
	labelIP           = "io.gantry.sandbox.ip"
	labelPlumbed      = "io.gantry.sandbox.plumbed" // network and pod files are the runtime's (podnet.go)
	labelHostNetwork  = "io.gantry.sandbox.host-network"
	labelSharePID     = "io.gantry.sandbox.share-pid"
	labelImage        = "io.gantry.image"
	labelPauseSources = "io.gantry.pause.sources"

	kindSandbox   = "sandbox"
	kindContainer = "container"
)

// objectLabels returns user labels (minus reserved keys) plus the pod's.
func (r *Runtime) objectLabels(kind string, pod container.PodRef, attempt int, user map[string]string) map[string]string {
	l := make(map[string]string, len(user)+8)
	for k, v := range user {
		if !strings.HasPrefix(k, container.LabelPrefix) {
			l[k] = v
		}
	}
	l[labelKind] = kind
	l[container.LabelNode] = r.cfg.Node
	l[container.LabelPodName] = pod.Name
	l[container.LabelPodNamespace] = pod.Namespace
	l[container.LabelPodUID] = pod.UID
	l[container.LabelAttempt] = strconv.Itoa(attempt)
	return l
}

// owned reports whether labels mark an object of this runtime of kind.
func (r *Runtime) owned(labels map[string]string, kind string) bool {
	return labels[labelKind] == kind && labels[container.LabelNode] == r.cfg.Node
}

// userLabels drops the reserved labels.
func userLabels(l map[string]string) map[string]string {
	out := maps.Clone(l)
	maps.DeleteFunc(out, func(k, _ string) bool { return strings.HasPrefix(k, container.LabelPrefix) })
	return out
}

func podRef(l map[string]string) container.PodRef {
	return container.PodRef{Name: l[container.LabelPodName], Namespace: l[container.LabelPodNamespace], UID: l[container.LabelPodUID]}
}

func attempt(l map[string]string) int {
	n, _ := strconv.Atoi(l[container.LabelAttempt])
	return n
}

// listFilter selects this node's objects of kind.
func (r *Runtime) listFilter(kind, id, podUID string) filters.Args {
	f := filters.NewArgs(
		filters.Arg("label", labelKind+"="+kind),
		filters.Arg("label", container.LabelNode+"="+r.cfg.Node),
	)
	if id != "" {
		f.Add("id", id)
	}
	if podUID != "" {
		f.Add("label", container.LabelPodUID+"="+podUID)
	}
	return f
}

// objectName is the Docker name of a sandbox (name "POD") or container:
// unique per pod UID, container name and attempt, readable in docker ps.
func objectName(name string, pod container.PodRef, attempt int) string {
	return fmt.Sprintf("gantry_%s_%s_%s_%s_%d", name, pod.Name, pod.Namespace, pod.UID, attempt)
}

// parseTime parses Docker's RFC 3339 times; its zero value
// ("0001-01-01T00:00:00Z") and garbage give the zero time.
func parseTime(s string) time.Time {
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil || t.Year() <= 1 {
		return time.Time{}
	}
	return t
}
