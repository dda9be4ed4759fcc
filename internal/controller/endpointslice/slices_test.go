package endpointslice

import (
	"fmt"
	"testing"

	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"
	"k8s.io/apimachinery/pkg/types"
)

func manyPods(n int) []*corev1.Pod {
	out := make([]*corev1.Pod, 0, n)
	for i := range n {
		out = append(out, pod(fmt.Sprintf("p%03d", i), fmt.Sprintf("10.42.%d.%d", i/250, i%250+1), ready))
	}
	return out
}

// applyPlan plays the API: it returns the slices that exist after p.
func applyPlan(t *testing.T, existing []*discoveryv1.EndpointSlice, p plan, next *int) []*discoveryv1.EndpointSlice {
	t.Helper()
	byName := map[string]*discoveryv1.EndpointSlice{}
	for _, s := range existing {
		byName[s.Name] = s
	}
	for _, s := range p.update {
		if byName[s.Name] == nil {
			t.Fatalf("update of unknown slice %s", s.Name)
		}
		byName[s.Name] = s
	}
	for _, s := range p.delete {
		delete(byName, s.Name)
	}
	for _, s := range p.create {
		s = s.DeepCopy()
		*next++
		s.Name = fmt.Sprintf("%s%03d", s.GenerateName, *next)
		s.UID = types.UID(s.Name)
		byName[s.Name] = s
	}
	out := make([]*discoveryv1.EndpointSlice, 0, len(byName))
	for _, s := range byName {
		out = append(out, s)
	}
	return out
}

func sizes(slices []*discoveryv1.EndpointSlice) (total int, perSlice map[string]int) {
	perSlice = map[string]int{}
	for _, s := range slices {
		perSlice[s.Name] = len(s.Endpoints)
		total += len(s.Endpoints)
	}
	return total, perSlice
}

func TestPlanSlices(t *testing.T) {
	svc := service()
	n := 0
	pods := manyPods(250)
	p := planSlices(svc, desiredGroups(svc, pods, noZone), nil, 100)
	if len(p.create) != 3 || len(p.update)+len(p.delete) != 0 {
		t.Fatalf("first plan: %d creates, %d updates, %d deletes; want 3 creates", len(p.create), len(p.update), len(p.delete))
	}
	for _, s := range p.create {
		if s.Labels[discoveryv1.LabelServiceName] != "web" || s.Labels[discoveryv1.LabelManagedBy] != ManagedBy || s.Labels["team"] != "a" {
			t.Fatalf("labels %v", s.Labels)
		}
		if len(s.OwnerReferences) != 1 || s.OwnerReferences[0].UID != "svc-uid" || !*s.OwnerReferences[0].Controller {
			t.Fatalf("owner references %+v", s.OwnerReferences)
		}
		if s.AddressType != discoveryv1.AddressTypeIPv4 || len(s.Endpoints) > 100 {
			t.Fatalf("slice with %s and %d endpoints", s.AddressType, len(s.Endpoints))
		}
	}
	slices := applyPlan(t, nil, p, &n)
	if total, _ := sizes(slices); total != 250 {
		t.Fatalf("%d endpoints in slices, want 250", total)
	}

	// Converged: nothing to do.
	if p := planSlices(svc, desiredGroups(svc, pods, noZone), slices, 100); len(p.create)+len(p.update)+len(p.delete) != 0 {
		t.Fatalf("converged state planned %d creates, %d updates, %d deletes", len(p.create), len(p.update), len(p.delete))
	}

	// One pod becomes not ready: exactly one slice is rewritten.
	pods[7].Status.Conditions = nil
	p = planSlices(svc, desiredGroups(svc, pods, noZone), slices, 100)
	if len(p.update) != 1 || len(p.create)+len(p.delete) != 0 {
		t.Fatalf("one pod changed: %d creates, %d updates, %d deletes; want one update", len(p.create), len(p.update), len(p.delete))
	}
	slices = applyPlan(t, slices, p, &n)

	// A new pod fills the slice with room instead of a new slice.
	pods = append(pods, pod("q000", "10.42.9.9", ready))
	p = planSlices(svc, desiredGroups(svc, pods, noZone), slices, 100)
	if len(p.update) != 1 || len(p.create) != 0 {
		t.Fatalf("one pod added: %d creates, %d updates; want one update", len(p.create), len(p.update))
	}
	slices = applyPlan(t, slices, p, &n)

	// Down to 30 pods: one slice is enough? Endpoints stay where they are,
	// and emptied slices go.
	p = planSlices(svc, desiredGroups(svc, pods[:30], noZone), slices, 100)
	slices = applyPlan(t, slices, p, &n)
	if total, per := sizes(slices); total != 30 || len(per) != 1 {
		t.Fatalf("30 pods: %v", per)
	}

	// No pods: one empty placeholder slice, without ports.
	p = planSlices(svc, desiredGroups(svc, nil, noZone), slices, 100)
	slices = applyPlan(t, slices, p, &n)
	if len(slices) != 1 || len(slices[0].Endpoints) != 0 || len(slices[0].Ports) != 0 {
		t.Fatalf("no pods: %d slices, want one empty placeholder", len(slices))
	}
	// …which a first pod then reuses.
	p = planSlices(svc, desiredGroups(svc, pods[:1], noZone), slices, 100)
	if len(p.update) != 1 || len(p.create)+len(p.delete) != 0 {
		t.Fatalf("first pod after none: %d creates, %d updates, %d deletes; want the placeholder updated", len(p.create), len(p.update), len(p.delete))
	}
}

func TestPlanSlicesNoneExisting(t *testing.T) {
	svc := service()
	p := planSlices(svc, nil, nil, 100)
	if len(p.create) != 1 || len(p.create[0].Endpoints) != 0 {
		t.Fatalf("service without pods: %d creates, want one placeholder", len(p.create))
	}
}
