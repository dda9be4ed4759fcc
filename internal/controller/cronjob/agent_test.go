package cronjob_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	batchv1 "k8s.io/api/batch/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/wait"

	"github.com/gantry-dev/gantry/internal/container/fake"
	"github.com/gantry-dev/gantry/internal/testcluster"
)

// TestScenarioCronJobOnAgent runs a CronJob through the whole in-process
// cluster on the real clock: the CronJob controller as `gantry server`
// wires it creates a Job at the next minute, the Job controller runs it on
// an agent with the fake runtime, and the CronJob records the success. It
// waits for a real minute boundary (up to 60 s).
func TestScenarioCronJobOnAgent(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a cluster and waits for the next minute")
	}
	c := testcluster.Start(t)
	a := c.AddAgent(t, "node-a", nil)
	a.Runtime.AddImage("busybox:1.36", fake.Image{Program: fake.ExitAfter(50*time.Millisecond, 0)})
	cs := c.Client
	ns := "realclock"
	if _, err := cs.CoreV1().Namespaces().Create(t.Context(), &corev1.Namespace{ObjectMeta: metav1.ObjectMeta{Name: ns}}, metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	if _, err := cs.BatchV1().CronJobs(ns).Create(t.Context(), newCronJob("minutely", "* * * * *", batchv1.ForbidConcurrent), metav1.CreateOptions{}); err != nil {
		t.Fatal(err)
	}
	var last string
	err := wait.PollUntilContextTimeout(t.Context(), 200*time.Millisecond, 100*time.Second, true, func(ctx context.Context) (bool, error) {
		cj, err := cs.BatchV1().CronJobs(ns).Get(ctx, "minutely", metav1.GetOptions{})
		if err != nil {
			return false, err
		}
		s := cj.Status
		last = fmt.Sprintf("status %+v", s)
		if s.LastScheduleTime == nil || s.LastSuccessfulTime == nil {
			return false, nil
		}
		jobs, err := cs.BatchV1().Jobs(ns).List(ctx, metav1.ListOptions{})
		if err != nil {
			return false, err
		}
		want := fmt.Sprintf("minutely-%d", s.LastScheduleTime.Unix()/60)
		for _, j := range jobs.Items {
			if j.Name == want && strings.HasPrefix(j.Annotations[batchv1.CronJobScheduledTimestampAnnotation], s.LastScheduleTime.UTC().Format("2006-01-02T15:04")) {
				return true, nil
			}
		}
		last = fmt.Sprintf("no job %s among %d", want, len(jobs.Items))
		return false, nil
	})
	if err != nil {
		t.Fatalf("cron job did not run: %s: %v", last, err)
	}
}
