package hpa

import (
	"math"
	"sync"
	"time"

	autoscalingv2 "k8s.io/api/autoscaling/v2"
)

// Stabilization and rate limits, as Kubernetes' horizontal.go: the
// controller remembers, per autoscaler, its recent unstabilized
// recommendations and (with behavior) the scale changes it made.

type recommendation struct {
	replicas int32
	at       time.Time
}

type scaleEvent struct {
	change   int32
	at       time.Time
	outdated bool
}

// limiter holds the per-autoscaler history. Safe for concurrent use.
type limiter struct {
	// downscaleWindow is used without behavior, and for a behavior whose
	// scaleDown has no stabilizationWindowSeconds.
	downscaleWindow time.Duration

	mu              sync.Mutex
	recommendations map[string][]recommendation
	scaleUps        map[string][]scaleEvent
	scaleDowns      map[string][]scaleEvent
}

func newLimiter(downscaleWindow time.Duration) *limiter {
	return &limiter{
		downscaleWindow: downscaleWindow,
		recommendations: map[string][]recommendation{},
		scaleUps:        map[string][]scaleEvent{},
		scaleDowns:      map[string][]scaleEvent{},
	}
}

// forget drops an autoscaler's history (it was deleted).
func (l *limiter) forget(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	delete(l.recommendations, key)
	delete(l.scaleUps, key)
	delete(l.scaleDowns, key)
}

// recordInitial records the current replica count as the first
// recommendation, so that a restarted controller does not scale down
// before a window of its own observations.
func (l *limiter) recordInitial(key string, current int32, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.recommendations[key] == nil {
		l.recommendations[key] = []recommendation{{current, now}}
	}
}

// limited is the outcome of normalization: the replica count and the
// AbleToScale and ScalingLimited reasons and messages.
type limited struct {
	replicas                      int32
	ableReason, ableMessage       string
	limitedReason, limitedMessage string
	limitedActive                 bool
}

const (
	msgReadyForNewScale   = "recommended size matches current size"
	msgScaleDownStable    = "recent recommendations were higher than current one, applying the highest recent recommendation"
	msgScaleUpStable      = "recent recommendations were lower than current one, applying the lowest recent recommendation"
	msgScaleUpLimit       = "the desired replica count is increasing faster than the maximum scale rate"
	msgScaleDownLimit     = "the desired replica count is decreasing faster than the maximum scale rate"
	msgTooManyReplicas    = "the desired replica count is more than the maximum replica count"
	msgTooFewReplicas     = "the desired replica count is less than the minimum replica count"
	msgDesiredWithinRange = "the desired count is within the acceptable range"
)

// normalize is Kubernetes' normalizeDesiredReplicas (no behavior): the
// highest recommendation of the downscale window, then min/max and a
// scale-up limit of max(2×current, 4).
func (l *limiter) normalize(key string, current, desired, minReplicas, maxReplicas int32, now time.Time) limited {
	stabilized := l.stabilize(key, desired, now)
	out := limited{ableReason: "ReadyForNewScale", ableMessage: msgReadyForNewScale}
	if stabilized != desired {
		out.ableReason, out.ableMessage = "ScaleDownStabilized", msgScaleDownStable
	}
	out.replicas, out.limitedReason, out.limitedMessage = withinRules(current, stabilized, minReplicas, maxReplicas)
	out.limitedActive = out.replicas != stabilized
	return out
}

func (l *limiter) stabilize(key string, desired int32, now time.Time) int32 {
	l.mu.Lock()
	defer l.mu.Unlock()
	highest := desired
	cutoff := now.Add(-l.downscaleWindow)
	oldIndex := -1
	for i, r := range l.recommendations[key] {
		if r.at.Before(cutoff) {
			oldIndex = i
		} else if r.replicas > highest {
			highest = r.replicas
		}
	}
	rec := recommendation{desired, now}
	if oldIndex >= 0 {
		l.recommendations[key][oldIndex] = rec
	} else {
		l.recommendations[key] = append(l.recommendations[key], rec)
	}
	return highest
}

// withinRules is Kubernetes' convertDesiredReplicasWithRules.
func withinRules(current, desired, minReplicas, maxReplicas int32) (int32, string, string) {
	maxAllowed, reason, message := maxReplicas, "TooManyReplicas", msgTooManyReplicas
	if limit := int32(math.Max(2*float64(current), 4)); maxReplicas > limit {
		maxAllowed, reason, message = limit, "ScaleUpLimit", msgScaleUpLimit
	}
	switch {
	case desired < minReplicas:
		return minReplicas, "TooFewReplicas", msgTooFewReplicas
	case desired > maxAllowed:
		return maxAllowed, reason, message
	}
	return desired, "DesiredWithinRange", msgDesiredWithinRange
}

