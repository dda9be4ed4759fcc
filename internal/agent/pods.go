package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/types"
	"k8s.io/client-go/tools/cache"

	"github.com/gantry-dev/gantry/internal/container"
)

// podState is what the runtime holds for one pod.
type podState struct {
	// sandboxes, oldest first; the last is the current one.
	sandboxes []container.Sandbox
	// containers by spec name, oldest attempt first.
	containers map[string][]container.ContainerStatus
}

func (s *podState) sandbox() *container.Sandbox {
	if len(s.sandboxes) == 0 {
		return nil
	}
	return &s.sandboxes[len(s.sandboxes)-1]
}

// latest returns the newest container of name, or nil.
func (s *podState) latest(name string) *container.ContainerStatus {
	cs := s.containers[name]
	if len(cs) == 0 {
		return nil
	}
	return &cs[len(cs)-1]
}

// previous returns the container before the newest of name, or nil.
func (s *podState) previous(name string) *container.ContainerStatus {
	cs := s.containers[name]
	if len(cs) < 2 {
		return nil
	}
	return &cs[len(cs)-2]
}

// nextAttempt is the attempt number of name's next container.
func (s *podState) nextAttempt(name string) int {
	if c := s.latest(name); c != nil {
		return c.Attempt + 1
	}
	return 0
}

// observe reads the runtime's state of the pod with uid.
func (a *Agent) observe(ctx context.Context, uid types.UID) (*podState, error) {
	sbs, err := a.rt.ListSandboxes(ctx, container.SandboxFilter{PodUID: string(uid)})
	if err != nil {
		return nil, err
	}
	sort.SliceStable(sbs, func(i, j int) bool { return sbs[i].Attempt < sbs[j].Attempt })
	list, err := a.rt.ListContainers(ctx, container.ContainerFilter{PodUID: string(uid)})
	if err != nil {
		return nil, err
	}
	st := &podState{sandboxes: sbs, containers: map[string][]container.ContainerStatus{}}
	for _, c := range list {
		cs, err := a.rt.ContainerStatus(ctx, c.ID)
		if errors.Is(err, container.ErrNotFound) {
			continue
		}
		if err != nil {
			return nil, err
		}
		st.containers[c.Name] = append(st.containers[c.Name], cs)
	}
	for _, cs := range st.containers {
		sort.SliceStable(cs, func(i, j int) bool { return cs[i].Attempt < cs[j].Attempt })
	}
	return st, nil
}

// syncPod converges the runtime to the pod with key (namespace/name) and
// reports its status. It returns how long to wait before looking again
// (0: until something changes) or an error to retry with back-off.
func (a *Agent) syncPod(ctx context.Context, key string) (time.Duration, error) {
	ns, name, err := cache.SplitMetaNamespaceKey(key)
	if err != nil {
		return 0, nil
	}
	pod, err := a.pods.Pods(ns).Get(name)
	if apierrors.IsNotFound(err) {
		return 0, nil // housekeeping removes what is left
	}
	if err != nil {
		return 0, err
	}
	if pod.DeletionTimestamp != nil {
		return 0, a.terminatePod(ctx, pod)
	}
	state, err := a.observe(ctx, pod.UID)
	if err != nil {
		return 0, err
	}
	var requeue time.Duration
	var syncErr error
	if isTerminal(pod.Status.Phase) {
		syncErr = a.stopPod(ctx, pod, state, 0)
	} else {
		requeue, syncErr = a.runPod(ctx, pod, state)
		if state, err = a.observe(ctx, pod.UID); err != nil {
			return 0, err
		}
		// Projected service account tokens are rewritten before they go
		// stale even if nothing else about the pod changes. A refresh
		// time already past means the volumes were not set up in this
		// sync: nothing to wait for.
		if at, ok := a.tokens.nextRefresh(pod.UID); ok {
			if d := at.Sub(a.tokens.now()); d > 0 && (requeue == 0 || d < requeue) {
				requeue = d
			}
		}
	}
	status := a.podStatus(pod, state)
	if err := a.updateStatus(ctx, pod, status); err != nil {
		return 0, err
	}
	if isTerminal(status.Phase) && !isTerminal(pod.Status.Phase) {
		// Free the IP and stop probes: the pod is done.
		if err := a.stopPod(ctx, pod, state, 0); err != nil {
			return 0, err
		}
	}
	if syncErr != nil {
		return 0, syncErr
	}
	// Probes and back-offs wake the pod; look again now and then anyway.
	if requeue == 0 || requeue > time.Minute {
		requeue = time.Minute
	}
	return requeue, nil
}

