package framework

import (
	"fmt"
	"sync"
	"testing"
)

func TestCycleState(t *testing.T) {
	s := NewCycleState()
	if got := s.Read("missing"); got != nil {
		t.Fatalf("Read of an empty state = %v, want nil", got)
	}
	s.Write("a", 1)
	s.Write("b", "two")
	s.Write("a", 3) // overwrite
	tests := []struct {
		key  string
		want any
	}{
		{"a", 3},
		{"b", "two"},
		{"c", nil},
	}
	for _, tt := range tests {
		t.Run(tt.key, func(t *testing.T) {
			if got := s.Read(tt.key); got != tt.want {
				t.Errorf("Read(%q) = %v, want %v", tt.key, got, tt.want)
			}
		})
	}
}

// TestCycleStateConcurrent reads while another goroutine writes (run with
// -race): every read sees either nothing or a complete value, and earlier
// keys are never lost by a later write.
func TestCycleStateConcurrent(t *testing.T) {
	s := NewCycleState()
	s.Write("fixed", 42)
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			for range 1000 {
				if got := s.Read("fixed"); got != 42 {
					t.Errorf("Read(fixed) = %v, want 42", got)
					return
				}
				if v := s.Read("k5"); v != nil && v != "v5" {
					t.Errorf("Read(k5) = %v", v)
					return
				}
			}
		})
	}
	for i := range 10 {
		s.Write(fmt.Sprintf("k%d", i), fmt.Sprintf("v%d", i))
	}
	wg.Wait()
	for i := range 10 {
		if got, want := s.Read(fmt.Sprintf("k%d", i)), fmt.Sprintf("v%d", i); got != want {
			t.Errorf("Read(k%d) = %v, want %v", i, got, want)
		}
	}
}