// normalizeWithBehavior is Kubernetes' normalizeDesiredReplicasWithBehaviors.
// behavior must have both rules set (withDefaults).
func (l *limiter) normalizeWithBehavior(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, current, desired, minReplicas, maxReplicas int32, now time.Time) limited {
	stabilized, reason, message := l.stabilizeWithBehavior(key, b, current, desired, now)
	out := limited{ableReason: "ReadyForNewScale", ableMessage: msgReadyForNewScale}
	if stabilized != desired {
		out.ableReason, out.ableMessage = reason, message
	}
	out.replicas, out.limitedReason, out.limitedMessage = l.withinRate(key, b, current, stabilized, minReplicas, maxReplicas, now)
	out.limitedActive = out.replicas != stabilized
	return out
}

func (l *limiter) stabilizeWithBehavior(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, current, desired int32, now time.Time) (int32, string, string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	up, down := desired, desired
	upCutoff := now.Add(-time.Duration(*b.ScaleUp.StabilizationWindowSeconds) * time.Second)
	downCutoff := now.Add(-time.Duration(*b.ScaleDown.StabilizationWindowSeconds) * time.Second)
	oldIndex := -1
	for i, r := range l.recommendations[key] {
		if r.at.After(upCutoff) {
			up = min(up, r.replicas)
		}
		if r.at.After(downCutoff) {
			down = max(down, r.replicas)
		}
		if r.at.Before(upCutoff) && r.at.Before(downCutoff) {
			oldIndex = i
		}
	}
	recommended := max(current, up)
	recommended = min(recommended, down)
	rec := recommendation{desired, now}
	if oldIndex >= 0 {
		l.recommendations[key][oldIndex] = rec
	} else {
		l.recommendations[key] = append(l.recommendations[key], rec)
	}
	if desired >= current {
		return recommended, "ScaleUpStabilized", msgScaleUpStable
	}
	return recommended, "ScaleDownStabilized", msgScaleDownStable
}

// withinRate is Kubernetes' convertDesiredReplicasWithBehaviorRate.
func (l *limiter) withinRate(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, current, desired, minReplicas, maxReplicas int32, now time.Time) (int32, string, string) {
	l.mu.Lock()
	ups, downs := l.scaleUps[key], l.scaleDowns[key]
	l.mu.Unlock()
	switch {
	case desired > current:
		limit := max(scaleUpLimit(current, ups, downs, b.ScaleUp, now), current)
		maxAllowed, reason, message := maxReplicas, "TooManyReplicas", msgTooManyReplicas
		if maxAllowed > limit {
			maxAllowed, reason, message = limit, "ScaleUpLimit", msgScaleUpLimit
		}
		if desired > maxAllowed {
			return maxAllowed, reason, message
		}
	case desired < current:
		limit := min(scaleDownLimit(current, ups, downs, b.ScaleDown, now), current)
		minAllowed, reason, message := minReplicas, "TooFewReplicas", msgTooFewReplicas
		if minAllowed < limit {
			minAllowed, reason, message = limit, "ScaleDownLimit", msgScaleDownLimit
		}
		if desired < minAllowed {
			return minAllowed, reason, message
		}
	}
	return desired, "DesiredWithinRange", msgDesiredWithinRange
}

// changeInPeriod sums the changes of events within the last period.
func changeInPeriod(periodSeconds int32, events []scaleEvent, now time.Time) int32 {
	cutoff := now.Add(-time.Duration(periodSeconds) * time.Second)
	var n int32
	for _, e := range events {
		if e.at.After(cutoff) {
			n += e.change
		}
	}
	return n
}

// scaleUpLimit is Kubernetes' calculateScaleUpLimitWithScalingRules.
func scaleUpLimit(current int32, ups, downs []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	var result int32
	pick := func(a, b int32) int32 { return max(a, b) }
	switch *rules.SelectPolicy {
	case autoscalingv2.DisabledPolicySelect:
		return current
	case autoscalingv2.MinChangePolicySelect:
		result, pick = math.MaxInt32, func(a, b int32) int32 { return min(a, b) }
	default:
		result = math.MinInt32
	}
	for _, p := range rules.Policies {
		start := current - changeInPeriod(p.PeriodSeconds, ups, now) + changeInPeriod(p.PeriodSeconds, downs, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start + p.Value
		case autoscalingv2.PercentScalingPolicy:
			// Rounded up, or a small target would never grow.
			proposed = int32(math.Ceil(float64(start) * (1 + float64(p.Value)/100)))
		}
		result = pick(result, proposed)
	}
	return result
}

