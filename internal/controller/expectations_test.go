package controller_test

import (
	"testing"
	"time"

	"github.com/gantry-dev/gantry/internal/controller"
)

func TestExpectations(t *testing.T) {
	now := time.Unix(1000, 0)
	e := controller.NewExpectations(time.Minute, func() time.Time { return now })
	if !e.Satisfied("ns/a") {
		t.Fatal("a key never expected is not satisfied")
	}
	e.Expect("ns/a", 2, []string{"ns/p1"})
	e.CreationObserved("ns/a")
	e.DeletionObserved("ns/a", "ns/p1")
	if e.Satisfied("ns/a") {
		t.Fatal("satisfied with one creation outstanding")
	}
	e.CreationObserved("ns/a")
	if !e.Satisfied("ns/a") {
		t.Fatal("not satisfied after every creation and deletion was observed")
	}
	e.Expect("ns/b", 0, []string{"ns/p2", "ns/p3"})
	e.DeletionObserved("ns/b", "ns/other")
	e.DeletionObserved("ns/b", "ns/p2")
	e.DeletionObserved("ns/b", "ns/p2") // an update with deletionTimestamp, then the delete
	if e.Satisfied("ns/b") {
		t.Fatal("satisfied with p3's deletion outstanding (another pod's, or one pod's twice, counted)")
	}
	now = now.Add(2 * time.Minute)
	if !e.Satisfied("ns/b") {
		t.Fatal("an expectation older than the ttl still blocks")
	}
	e.Expect("ns/c", 1, nil)
	e.Forget("ns/c")
	if !e.Satisfied("ns/c") {
		t.Fatal("a forgotten key is not satisfied")
	}
}
