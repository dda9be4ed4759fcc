package agent

import (
	"context"
	"os"
	"path/filepath"
	"strconv"
	"time"

	corev1 "k8s.io/api/core/v1"
	apiequality "k8s.io/apimachinery/pkg/api/equality"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/container"
)

// podStatus computes the pod's status from the runtime's state, keeping
// what the pod already reports where nothing changed (transition times).
func (a *Agent) podStatus(pod *corev1.Pod, state *podState) corev1.PodStatus {
	old := pod.Status
	st := corev1.PodStatus{
		StartTime:         old.StartTime,
		NominatedNodeName: old.NominatedNodeName,
		QOSClass:          qosClass(pod),
		Reason:            old.Reason,
		Message:           old.Message,
	}
	if st.StartTime == nil {
		st.StartTime = ptrTime(time.Now())
	}
	a.mu.Lock()
	for _, ip := range a.hostIPs {
		st.HostIPs = append(st.HostIPs, corev1.HostIP{IP: ip})
	}
	a.mu.Unlock()
	if len(st.HostIPs) > 0 {
		st.HostIP = st.HostIPs[0].IP
	}
	sb := state.sandbox()
	sandboxReady := sb != nil && sb.State == container.SandboxReady
	switch {
	case sb != nil && sb.HostNetwork:
		st.PodIP = st.HostIP
		for _, h := range st.HostIPs {
			st.PodIPs = append(st.PodIPs, corev1.PodIP{IP: h.IP})
		}
	case sb != nil && sb.IP != "":
		st.PodIP, st.PodIPs = sb.IP, []corev1.PodIP{{IP: sb.IP}}
	case isTerminal(old.Phase) || sb != nil:
		// A stopped sandbox keeps reporting the IP it had.
		st.PodIP, st.PodIPs = old.PodIP, old.PodIPs
	}

	initDone := true
	for _, c := range pod.Spec.InitContainers {
		cs := a.containerStatus(pod, &c, state, old.InitContainerStatuses, true)
		st.InitContainerStatuses = append(st.InitContainerStatuses, cs)
		sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		switch {
		case sidecar:
			if cs.Started == nil || !*cs.Started {
				initDone = false
			}
		case cs.State.Terminated == nil || cs.State.Terminated.ExitCode != 0:
			initDone = false
		}
	}
	allReady := true
	for _, c := range pod.Spec.Containers {
		cs := a.containerStatus(pod, &c, state, old.ContainerStatuses, false)
		st.ContainerStatuses = append(st.ContainerStatuses, cs)
		allReady = allReady && cs.Ready
	}
	for i := range pod.Spec.EphemeralContainers {
		// Run once, never restarted, never ready (as the kubelet reports them).
		c := (*corev1.Container)(&pod.Spec.EphemeralContainers[i].EphemeralContainerCommon)
		cs := a.containerStatus(pod, c, state, old.EphemeralContainerStatuses, true)
		cs.Ready = false
		st.EphemeralContainerStatuses = append(st.EphemeralContainerStatuses, cs)
	}
	st.Phase = a.phase(pod, st, initDone)
	if isTerminal(old.Phase) {
		st.Phase = old.Phase // terminal phases never change
	}
	running := st.Phase == corev1.PodRunning
	conds := []corev1.PodCondition{
		cond(corev1.PodReadyToStartContainers, sandboxReady, "", ""),
		cond(corev1.PodInitialized, initDone, "ContainersNotInitialized", "containers with incomplete status: "+incomplete(pod.Spec.InitContainers, st.InitContainerStatuses, true)),
		cond(corev1.ContainersReady, allReady && running, "ContainersNotReady", "containers with unready status: "+incomplete(pod.Spec.Containers, st.ContainerStatuses, false)),
		cond(corev1.PodReady, allReady && running && readinessGatesPass(pod), "ContainersNotReady", "containers with unready status: "+incomplete(pod.Spec.Containers, st.ContainerStatuses, false)),
	}
	if isTerminal(st.Phase) {
		for i := range conds[2:] {
			c := &conds[2+i]
			c.Status, c.Reason, c.Message = corev1.ConditionFalse, "PodCompleted", ""
		}
		if st.Phase == corev1.PodSucceeded || initDone {
			conds[1].Status, conds[1].Reason, conds[1].Message = corev1.ConditionTrue, "PodCompleted", ""
		}
		conds[0].Status = corev1.ConditionFalse
	}
	// Keep conditions others own (PodScheduled, DisruptionTarget,
	// readiness gates) and transition times of unchanged ones.
	for _, oc := range old.Conditions {
		owned := false
		for i := range conds {
			if conds[i].Type == oc.Type {
				owned = true
				if conds[i].Status == oc.Status {
					conds[i].LastTransitionTime = oc.LastTransitionTime
				}
			}
		}
		if !owned {
			st.Conditions = append(st.Conditions, oc)
		}
	}
	now := metav1.NewTime(time.Now().Truncate(time.Second))
	for _, c := range conds {
		if c.LastTransitionTime.IsZero() {
			c.LastTransitionTime = now
		}
		if c.Status == corev1.ConditionTrue {
			c.Reason, c.Message = "", ""
		}
		st.Conditions = append(st.Conditions, c)
	}
	return st
}

