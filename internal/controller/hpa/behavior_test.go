package hpa

import (
	"testing"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

func TestNormalizeWithoutBehavior(t *testing.T) {
	type step struct {
		after                 time.Duration // since t0
		current, desired      int32
		want                  int32
		wantAble, wantLimited string
		wantLimitedActive     bool
	}
	tests := []struct {
		name     string
		min, max int32
		steps    []step
	}{
		{"scale-down waits for the 5-minute window", 1, 10, []step{
			{0, 5, 5, 5, "ReadyForNewScale", "DesiredWithinRange", false},
			{time.Minute, 5, 2, 5, "ScaleDownStabilized", "DesiredWithinRange", false},
			{4 * time.Minute, 5, 3, 5, "ScaleDownStabilized", "DesiredWithinRange", false},
			// The 5 of t0 has left the window; 3 (at 4 min) is the highest.
			{5*time.Minute + time.Second, 5, 2, 3, "ScaleDownStabilized", "DesiredWithinRange", false},
			{9*time.Minute + 2*time.Second, 3, 2, 2, "ReadyForNewScale", "DesiredWithinRange", false},
		}},
		{"scale-up is immediate but limited to max(2×current, 4)", 1, 100, []step{
			{0, 1, 10, 4, "ReadyForNewScale", "ScaleUpLimit", true},
			{time.Second, 4, 10, 8, "ReadyForNewScale", "ScaleUpLimit", true},
			{2 * time.Second, 8, 10, 10, "ReadyForNewScale", "DesiredWithinRange", false},
		}},
		{"min and max bound the count", 2, 6, []step{
			{0, 4, 9, 6, "ReadyForNewScale", "TooManyReplicas", true},
			{10 * time.Minute, 6, 1, 2, "ReadyForNewScale", "TooFewReplicas", true},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(5 * time.Minute)
			l.recordInitial("k", tt.steps[0].current, t0)
			for i, s := range tt.steps {
				got := l.normalize("k", s.current, s.desired, tt.min, tt.max, t0.Add(s.after))
				if got.replicas != s.want || got.ableReason != s.wantAble || got.limitedReason != s.wantLimited || got.limitedActive != s.wantLimitedActive {
					t.Fatalf("step %d: %+v, want %d %s %s %v", i, got, s.want, s.wantAble, s.wantLimited, s.wantLimitedActive)
				}
			}
		})
	}
}

func rules(window int32, sel autoscalingv2.ScalingPolicySelect, policies ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
	return &autoscalingv2.HPAScalingRules{StabilizationWindowSeconds: &window, SelectPolicy: &sel, Policies: policies}
}

func pods(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PodsScalingPolicy, Value: n, PeriodSeconds: period}
}

func percent(n, period int32) autoscalingv2.HPAScalingPolicy {
	return autoscalingv2.HPAScalingPolicy{Type: autoscalingv2.PercentScalingPolicy, Value: n, PeriodSeconds: period}
}

