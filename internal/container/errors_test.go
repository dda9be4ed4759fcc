package container

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"
)

func TestIsTemporary(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want bool
	}{
		{"nil", nil, false},
		{"unavailable", fmt.Errorf("dial: %w", ErrUnavailable), true},
		{"deadline", fmt.Errorf("inspect: %w", context.DeadlineExceeded), true},
		{"canceled", context.Canceled, false},
		{"marked", Temporary(errors.New("busy")), true},
		{"marked and wrapped", fmt.Errorf("x: %w", Temporary(ErrConflict)), true},
		{"image not found", fmt.Errorf("create: %w", ErrImageNotFound), false},
		{"not found", ErrNotFound, false},
		{"invalid", ErrInvalid, false},
		{"fatal outside temporary", Fatal(fmt.Errorf("x: %w", ErrUnavailable)), false},
		{"temporary outside fatal", Temporary(Fatal(ErrInvalid)), true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := IsTemporary(tt.err); got != tt.want {
				t.Errorf("IsTemporary(%v) = %v, want %v", tt.err, got, tt.want)
			}
		})
	}
	if Temporary(nil) != nil {
		t.Error("Temporary(nil) != nil")
	}
	if !errors.Is(Temporary(ErrConflict), ErrConflict) {
		t.Error("Temporary hides the wrapped class")
	}
}

// starter starts containers, failing those named in fail, and records the
// highest number of starts in flight.
type starter struct {
	ContainerManager
	fail             map[string]error
	inFlight, maxFly atomic.Int32
}

func (s *starter) StartContainer(ctx context.Context, id string) error {
	n := s.inFlight.Add(1)
	defer s.inFlight.Add(-1)
	for {
		m := s.maxFly.Load()
		if n <= m || s.maxFly.CompareAndSwap(m, n) {
			break
		}
	}
	time.Sleep(20 * time.Millisecond)
	return s.fail[id]
}

func TestStartAll(t *testing.T) {
	s := &starter{}
	if err := StartAll(t.Context(), s, "a", "b", "c"); err != nil {
		t.Fatal(err)
	}
	if s.maxFly.Load() < 2 {
		t.Errorf("containers were started one after the other (max in flight %d)", s.maxFly.Load())
	}

	s = &starter{fail: map[string]error{"b": fmt.Errorf("x: %w", ErrImageNotFound), "c": ErrUnavailable}}
	err := StartAll(t.Context(), s, "a", "b", "c")
	if !errors.Is(err, ErrImageNotFound) || !errors.Is(err, ErrUnavailable) {
		t.Errorf("err = %v, want both failures", err)
	}
	if IsTemporary(err) {
		t.Error("a fatal failure among temporary ones must make the whole fatal")
	}

	s = &starter{fail: map[string]error{"a": ErrUnavailable, "c": ErrUnavailable}}
	if err := StartAll(t.Context(), s, "a", "b", "c"); !IsTemporary(err) {
		t.Errorf("only temporary failures: IsTemporary(%v) = false", err)
	}
}