func isTerminal(p corev1.PodPhase) bool {
	return p == corev1.PodSucceeded || p == corev1.PodFailed
}

// runPod makes the pod's sandbox and containers run as its spec and
// restart policy say.
func (a *Agent) runPod(ctx context.Context, pod *corev1.Pod, state *podState) (time.Duration, error) {
	sb := state.sandbox()
	if sb == nil || sb.State != container.SandboxReady {
		if sb != nil && !a.sandboxMayRestart(pod, state) {
			return 0, nil
		}
		id, err := a.runSandbox(ctx, pod, state)
		if err != nil {
			return 0, err
		}
		newSB, err := a.rt.SandboxStatus(ctx, id)
		if err != nil {
			return 0, err
		}
		state.sandboxes = append(state.sandboxes, newSB)
		sb = state.sandbox()
	}
	mounts, err := a.setupVolumes(ctx, pod)
	if err != nil {
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedMount", "%v", err)
		a.setWaitingAll(pod, "ContainerCreating", "")
		return 0, err
	}

	var requeue time.Duration
	soonest := func(d time.Duration) {
		if d > 0 && (requeue == 0 || d < requeue) {
			requeue = d
		}
	}

	// Init containers, one at a time, in order.
	for i := range pod.Spec.InitContainers {
		c := &pod.Spec.InitContainers[i]
		cur := a.inSandbox(state.latest(c.Name), sb)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case cur == nil:
			if prev := state.latest(c.Name); prev != nil && prev.State == container.ContainerExited && prev.SandboxID == sb.ID {
				break
			}
			if _, err := a.startContainers(ctx, pod, sb, state, mounts, []*corev1.Container{c}, nil); err != nil {
				return 0, err
			}
			return 0, nil
		case cur.State == container.ContainerRunning:
			if sidecar && a.probes.started(pod.UID, cur.ID, c) {
				continue
			}
			return 0, nil
		case cur.State == container.ContainerExited && cur.ExitCode == 0 && !sidecar:
			continue
		}
		// Failed (or a sidecar that exited): restart unless the pod never
		// restarts.
		if pod.Spec.RestartPolicy == corev1.RestartPolicyNever && !sidecar {
			return 0, nil
		}
		wait, delay := a.backoff.wait(backoffKey(pod, c.Name), cur.FinishedAt)
		if wait > 0 {
			a.setWaiting(pod.UID, c.Name, "CrashLoopBackOff", backoffMessage(pod, c.Name, delay))
			return wait, nil
		}
		if _, err := a.startContainers(ctx, pod, sb, state, mounts, []*corev1.Container{c}, nil); err != nil {
			return 0, err
		}
		return 0, nil
	}

	// App containers, all at once.
	var toStart []*corev1.Container
	for i := range pod.Spec.Containers {
		c := &pod.Spec.Containers[i]
		cur := a.inSandbox(state.latest(c.Name), sb)
		if cur != nil && cur.State == container.ContainerRunning {
			reason := a.probes.mustRestart(pod.UID, cur.ID, c)
			if reason == "" && cur.Image != c.Image {
				reason = fmt.Sprintf("Container %s definition changed, will be restarted", c.Name)
			}
			if reason == "" {
				continue
			}
			a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "%s", reason)
			if err := a.stopContainer(ctx, pod, c, cur.ID, gracePeriod(pod)); err != nil {
				return 0, err
			}
			if cs, err := a.rt.ContainerStatus(ctx, cur.ID); err == nil {
				*cur = cs
			}
		}
		if cur == nil && state.latest(c.Name) == nil {
			toStart = append(toStart, c)
			continue
		}
		if cur == nil {
			// Its container belongs to an earlier sandbox: start anew.
			cur = state.latest(c.Name)
			if cur.State == container.ContainerRunning {
				toStart = append(toStart, c)
				continue
			}
		}
		if cur.State == container.ContainerCreated {
			toStart = append(toStart, c)
			continue
		}
		if !shouldRestart(pod.Spec.RestartPolicy, cur.ExitCode) {
			continue
		}
		wait, delay := a.backoff.wait(backoffKey(pod, c.Name), cur.FinishedAt)
		if wait > 0 {
			a.setWaiting(pod.UID, c.Name, "CrashLoopBackOff", backoffMessage(pod, c.Name, delay))
			if a.waitingChanged(pod, c.Name, "CrashLoopBackOff") {
				a.recorder.Eventf(pod, corev1.EventTypeWarning, "BackOff", "Back-off restarting failed container %s in pod %s", c.Name, podDesc(pod))
			}
			soonest(wait)
			continue
		}
		toStart = append(toStart, c)
	}
	if len(toStart) > 0 {
		wait, err := a.startContainers(ctx, pod, sb, state, mounts, toStart, nil)
		soonest(wait)
		if err != nil {
			return 0, err
		}
	}
	soonest(a.startEphemeralContainers(ctx, pod, sb, state, mounts))
	a.probes.sync(pod, state, sb)
	a.pruneContainers(ctx, state)
	return requeue, nil
}