func cond(t corev1.PodConditionType, ok bool, reason, msg string) corev1.PodCondition {
	c := corev1.PodCondition{Type: t, Status: corev1.ConditionTrue}
	if !ok {
		c.Status, c.Reason, c.Message = corev1.ConditionFalse, reason, msg
	}
	return c
}

func readinessGatesPass(pod *corev1.Pod) bool {
	for _, g := range pod.Spec.ReadinessGates {
		ok := false
		for _, c := range pod.Status.Conditions {
			if c.Type == g.ConditionType && c.Status == corev1.ConditionTrue {
				ok = true
			}
		}
		if !ok {
			return false
		}
	}
	return true
}

// incomplete lists containers that are not done (init) or not ready, as
// "[a b]".
func incomplete(specs []corev1.Container, sts []corev1.ContainerStatus, init bool) string {
	var names []string
	for i, c := range specs {
		if i >= len(sts) {
			break
		}
		s := sts[i]
		done := s.Ready
		if init && (c.RestartPolicy == nil || *c.RestartPolicy != corev1.ContainerRestartPolicyAlways) {
			done = s.State.Terminated != nil && s.State.Terminated.ExitCode == 0
		}
		if !done {
			names = append(names, c.Name)
		}
	}
	out := "["
	for i, n := range names {
		if i > 0 {
			out += " "
		}
		out += n
	}
	return out + "]"
}

// phase computes the pod phase as the kubelet's getPhase does.
func (a *Agent) phase(pod *corev1.Pod, st corev1.PodStatus, initDone bool) corev1.PodPhase {
	if !initDone {
		for i, c := range pod.Spec.InitContainers {
			if i >= len(st.InitContainerStatuses) {
				break
			}
			t := st.InitContainerStatuses[i].State.Terminated
			sidecar := c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
			if !sidecar && pod.Spec.RestartPolicy == corev1.RestartPolicyNever && t != nil && t.ExitCode != 0 {
				return corev1.PodFailed
			}
		}
		return corev1.PodPending
	}
	var running, waiting, stopped, succeeded int
	for _, cs := range st.ContainerStatuses {
		switch {
		case cs.State.Running != nil:
			running++
		case cs.State.Terminated != nil:
			stopped++
			if cs.State.Terminated.ExitCode == 0 {
				succeeded++
			}
		case cs.State.Waiting != nil:
			if cs.LastTerminationState.Terminated != nil {
				stopped++
			} else {
				waiting++
			}
		}
	}
	switch {
	case waiting > 0:
		return corev1.PodPending
	case running > 0:
		return corev1.PodRunning
	case stopped > 0:
		switch pod.Spec.RestartPolicy {
		case corev1.RestartPolicyAlways:
			return corev1.PodRunning
		case corev1.RestartPolicyOnFailure:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodRunning
		default:
			if stopped == succeeded {
				return corev1.PodSucceeded
			}
			return corev1.PodFailed
		}
	}
	return corev1.PodPending
}

