package scheduler

import (
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/scheduler/framework"
	st "github.com/gantry-dev/gantry/internal/scheduler/schedtest"
)

func TestCacheSnapshot(t *testing.T) {
	c := newCache()
	c.setNode(st.Node("a").Allocatable("cpu", "4").Obj())
	c.setNode(st.Node("b").Allocatable("cpu", "4").Obj())
	notReady := st.Node("sick").Obj()
	notReady.Status.Conditions[0].Status = corev1.ConditionFalse
	c.setNode(notReady)
	deleting := st.Node("leaving").Obj()
	deleting.DeletionTimestamp = &metav1.Time{}
	c.setNode(deleting)

	var s snapshotState
	c.updateSnapshot(&s)
	if n := len(s.snap.Nodes); n != 2 {
		t.Fatalf("%d candidate nodes, want 2 (not Ready and deleting excluded)", n)
	}
	before := s.snap.Get("a")

	// Assume a pod: the next snapshot sees it, the old NodeInfo does not change.
	pod := st.Pod("p").Req("cpu", "1").Obj()
	pod.Spec.NodeName = "a"
	c.assume(framework.NewPodInfo(pod))
	c.updateSnapshot(&s)
	after := s.snap.Get("a")
	if after.Requested.MilliCPU != 1000 || len(after.Pods) != 1 {
		t.Fatalf("snapshot after assume: %d mcpu, %d pods", after.Requested.MilliCPU, len(after.Pods))
	}
	if before.Requested.MilliCPU != 0 || len(before.Pods) != 0 {
		t.Fatal("an earlier snapshot's NodeInfo changed")
	}
	if s.snap.Get("b") == nil {
		t.Fatal("unchanged node lost")
	}

	// Forget (binding failed) removes it; confirming keeps it.
	c.forget(pod.UID)
	c.updateSnapshot(&s)
	if n := len(s.snap.Get("a").Pods); n != 0 {
		t.Fatalf("forgotten pod still counted (%d pods)", n)
	}
	c.assume(framework.NewPodInfo(pod))
	c.addPod(pod) // the informer confirms the binding
	c.forget(pod.UID)
	c.updateSnapshot(&s)
	if n := len(s.snap.Get("a").Pods); n != 1 {
		t.Fatalf("confirmed pod forgotten (%d pods)", n)
	}

	// A node becoming Ready joins the snapshot; pods on it are kept.
	ready := notReady.DeepCopy()
	ready.Status.Conditions[0].Status = corev1.ConditionTrue
	c.setNode(ready)
	c.updateSnapshot(&s)
	if s.snap.Get("sick") == nil || len(s.snap.Nodes) != 3 {
		t.Fatalf("node that became Ready missing: %d nodes", len(s.snap.Nodes))
	}
	c.removePod(pod.UID)
	c.removeNode("b")
	c.updateSnapshot(&s)
	if s.snap.Get("b") != nil || len(s.snap.Get("a").Pods) != 0 {
		t.Fatal("removed node or pod still in the snapshot")
	}
}

func TestCacheAffinityIndex(t *testing.T) {
	c := newCache()
	c.setNode(st.Node("a").Obj())
	c.setNode(st.Node("b").Obj())
	var s snapshotState
	c.updateSnapshot(&s)
	anti := st.Pod("anti").PodAntiAffinity(0, corev1.LabelHostname, map[string]string{"app": "x"}).Obj()
	anti.Spec.NodeName = "b"
	c.addPod(anti)
	c.updateSnapshot(&s)
	if len(s.snap.HavePodsWithRequiredAntiAffinity) != 1 || s.snap.HavePodsWithRequiredAntiAffinity[0] != s.snap.Get("b") {
		t.Fatalf("anti-affinity index %v", s.snap.HavePodsWithRequiredAntiAffinity)
	}
	plain := st.Pod("plain").Obj()
	plain.Spec.NodeName = "b"
	c.addPod(plain)
	c.updateSnapshot(&s)
	if s.snap.HavePodsWithRequiredAntiAffinity[0] != s.snap.Get("b") {
		t.Fatal("anti-affinity index points at a stale NodeInfo")
	}
}