// startEphemeralContainers starts the pod's ephemeral containers (kubectl
// debug) that never ran, as the kubelet does: each runs once and is never
// restarted, not even in a new sandbox; one with a targetContainerName
// joins the PID namespace of that container once it runs. It returns when
// to look again (0: no need).
func (a *Agent) startEphemeralContainers(ctx context.Context, pod *corev1.Pod, sb *container.Sandbox, state *podState, mounts volumeMounts) time.Duration {
	var requeue time.Duration
	for i := range pod.Spec.EphemeralContainers {
		ec := &pod.Spec.EphemeralContainers[i]
		if state.latest(ec.Name) != nil {
			continue
		}
		pidOf := map[string]string{}
		if t := ec.TargetContainerName; t != "" {
			cur := a.inSandbox(state.latest(t), sb)
			if cur == nil || cur.State != container.ContainerRunning {
				a.setWaiting(pod.UID, ec.Name, "ContainerCreating", fmt.Sprintf("waiting for target container %q to run", t))
				requeue = time.Second
				continue
			}
			pidOf[ec.Name] = cur.ID
		}
		c := (*corev1.Container)(&ec.EphemeralContainerCommon)
		wait, err := a.startContainers(ctx, pod, sb, state, mounts, []*corev1.Container{c}, pidOf)
		if err != nil {
			a.log.Warn("ephemeral container", "pod", podDesc(pod), "container", ec.Name, "err", err)
			wait = time.Second
		}
		if wait > 0 && (requeue == 0 || wait < requeue) {
			requeue = wait
		}
	}
	return requeue
}

// inSandbox returns c if it runs in sb, else nil.
func (a *Agent) inSandbox(c *container.ContainerStatus, sb *container.Sandbox) *container.ContainerStatus {
	if c == nil || c.SandboxID != sb.ID {
		return nil
	}
	return c
}

// sandboxMayRestart reports whether a pod whose sandbox died gets a new
// one: not if it never restarts and its containers already ran.
func (a *Agent) sandboxMayRestart(pod *corev1.Pod, state *podState) bool {
	if pod.Spec.RestartPolicy != corev1.RestartPolicyNever {
		return true
	}
	for _, c := range pod.Spec.Containers {
		if state.latest(c.Name) != nil {
			return false
		}
	}
	return true
}

func shouldRestart(p corev1.RestartPolicy, exitCode int) bool {
	switch p {
	case corev1.RestartPolicyNever:
		return false
	case corev1.RestartPolicyOnFailure:
		return exitCode != 0
	}
	return true
}

func backoffKey(pod *corev1.Pod, name string) string { return string(pod.UID) + "/" + name }

func backoffMessage(pod *corev1.Pod, name string, delay time.Duration) string {
	return fmt.Sprintf("back-off %s restarting failed container=%s pod=%s", delay.Round(time.Second), name, podDesc(pod))
}

func podDesc(pod *corev1.Pod) string {
	return fmt.Sprintf("%s_%s(%s)", pod.Name, pod.Namespace, pod.UID)
}