// containerStatus reports one container.
func (a *Agent) containerStatus(pod *corev1.Pod, c *corev1.Container, state *podState, old []corev1.ContainerStatus, init bool) corev1.ContainerStatus {
	cs := corev1.ContainerStatus{Name: c.Name, Image: c.Image, Started: ptrBool(false)}
	cur := state.latest(c.Name)
	if cur != nil {
		cs.RestartCount = int32(cur.Attempt)
		cs.ContainerID = a.runtimeName + "://" + cur.ID
		cs.ImageID = cur.ImageID
		if cs.ImageID == "" {
			cs.ImageID = cur.Image
		}
		if prev := state.previous(c.Name); prev != nil && prev.State == container.ContainerExited {
			cs.LastTerminationState = corev1.ContainerState{Terminated: a.terminated(pod, c, prev)}
		}
	}
	for _, o := range old {
		if o.Name == c.Name && cs.LastTerminationState.Terminated == nil && cur != nil && o.LastTerminationState.Terminated != nil && cur.Attempt > 0 {
			cs.LastTerminationState = o.LastTerminationState
		}
	}
	w, hasWaiting := a.waitingFor(pod.UID, c.Name)
	switch {
	case cur != nil && cur.State == container.ContainerRunning:
		cs.State.Running = &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(cur.StartedAt.Truncate(time.Second))}
		cs.Started = ptrBool(a.probes.started(pod.UID, cur.ID, c))
		cs.Ready = *cs.Started && a.probes.ready(pod.UID, cur.ID, c)
	case hasWaiting && (cur == nil || cur.State != container.ContainerRunning):
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: w.reason, Message: w.message}
		if cur != nil && cur.State == container.ContainerExited && w.reason == "CrashLoopBackOff" {
			cs.LastTerminationState = corev1.ContainerState{Terminated: a.terminated(pod, c, cur)}
		}
	case cur != nil && cur.State == container.ContainerExited:
		t := a.terminated(pod, c, cur)
		if !init && shouldRestart(pod.Spec.RestartPolicy, cur.ExitCode) && !isTerminal(pod.Status.Phase) && pod.DeletionTimestamp == nil {
			// About to be restarted.
			cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: "ContainerCreating"}
			cs.LastTerminationState = corev1.ContainerState{Terminated: t}
		} else {
			cs.State.Terminated = t
		}
	default:
		reason := "ContainerCreating"
		if init {
			reason = "PodInitializing"
		}
		if !init && len(pod.Spec.InitContainers) > 0 && !initContainersDone(pod, state) {
			reason = "PodInitializing"
		}
		cs.State.Waiting = &corev1.ContainerStateWaiting{Reason: reason}
	}
	return cs
}

func initContainersDone(pod *corev1.Pod, state *podState) bool {
	for _, c := range pod.Spec.InitContainers {
		l := state.latest(c.Name)
		if l == nil || l.State != container.ContainerExited || l.ExitCode != 0 {
			if c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways && l != nil && l.State == container.ContainerRunning {
				continue
			}
			return false
		}
	}
	return true
}

// terminated describes an exited container, with its termination message.
func (a *Agent) terminated(pod *corev1.Pod, c *corev1.Container, s *container.ContainerStatus) *corev1.ContainerStateTerminated {
	t := &corev1.ContainerStateTerminated{
		ExitCode:    int32(s.ExitCode),
		Reason:      s.Reason,
		Message:     s.Message,
		StartedAt:   metav1.NewTime(s.StartedAt.Truncate(time.Second)),
		FinishedAt:  metav1.NewTime(s.FinishedAt.Truncate(time.Second)),
		ContainerID: a.runtimeName + "://" + s.ID,
	}
	if t.Reason == "" {
		t.Reason = container.ReasonError
		if s.ExitCode == 0 {
			t.Reason = container.ReasonCompleted
		}
	}
	if c.TerminationMessagePath != "" {
		file := filepath.Join(a.podDir(pod.UID), "containers", c.Name, strconv.Itoa(s.Attempt)+".termination-log")
		if b, err := os.ReadFile(file); err == nil && len(b) > 0 {
			if len(b) > 4096 {
				b = b[:4096]
			}
			t.Message = string(b)
		} else if c.TerminationMessagePolicy == corev1.TerminationMessageFallbackToLogsOnError && s.ExitCode != 0 {
			t.Message = a.logTail(s.ID)
		}
	}
	return t
}

// logTail returns the last 80 lines (at most 2048 bytes) of a container's
// output.
func (a *Agent) logTail(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	rc, err := a.rt.ContainerLogs(ctx, id, container.LogOptions{Tail: 80})
	if err != nil {
		return ""
	}
	defer rc.Close()
	buf := make([]byte, 64<<10)
	n, _ := readFull(rc, buf)
	b := buf[:n]
	if len(b) > 2048 {
		b = b[len(b)-2048:]
	}
	return string(b)
}

func readFull(r interface{ Read([]byte) (int, error) }, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := r.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

// updateStatus writes status if it differs from what the pod reports.
func (a *Agent) updateStatus(ctx context.Context, pod *corev1.Pod, status corev1.PodStatus) error {
	if apiequality.Semantic.DeepEqual(pod.Status, status) {
		return nil
	}
	upd := pod.DeepCopy()
	upd.Status = status
	_, err := a.client.CoreV1().Pods(pod.Namespace).UpdateStatus(ctx, upd, metav1.UpdateOptions{})
	return err
}

func ptrBool(b bool) *bool { return &b }

func ptrTime(t time.Time) *metav1.Time {
	mt := metav1.NewTime(t.Truncate(time.Second))
	return &mt
}