// scaleDownLimit is Kubernetes' calculateScaleDownLimitWithBehaviors.
func scaleDownLimit(current int32, ups, downs []scaleEvent, rules *autoscalingv2.HPAScalingRules, now time.Time) int32 {
	var result int32
	pick := func(a, b int32) int32 { return min(a, b) }
	switch *rules.SelectPolicy {
	case autoscalingv2.DisabledPolicySelect:
		return current
	case autoscalingv2.MinChangePolicySelect:
		result, pick = math.MinInt32, func(a, b int32) int32 { return max(a, b) }
	default:
		result = math.MaxInt32
	}
	for _, p := range rules.Policies {
		start := current - changeInPeriod(p.PeriodSeconds, ups, now) + changeInPeriod(p.PeriodSeconds, downs, now)
		var proposed int32
		switch p.Type {
		case autoscalingv2.PodsScalingPolicy:
			proposed = start - p.Value
		case autoscalingv2.PercentScalingPolicy:
			proposed = int32(float64(start) * (1 - float64(p.Value)/100))
		}
		result = pick(result, proposed)
	}
	return result
}

// recordScale remembers a scale change made under behavior b (without a
// behavior nothing is kept: the rate limits do not use it).
func (l *limiter) recordScale(key string, b *autoscalingv2.HorizontalPodAutoscalerBehavior, from, to int32, now time.Time) {
	if b == nil || from == to {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	events, rules, change := l.scaleUps, b.ScaleUp, to-from
	if to < from {
		events, rules, change = l.scaleDowns, b.ScaleDown, from-to
	}
	longest := longestPeriod(rules)
	cutoff := now.Add(-time.Duration(longest) * time.Second)
	list := events[key]
	e := scaleEvent{change: change, at: now}
	for i := range list {
		if list[i].at.Before(cutoff) {
			list[i].outdated = true
		}
	}
	for i := range list {
		if list[i].outdated {
			list[i] = e
			return
		}
	}
	events[key] = append(list, e)
}

func longestPeriod(rules *autoscalingv2.HPAScalingRules) int32 {
	var longest int32
	if rules == nil {
		return 0
	}
	for _, p := range rules.Policies {
		longest = max(longest, p.PeriodSeconds)
	}
	return longest
}

// withDefaults returns b with Kubernetes' defaults filled in where the
// API server's defaulting would have (a behavior stored before defaulting
// existed), and scaleDown's stabilization window set to downscaleWindow
// when missing, as maybeInitScaleDownStabilizationWindow does.
func withDefaults(b *autoscalingv2.HorizontalPodAutoscalerBehavior, downscaleWindow time.Duration) *autoscalingv2.HorizontalPodAutoscalerBehavior {
	out := b.DeepCopy()
	maxPolicy := autoscalingv2.MaxChangePolicySelect
	if out.ScaleUp == nil {
		out.ScaleUp = &autoscalingv2.HPAScalingRules{}
	}
	if out.ScaleUp.StabilizationWindowSeconds == nil {
		out.ScaleUp.StabilizationWindowSeconds = ptr(int32(0))
	}
	if out.ScaleUp.SelectPolicy == nil {
		out.ScaleUp.SelectPolicy = &maxPolicy
	}
	if out.ScaleUp.Policies == nil {
		out.ScaleUp.Policies = []autoscalingv2.HPAScalingPolicy{
			{Type: autoscalingv2.PodsScalingPolicy, Value: 4, PeriodSeconds: 15},
			{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15},
		}
	}
	if out.ScaleDown == nil {
		out.ScaleDown = &autoscalingv2.HPAScalingRules{}
	}
	if out.ScaleDown.StabilizationWindowSeconds == nil {
		out.ScaleDown.StabilizationWindowSeconds = ptr(int32(downscaleWindow / time.Second))
	}
	if out.ScaleDown.SelectPolicy == nil {
		out.ScaleDown.SelectPolicy = &maxPolicy
	}
	if out.ScaleDown.Policies == nil {
		out.ScaleDown.Policies = []autoscalingv2.HPAScalingPolicy{{Type: autoscalingv2.PercentScalingPolicy, Value: 100, PeriodSeconds: 15}}
	}
	return out
}

func ptr[T any](v T) *T { return &v }