// runSandbox stops what is left of earlier sandboxes and starts a new one.
func (a *Agent) runSandbox(ctx context.Context, pod *corev1.Pod, state *podState) (string, error) {
	attempt := 0
	for _, old := range state.sandboxes {
		if err := a.rt.StopSandbox(ctx, old.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			return "", err
		}
		a.ipam.release(old.IP)
		attempt = old.Attempt + 1
	}
	ip := ""
	if !pod.Spec.HostNetwork {
		var err error
		if ip, err = a.ipam.allocate(); err != nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
			return "", err
		}
	}
	cfg := a.sandboxConfig(pod, attempt, ip)
	id, err := a.rt.RunSandbox(ctx, cfg)
	if errors.Is(err, container.ErrAlreadyExists) {
		a.ipam.release(ip)
		sbs, lerr := a.rt.ListSandboxes(ctx, container.SandboxFilter{PodUID: string(pod.UID)})
		if lerr == nil {
			for _, sb := range sbs {
				if sb.Attempt == attempt {
					a.ipam.claim(sb.IP)
					return sb.ID, nil
				}
			}
		}
		return "", err
	}
	if err != nil {
		a.ipam.release(ip)
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedCreatePodSandBox", "Failed to create pod sandbox: %v", err)
		return "", err
	}
	return id, nil
}

// startContainers creates and starts cs in sb: images first, then the
// containers, started together. Problems with an image or the
// configuration are reported in the containers' waiting state; the
// returned duration is when to try again.
func (a *Agent) startContainers(ctx context.Context, pod *corev1.Pod, sb *container.Sandbox, state *podState, mounts volumeMounts, cs []*corev1.Container, pidOf map[string]string) (time.Duration, error) {
	var ids []string
	var started []*corev1.Container
	var requeue time.Duration
	for _, c := range cs {
		if wait, ok := a.ensureImage(ctx, pod, c); !ok {
			if wait > 0 && (requeue == 0 || wait < requeue) {
				requeue = wait
			}
			continue
		}
		cfg, err := a.containerConfig(ctx, pod, c, state.nextAttempt(c.Name), mounts, sb)
		if err != nil {
			a.setWaiting(pod.UID, c.Name, "CreateContainerConfigError", err.Error())
			if a.waitingChanged(pod, c.Name, "CreateContainerConfigError") {
				a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
			}
			requeue = 2 * time.Second
			continue
		}
		cfg.PIDNamespaceOf = pidOf[c.Name]
		if prev := state.latest(c.Name); prev != nil && prev.State == container.ContainerExited {
			a.backoff.next(backoffKey(pod, c.Name), prev.FinishedAt)
		}
		id, err := a.rt.CreateContainer(ctx, sb.ID, cfg)
		if errors.Is(err, container.ErrAlreadyExists) {
			id, err = a.findContainer(ctx, sb.ID, c.Name, cfg.Attempt)
		}
		if err != nil {
			if container.IsTemporary(err) {
				return 0, err
			}
			a.setWaiting(pod.UID, c.Name, "CreateContainerError", err.Error())
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %v", err)
			requeue = 2 * time.Second
			continue
		}
		a.clearWaiting(pod.UID, c.Name)
		a.recorder.Eventf(pod, corev1.EventTypeNormal, "Created", "Created container %s", c.Name)
		ids = append(ids, id)
		started = append(started, c)
	}
	if len(ids) == 0 {
		return requeue, nil
	}
	err := container.StartAll(ctx, a.rt, ids...)
	var wg sync.WaitGroup
	for i, c := range started {
		st, serr := a.rt.ContainerStatus(ctx, ids[i])
		if serr != nil || st.State != container.ContainerRunning && st.State != container.ContainerExited {
			continue
		}
		if st.Reason == container.ReasonContainerCannotRun {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Error: %s", st.Message)
			continue
		}
		a.recorder.Eventf(pod, corev1.EventTypeNormal, "Started", "Started container %s", c.Name)
		if c.Lifecycle != nil && c.Lifecycle.PostStart != nil && st.State == container.ContainerRunning {
			wg.Go(func() {
				if msg, herr := a.runHandler(ctx, pod, c, ids[i], c.Lifecycle.PostStart, gracePeriod(pod)); herr != nil {
					a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPostStartHook", "PostStartHook failed: %s", msg)
					_ = a.stopContainer(ctx, pod, c, ids[i], gracePeriod(pod))
				}
			})
		}
	}
	wg.Wait()
	if err != nil && container.IsTemporary(err) {
		return requeue, err
	}
	return requeue, nil
}

func (a *Agent) findContainer(ctx context.Context, sandboxID, name string, attempt int) (string, error) {
	list, err := a.rt.ListContainers(ctx, container.ContainerFilter{SandboxID: sandboxID, Name: name})
	if err != nil {
		return "", err
	}
	for _, c := range list {
		if c.Attempt == attempt {
			return c.ID, nil
		}
	}
	return "", fmt.Errorf("container %s attempt %d: %w", name, attempt, container.ErrNotFound)
}

