package agent

import (
	"context"
	"errors"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/gantry-dev/gantry/internal/container"
)

// ensureImage makes c's image present as its imagePullPolicy says. When it
// cannot, the container's waiting state says why (ErrImageNeverPull,
// ErrImagePull, then ImagePullBackOff) and wait is when to try again.
func (a *Agent) ensureImage(ctx context.Context, pod *corev1.Pod, c *corev1.Container) (wait time.Duration, ok bool) {
	policy := c.ImagePullPolicy
	if policy != corev1.PullAlways {
		if _, err := a.rt.ImageStatus(ctx, c.Image); err == nil {
			a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Container image %q already present on machine", c.Image)
			return 0, true
		} else if !errors.Is(err, container.ErrImageNotFound) {
			a.setWaiting(pod.UID, c.Name, "ErrImageInspect", err.Error())
			return 2 * time.Second, false
		}
		if policy == corev1.PullNever {
			msg := fmt.Sprintf("Container image %q is not present with pull policy of Never", c.Image)
			if a.waitingChanged(pod, c.Name, "ErrImageNeverPull") {
				a.recorder.Eventf(pod, corev1.EventTypeWarning, "ErrImageNeverPull", "%s", msg)
			}
			a.setWaiting(pod.UID, c.Name, "ErrImageNeverPull", msg)
			return 10 * time.Second, false
		}
	}
	key := backoffKey(pod, "pull/"+c.Name)
	if w, ok := a.waitingFor(pod.UID, c.Name); ok && (w.reason == "ErrImagePull" || w.reason == "ImagePullBackOff") {
		if remaining, _ := a.backoff.wait(key, a.pullFailedAt(pod, c.Name)); remaining > 0 {
			if w.reason != "ImagePullBackOff" {
				a.recorder.Eventf(pod, corev1.EventTypeNormal, "BackOff", "Back-off pulling image %q", c.Image)
			}
			a.setWaiting(pod.UID, c.Name, "ImagePullBackOff", fmt.Sprintf("Back-off pulling image %q", c.Image))
			return remaining, false
		}
	}
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulling", "Pulling image %q", c.Image)
	start := time.Now()
	if _, err := a.rt.PullImage(ctx, c.Image); err != nil {
		now := time.Now()
		a.mu.Lock()
		a.pullFailures[containerKey{pod.UID, c.Name}] = now
		a.mu.Unlock()
		a.backoff.next(key, now)
		a.recorder.Eventf(pod, corev1.EventTypeWarning, "Failed", "Failed to pull image %q: %v", c.Image, err)
		a.setWaiting(pod.UID, c.Name, "ErrImagePull", err.Error())
		remaining, _ := a.backoff.wait(key, now)
		return remaining, false
	}
	a.backoff.forgetPrefix(key)
	a.recorder.Eventf(pod, corev1.EventTypeNormal, "Pulled", "Successfully pulled image %q in %s", c.Image, time.Since(start).Round(time.Millisecond))
	return 0, true
}

func (a *Agent) pullFailedAt(pod *corev1.Pod, name string) time.Time {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.pullFailures[containerKey{pod.UID, name}]
}
