package deployment

import (
	"regexp"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func template(image string) *corev1.PodTemplateSpec {
	return &corev1.PodTemplateSpec{
		ObjectMeta: metav1.ObjectMeta{Labels: map[string]string{"app": "web", "tier": "front"}},
		Spec:       corev1.PodSpec{Containers: []corev1.Container{{Name: "web", Image: image}}},
	}
}

func TestComputeHash(t *testing.T) {
	one, two := int32(1), int32(2)
	base := ComputeHash(template("nginx:1.27"), nil)
	// Pinned: the algorithm (dump.ForHash, FNV-32a, SafeEncodeString) must
	// not drift, or every existing Deployment would roll on upgrade.
	if base != golden {
		t.Errorf("hash = %q, want %q", base, golden)
	}
	if !regexp.MustCompile(`^[bcdfghjklmnpqrstvwxz2456789]{1,10}$`).MatchString(base) {
		t.Errorf("hash %q is not made of SafeEncodeString's alphabet", base)
	}
	for i := 0; i < 20; i++ { // map order must not matter
		if h := ComputeHash(template("nginx:1.27"), nil); h != base {
			t.Fatalf("hash not deterministic: %q then %q", base, h)
		}
	}
	distinct := map[string]string{"base": base}
	for name, h := range map[string]string{
		"other image":      ComputeHash(template("nginx:1.28"), nil),
		"collisionCount 1": ComputeHash(template("nginx:1.27"), &one),
		"collisionCount 2": ComputeHash(template("nginx:1.27"), &two),
	} {
		for other, oh := range distinct {
			if h == oh {
				t.Errorf("%s and %s hash alike (%s)", name, other, h)
			}
		}
		distinct[name] = h
	}
}

const golden = "756867d677"