// pruneContainers removes exited containers older than the previous
// attempt of each name (the previous one stays for `kubectl logs
// --previous` and lastState).
func (a *Agent) pruneContainers(ctx context.Context, state *podState) {
	for _, cs := range state.containers {
		for i := 0; i+2 < len(cs); i++ {
			if cs[i].State != container.ContainerRunning {
				_ = a.rt.RemoveContainer(ctx, cs[i].ID)
			}
		}
	}
}

// gracePeriod is the pod's termination grace period.
func gracePeriod(pod *corev1.Pod) time.Duration {
	if pod.DeletionGracePeriodSeconds != nil {
		return time.Duration(*pod.DeletionGracePeriodSeconds) * time.Second
	}
	if pod.Spec.TerminationGracePeriodSeconds != nil {
		return time.Duration(*pod.Spec.TerminationGracePeriodSeconds) * time.Second
	}
	return 30 * time.Second
}

// stopContainer runs the container's preStop hook and stops it, all within
// grace.
func (a *Agent) stopContainer(ctx context.Context, pod *corev1.Pod, c *corev1.Container, id string, grace time.Duration) error {
	deadline := time.Now().Add(grace)
	if c != nil && c.Lifecycle != nil && c.Lifecycle.PreStop != nil {
		if msg, err := a.runHandler(ctx, pod, c, id, c.Lifecycle.PreStop, grace); err != nil {
			a.recorder.Eventf(pod, corev1.EventTypeWarning, "FailedPreStopHook", "PreStopHook failed: %s", msg)
		}
	}
	remaining := time.Until(deadline)
	if remaining < 0 {
		remaining = 0
	}
	err := a.rt.StopContainer(ctx, id, remaining)
	if errors.Is(err, container.ErrNotFound) {
		return nil
	}
	return err
}

