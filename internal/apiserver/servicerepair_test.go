package apiserver_test

import (
	"errors"
	"strconv"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/gantry-dev/gantry/internal/apiserver"
	"github.com/gantry-dev/gantry/internal/storage"
)

// TestServiceRepair shows the service allocation repair: a reservation no
// service holds (left by a server that stopped between reserving and
// storing) is released on the second pass that finds it unheld, not on the
// first; a service's ClusterIP whose reservation is gone is reserved again,
// so that no other service can take it; held values stay.
func TestServiceRepair(t *testing.T) {
	e := startEnv(t)
	srv := e.handler.(*apiserver.Server)
	ctx := t.Context()
	svcs := e.client.CoreV1().Services(metav1.NamespaceDefault)
	web, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "web"},
		Spec:       corev1.ServiceSpec{Type: corev1.ServiceTypeNodePort, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if err != nil {
		t.Fatal(err)
	}
	ipKey := "ranges/serviceips/" + web.Spec.ClusterIP
	portKey := "ranges/nodeports/" + strconv.Itoa(int(web.Spec.Ports[0].NodePort))
	exists := func(key string) bool {
		t.Helper()
		_, err := e.store.Get(ctx, key)
		if err != nil && !errors.Is(err, storage.ErrNotFound) {
			t.Fatal(err)
		}
		return err == nil
	}
	create := func(key string) {
		t.Helper()
		if _, err := e.store.Create(ctx, key, []byte("default/crashed")); err != nil {
			t.Fatal(err)
		}
	}
	pass := func() {
		t.Helper()
		if err := srv.RepairServices(ctx); err != nil {
			t.Fatal(err)
		}
	}

	leakedIP, leakedPort := "ranges/serviceips/10.43.200.200", "ranges/nodeports/31999"
	create(leakedIP)
	create(leakedPort)
	if _, err := e.store.Delete(ctx, ipKey, 0); err != nil {
		t.Fatal(err)
	}

	pass()
	if !exists(leakedIP) || !exists(leakedPort) {
		t.Fatal("the first pass released reservations it saw unheld for the first time")
	}
	if !exists(ipKey) {
		t.Fatalf("web's ClusterIP %s was not reserved again", web.Spec.ClusterIP)
	}
	// Reserved after the first pass (a create in flight): not released by
	// the second.
	inFlight := "ranges/serviceips/10.43.200.201"
	create(inFlight)

	pass()
	if exists(leakedIP) || exists(leakedPort) {
		t.Fatal("reservations unheld on two passes were not released")
	}
	if !exists(ipKey) || !exists(portKey) {
		t.Fatal("web's reservations were released")
	}
	if !exists(inFlight) {
		t.Fatal("a reservation first seen unheld on this pass was released")
	}

	// web's address is taken again; the released one is free.
	_, err = svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "copy"},
		Spec:       corev1.ServiceSpec{ClusterIP: web.Spec.ClusterIP, Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{})
	if !apierrors.IsInvalid(err) || !strings.Contains(err.Error(), "already allocated") {
		t.Fatalf("a service asking for web's ClusterIP: %v, want already allocated", err)
	}
	if _, err := svcs.Create(ctx, &corev1.Service{
		ObjectMeta: metav1.ObjectMeta{Name: "freed"},
		Spec:       corev1.ServiceSpec{ClusterIP: "10.43.200.200", Ports: []corev1.ServicePort{{Port: 80}}},
	}, metav1.CreateOptions{}); err != nil {
		t.Fatalf("a service asking for the released ClusterIP: %v", err)
	}
}