// Examples of the HPA walkthrough's "Configurable scaling behavior".
func TestNormalizeWithBehavior(t *testing.T) {
	type step struct {
		after            time.Duration
		current, desired int32
		want             int32
		wantAble         string
		wantLimited      string
	}
	defaultUp := rules(0, autoscalingv2.MaxChangePolicySelect, pods(4, 15), percent(100, 15))
	noDownWindow := func(sel autoscalingv2.ScalingPolicySelect, p ...autoscalingv2.HPAScalingPolicy) *autoscalingv2.HPAScalingRules {
		return rules(0, sel, p...)
	}
	tests := []struct {
		name     string
		behavior autoscalingv2.HorizontalPodAutoscalerBehavior
		max      int32
		steps    []step
	}{
		{"default scale-up: the larger of 4 pods and 100% per 15 s", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: defaultUp, ScaleDown: noDownWindow(autoscalingv2.MaxChangePolicySelect, percent(100, 15)),
		}, 100, []step{
			{0, 3, 20, 7, "ReadyForNewScale", "ScaleUpLimit"},
			// 4 added 5 s ago: the period started at 3, so 7 is the limit.
			{5 * time.Second, 7, 20, 7, "ReadyForNewScale", "ScaleUpLimit"},
			{16 * time.Second, 7, 20, 14, "ReadyForNewScale", "ScaleUpLimit"},
			{32 * time.Second, 14, 20, 20, "ReadyForNewScale", "DesiredWithinRange"},
		}},
		{"scale-down Max: 10% or 4 pods per minute, the larger change", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: defaultUp, ScaleDown: noDownWindow(autoscalingv2.MaxChangePolicySelect, pods(4, 60), percent(10, 60)),
		}, 100, []step{
			{0, 80, 10, 72, "ReadyForNewScale", "ScaleDownLimit"},
			{30 * time.Second, 72, 10, 72, "ReadyForNewScale", "ScaleDownLimit"},
			{61 * time.Second, 72, 10, 64, "ReadyForNewScale", "ScaleDownLimit"},
		}},
		{"scale-down Min: the smaller change", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: defaultUp, ScaleDown: noDownWindow(autoscalingv2.MinChangePolicySelect, pods(4, 60), percent(10, 60)),
		}, 100, []step{
			{0, 80, 10, 76, "ReadyForNewScale", "ScaleDownLimit"},
		}},
		{"scale-down Disabled", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: defaultUp, ScaleDown: noDownWindow(autoscalingv2.DisabledPolicySelect, percent(100, 15)),
		}, 100, []step{
			{0, 8, 2, 8, "ReadyForNewScale", "ScaleDownLimit"},
		}},
		{"scale-up Disabled", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: rules(0, autoscalingv2.DisabledPolicySelect, pods(4, 15)), ScaleDown: noDownWindow(autoscalingv2.MaxChangePolicySelect, percent(100, 15)),
		}, 100, []step{
			{0, 2, 8, 2, "ReadyForNewScale", "ScaleUpLimit"},
		}},
		{"scale-up stabilization window applies the lowest recent recommendation", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: rules(60, autoscalingv2.MaxChangePolicySelect, percent(900, 15)), ScaleDown: noDownWindow(autoscalingv2.MaxChangePolicySelect, percent(100, 15)),
		}, 100, []step{
			{0, 3, 3, 3, "ReadyForNewScale", "DesiredWithinRange"},
			{10 * time.Second, 3, 6, 3, "ScaleUpStabilized", "DesiredWithinRange"},
			{30 * time.Second, 3, 8, 3, "ScaleUpStabilized", "DesiredWithinRange"},
			// The 3 of t0 has left the window: the lowest is now 6.
			{61 * time.Second, 3, 9, 6, "ScaleUpStabilized", "DesiredWithinRange"},
		}},
		{"default scale-down window is 300 s", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: defaultUp, ScaleDown: &autoscalingv2.HPAScalingRules{},
		}, 100, []step{
			{0, 5, 5, 5, "ReadyForNewScale", "DesiredWithinRange"},
			{299 * time.Second, 5, 1, 5, "ScaleDownStabilized", "DesiredWithinRange"},
			{301 * time.Second, 5, 1, 1, "ReadyForNewScale", "DesiredWithinRange"},
		}},
		{"max replicas bounds a rate-allowed scale-up", autoscalingv2.HorizontalPodAutoscalerBehavior{
			ScaleUp: defaultUp, ScaleDown: noDownWindow(autoscalingv2.MaxChangePolicySelect, percent(100, 15)),
		}, 5, []step{
			{0, 3, 20, 5, "ReadyForNewScale", "TooManyReplicas"},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			l := newLimiter(5 * time.Minute)
			b := withDefaults(&tt.behavior, 5*time.Minute)
			l.recordInitial("k", tt.steps[0].current, t0)
			for i, s := range tt.steps {
				now := t0.Add(s.after)
				got := l.normalizeWithBehavior("k", b, s.current, s.desired, 1, tt.max, now)
				if got.replicas != s.want || got.ableReason != s.wantAble || got.limitedReason != s.wantLimited {
					t.Fatalf("step %d: %+v, want %d %s %s", i, got, s.want, s.wantAble, s.wantLimited)
				}
				l.recordScale("k", b, s.current, got.replicas, now)
			}
		})
	}
}

func TestWithDefaults(t *testing.T) {
	b := withDefaults(&autoscalingv2.HorizontalPodAutoscalerBehavior{}, 5*time.Minute)
	if *b.ScaleDown.StabilizationWindowSeconds != 300 || *b.ScaleUp.StabilizationWindowSeconds != 0 ||
		len(b.ScaleUp.Policies) != 2 || len(b.ScaleDown.Policies) != 1 || *b.ScaleUp.SelectPolicy != autoscalingv2.MaxChangePolicySelect {
		t.Errorf("defaults %+v %+v", b.ScaleUp, b.ScaleDown)
	}
}