// stopPod stops every container of the pod (preStop hooks, then SIGTERM
// and after grace SIGKILL) and its sandbox, in parallel. grace 0 uses the
// pod's.
func (a *Agent) stopPod(ctx context.Context, pod *corev1.Pod, state *podState, grace time.Duration) error {
	if grace == 0 {
		grace = gracePeriod(pod)
	}
	a.probes.stopPod(pod.UID)
	specs := map[string]*corev1.Container{}
	for i := range pod.Spec.InitContainers {
		specs[pod.Spec.InitContainers[i].Name] = &pod.Spec.InitContainers[i]
	}
	for i := range pod.Spec.Containers {
		specs[pod.Spec.Containers[i].Name] = &pod.Spec.Containers[i]
	}
	for i := range pod.Spec.EphemeralContainers {
		specs[pod.Spec.EphemeralContainers[i].Name] = (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 64)
	for name, cs := range state.containers {
		for _, c := range cs {
			if c.State != container.ContainerRunning {
				continue
			}
			if c.State == container.ContainerRunning {
				a.recorder.Eventf(pod, corev1.EventTypeNormal, "Killing", "Stopping container %s", name)
			}
			wg.Go(func() {
				if err := a.stopContainer(ctx, pod, specs[name], c.ID, grace); err != nil {
					select {
					case errs <- err:
					default:
					}
				}
			})
		}
	}
	wg.Wait()
	close(errs)
	if err := <-errs; err != nil {
		return err
	}
	for _, sb := range state.sandboxes {
		if err := a.rt.StopSandbox(ctx, sb.ID); err != nil && !errors.Is(err, container.ErrNotFound) {
			return err
		}
		a.ipam.release(sb.IP)
	}
	return nil
}

// terminatePod stops a pod being deleted, reports its final status, removes
// its containers and volumes and deletes the pod object for good.
func (a *Agent) terminatePod(ctx context.Context, pod *corev1.Pod) error {
	state, err := a.observe(ctx, pod.UID)
	if err != nil {
		return err
	}
	grace := a.drainEndpoints(ctx, pod, gracePeriod(pod))
	if err := a.stopPod(ctx, pod, state, grace); err != nil {
		return err
	}
	if state, err = a.observe(ctx, pod.UID); err != nil {
		return err
	}
	status := a.podStatus(pod, state)
	if err := a.updateStatus(ctx, pod, status); err != nil && !apierrors.IsNotFound(err) {
		return err
	}
	if err := a.removePod(ctx, pod.UID, state); err != nil {
		return err
	}
	err = a.client.CoreV1().Pods(pod.Namespace).Delete(ctx, pod.Name, metav1.DeleteOptions{
		GracePeriodSeconds: new(int64),
		Preconditions:      &metav1.Preconditions{UID: &pod.UID},
	})
	if err != nil && !apierrors.IsNotFound(err) && !apierrors.IsConflict(err) {
		return err
	}
	return nil
}

// drainEndpoints waits, at most half of grace, until the pod's IPs no
// longer receive new connections through services, so that no request is
// sent to a container after its SIGTERM. It returns the grace that is
// left for stopping the containers.
func (a *Agent) drainEndpoints(ctx context.Context, pod *corev1.Pod, grace time.Duration) time.Duration {
	if a.cfg.DrainEndpoints == nil || pod.Spec.HostNetwork || pod.Status.PodIP == "" || grace < 2*time.Millisecond {
		return grace
	}
	start := time.Now()
	wctx, cancel := context.WithTimeout(ctx, grace/2)
	defer cancel()
	if err := a.cfg.DrainEndpoints(wctx, pod); err != nil {
		a.log.Debug("endpoints not drained before stopping the pod", "pod", pod.Namespace+"/"+pod.Name, "err", err)
	}
	return max(grace-time.Since(start), time.Millisecond)
}

// removePod removes the pod's sandboxes, containers, volumes and
// bookkeeping.
func (a *Agent) removePod(ctx context.Context, uid types.UID, state *podState) error {
	for _, cs := range state.containers {
		for _, c := range cs {
			if err := a.rt.RemoveContainer(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	for _, sb := range state.sandboxes {
		if err := a.rt.RemoveSandbox(ctx, sb.ID); err != nil {
			return err
		}
		a.ipam.release(sb.IP)
	}
	if err := UnmountUnder(a.podDir(uid)); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	if err := os.RemoveAll(a.podDir(uid)); err != nil {
		return fmt.Errorf("remove pod directory: %w", err)
	}
	a.probes.stopPod(uid)
	a.backoff.forgetPrefix(string(uid) + "/")
	a.tokens.forgetPod(uid)
	a.mu.Lock()
	for k := range a.waiting {
		if k.uid == uid {
			delete(a.waiting, k)
		}
	}
	a.mu.Unlock()
	return nil
}

// housekeep stops and removes the runtime objects of pods no longer bound
// to the node (deleted at once, with grace period 0).
func (a *Agent) housekeep(ctx context.Context) error {
	sbs, err := a.rt.ListSandboxes(ctx, container.SandboxFilter{})
	if err != nil {
		return err
	}
	ctrs, err := a.rt.ListContainers(ctx, container.ContainerFilter{})
	if err != nil {
		return err
	}
	pods, err := a.pods.List(everything)
	if err != nil {
		return err
	}
	want := map[types.UID]bool{}
	for _, p := range pods {
		want[p.UID] = true
	}
	orphans := map[types.UID]bool{}
	for _, sb := range sbs {
		if !want[types.UID(sb.Pod.UID)] {
			orphans[types.UID(sb.Pod.UID)] = true
		}
	}
	for _, c := range ctrs {
		if !want[types.UID(c.Pod.UID)] {
			orphans[types.UID(c.Pod.UID)] = true
		}
	}
	for uid := range orphans {
		state, err := a.observe(ctx, uid)
		if err != nil {
			return err
		}
		a.mu.Lock()
		pod := a.known[uid]
		delete(a.known, uid)
		a.mu.Unlock()
		if pod == nil {
			pod = &corev1.Pod{}
			pod.UID = uid
		}
		// The pod object is gone: there is nobody to wait for. Give the
		// processes a short grace, as the kubelet does for force deletions.
		if err := a.stopPod(ctx, pod, state, orphanGrace); err != nil {
			return err
		}
		if err := a.removePod(ctx, uid, state); err != nil {
			return err
		}
		a.log.Debug("removed containers of a pod no longer bound here", "podUID", uid)
	}
	// Forget specs of pods that are gone and left nothing behind.
	a.mu.Lock()
	for uid := range a.known {
		if !want[uid] {
			delete(a.known, uid)
		}
	}
	a.mu.Unlock()
	// And their tokens. The pod cache is read again: a pod added since the
	// list above may have a token already.
	a.tokens.prune(func(ns, name string, uid types.UID) bool {
		p, err := a.pods.Pods(ns).Get(name)
		return err == nil && p.UID == uid
	})
	return nil
}

// orphanGrace is the grace period of containers whose pod object is gone.
const orphanGrace = 2 * time.Second

// enqueueUID wakes the pod with uid, if it is bound here.
func (a *Agent) enqueueUID(uid types.UID) {
	a.mu.Lock()
	pod := a.known[uid]
	a.mu.Unlock()
	if pod != nil {
		a.queue.Add(pod.Namespace + "/" + pod.Name)
	}
}

// enqueueReferencing wakes the pods that use a ConfigMap or Secret that
// changed (volumes and environment).
func (a *Agent) enqueueReferencing(obj any) {
	var ns, name string
	var isSecret bool
	switch o := obj.(type) {
	case *corev1.ConfigMap:
		ns, name = o.Namespace, o.Name
	case *corev1.Secret:
		ns, name, isSecret = o.Namespace, o.Name, true
	default:
		return
	}
	pods, err := a.pods.Pods(ns).List(everything)
	if err != nil {
		return
	}
	for _, p := range pods {
		if referencesObject(p, name, isSecret) {
			a.queue.Add(p.Namespace + "/" + p.Name)
		}
	}
}

func referencesObject(p *corev1.Pod, name string, secret bool) bool {
	for _, v := range p.Spec.Volumes {
		switch {
		case !secret && v.ConfigMap != nil && v.ConfigMap.Name == name,
			secret && v.Secret != nil && v.Secret.SecretName == name:
			return true
		case v.Projected != nil:
			for _, s := range v.Projected.Sources {
				if !secret && s.ConfigMap != nil && s.ConfigMap.Name == name || secret && s.Secret != nil && s.Secret.Name == name {
					return true
				}
			}
		}
	}
	// Environment is read only when a container starts; nothing to do for
	// running containers, but a container waiting for a missing object
	// must be woken.
	a := func(cs []corev1.Container) bool {
		for _, c := range cs {
			for _, e := range c.EnvFrom {
				if !secret && e.ConfigMapRef != nil && e.ConfigMapRef.Name == name || secret && e.SecretRef != nil && e.SecretRef.Name == name {
					return true
				}
			}
			for _, e := range c.Env {
				if e.ValueFrom == nil {
					continue
				}
				if !secret && e.ValueFrom.ConfigMapKeyRef != nil && e.ValueFrom.ConfigMapKeyRef.Name == name || secret && e.ValueFrom.SecretKeyRef != nil && e.ValueFrom.SecretKeyRef.Name == name {
					return true
				}
			}
		}
		return false
	}
	return a(p.Spec.InitContainers) || a(p.Spec.Containers)
}

// setWaiting records why a container cannot start, for its status.
func (a *Agent) setWaiting(uid types.UID, name, reason, message string) {
	a.mu.Lock()
	a.waiting[containerKey{uid, name}] = waitingReason{reason, message}
	a.mu.Unlock()
}

func (a *Agent) setWaitingAll(pod *corev1.Pod, reason, message string) {
	for _, c := range append(append([]corev1.Container{}, pod.Spec.InitContainers...), pod.Spec.Containers...) {
		a.setWaiting(pod.UID, c.Name, reason, message)
	}
}

func (a *Agent) clearWaiting(uid types.UID, name string) {
	a.mu.Lock()
	delete(a.waiting, containerKey{uid, name})
	a.mu.Unlock()
}

func (a *Agent) waitingFor(uid types.UID, name string) (waitingReason, bool) {
	a.mu.Lock()
	defer a.mu.Unlock()
	w, ok := a.waiting[containerKey{uid, name}]
	return w, ok
}

// waitingChanged reports whether the pod's reported status does not yet
// show reason for the container (to send an event once per change).
func (a *Agent) waitingChanged(pod *corev1.Pod, name, reason string) bool {
	for _, cs := range append(append([]corev1.ContainerStatus{}, pod.Status.InitContainerStatuses...), pod.Status.ContainerStatuses...) {
		if cs.Name == name {
			return cs.State.Waiting == nil || cs.State.Waiting.Reason != reason
		}
	}
	return true
}

// podDir is where the pod's volumes and files live on the node.
func (a *Agent) podDir(uid types.UID) string {
	return filepath.Join(a.cfg.StateDir, "pods", string(uid))
}

func itoa(i int) string { return strconv.Itoa(i) }

var _ = strings.TrimSpace
