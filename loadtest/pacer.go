package loadtest

import (
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"
)

// Pacer decides when the next hit is due. Given the time since the start of
// the attack and the number of hits scheduled so far, Pace returns how long
// to wait before the next hit, or stop to end the attack. The wait is
// negative when the next hit was already due that long ago: the attacker adds
// it to elapsed to learn the hit's intended time, so a schedule that falls
// behind keeps its intended times and the delay shows in the latencies.
// Rate reports the scheduled rate, in hits per second, at a point in time.
// Implementations are pure functions of their arguments and safe for
// concurrent use.
type Pacer interface {
	Pace(elapsed time.Duration, hits uint64) (wait time.Duration, stop bool)
	Rate(elapsed time.Duration) float64
}

// PacerFunc adapts a function to the Pacer interface; its Rate is 0
// (unknown).
type PacerFunc func(elapsed time.Duration, hits uint64) (time.Duration, bool)

// Pace calls f.
func (f PacerFunc) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	return f(elapsed, hits)
}

// Rate returns 0: a function pacer does not know its rate.
func (f PacerFunc) Rate(time.Duration) float64 { return 0 }

// ErrPacer is wrapped by every error ParsePacer and the pacer constructors'
// validation return.
var ErrPacer = errors.New("invalid pacer")

// schedule is a pacer described by the time each hit is due and the rate at
// each moment; the three pacers of this package are schedules.
type schedule struct {
	due  func(n uint64) float64 // seconds from the start at which hit n (0-based) is due
	rate func(t float64) float64
}

// Pace returns the time from elapsed to the due time of hit number hits.
func (s schedule) Pace(elapsed time.Duration, hits uint64) (time.Duration, bool) {
	d := s.due(hits)
	// A hit due beyond what a Duration holds (about 292 years) never comes.
	if math.IsNaN(d) || d*float64(time.Second) >= math.MaxInt64 {
		return 0, true
	}
	return seconds(d) - elapsed, false
}

// Rate returns the scheduled rate at elapsed.
func (s schedule) Rate(elapsed time.Duration) float64 { return s.rate(elapsed.Seconds()) }

// seconds converts a float number of seconds to a Duration.
func seconds(s float64) time.Duration { return time.Duration(math.Round(s * float64(time.Second))) }

var (
	_ Pacer = ConstantPacer(1)
	_ Pacer = PacerFunc(nil)
)

// ConstantPacer schedules perSecond hits per second, evenly spaced, the first
// at the start. A rate that is not positive stops at once.
func ConstantPacer(perSecond float64) Pacer {
	return schedule{
		due: func(n uint64) float64 {
			if !(perSecond > 0) {
				return math.Inf(1)
			}
			return float64(n) / perSecond
		},
		rate: func(float64) float64 { return perSecond },
	}
}

// LinearPacer ramps the rate linearly from start to end hits per second over
// the duration over, then holds end. Hit n is due when the integral of the
// rate reaches n. When the rate reaches 0 and stays there the pacer stops.
func LinearPacer(start, end float64, over time.Duration) Pacer {
	T := over.Seconds()
	if !(T > 0) {
		return ConstantPacer(end)
	}
	slope := (end - start) / T // rate change per second
	rampHits := start*T + slope*T*T/2
	return schedule{
		due: func(n uint64) float64 {
			x := float64(n)
			if x == 0 && (start > 0 || end > 0) {
				return 0
			}
			if x <= rampHits {
				// Solve start·t + slope·t²/2 = x for the smallest t ≥ 0, in the
				// form that does not cancel when slope is small.
				disc := start*start + 2*slope*x
				if disc < 0 {
					disc = 0
				}
				den := start + math.Sqrt(disc)
				if den <= 0 {
					return math.Inf(1)
				}
				return 2 * x / den
			}
			if !(end > 0) {
				return math.Inf(1)
			}
			return T + (x-rampHits)/end
		},
		rate: func(t float64) float64 {
			if t >= T {
				return end
			}
			if t < 0 {
				t = 0
			}
			return start + slope*t
		},
	}
}

// StepPacer starts at start hits per second and adds step every interval
// every, never exceeding max (a max that is not positive means no ceiling).
// Within each interval the rate is constant.
func StepPacer(start, step float64, every time.Duration, max float64) Pacer {
	E := every.Seconds()
	if !(E > 0) || step == 0 {
		return ConstantPacer(start)
	}
	rateAt := func(k float64) float64 { // rate during interval k
		r := start + step*k
		if max > 0 && r > max {
			r = max
		}
		if r < 0 {
			r = 0
		}
		return r
	}
	return schedule{
		due: func(n uint64) float64 {
			x := float64(n)
			var done float64 // hits due before the current interval
			for k := 0.0; ; k++ {
				r := rateAt(k)
				if r == rateAt(k+1) { // the rate holds from here on
					if !(r > 0) {
						return math.Inf(1)
					}
					return k*E + (x-done)/r
				}
				if x < done+r*E {
					return k*E + (x-done)/r
				}
				done += r * E
			}
		},
		rate: func(t float64) float64 {
			if t < 0 {
				t = 0
			}
			return rateAt(math.Floor(t / E))
		},
	}
}

// ParsePacer reads a pacer from its textual form:
//
//	1000                      ConstantPacer(1000): 1000 hits per second ("1000/s" also reads)
//	ramp:100-5000/60s         LinearPacer(100, 5000, 60s): 100/s rising to 5000/s over 60s, then 5000/s
//	steps:500+500/10s<=5000   StepPacer(500, 500, 10s, 5000): 500/s, +500/s every 10s, at most 5000/s
//
// Rates are hits per second and may have a fraction; durations are Go
// durations (time.ParseDuration). The "<=max" of steps may be left out for
// no ceiling.
func ParsePacer(s string) (Pacer, error) {
	s = strings.TrimSpace(s)
	switch {
	case strings.HasPrefix(s, "ramp:"):
		body := strings.TrimPrefix(s, "ramp:")
		rates, over, ok := strings.Cut(body, "/")
		if !ok {
			return nil, fmt.Errorf("%w %q: want ramp:START-END/DURATION", ErrPacer, s)
		}
		from, to, ok := strings.Cut(rates, "-")
		if !ok {
			return nil, fmt.Errorf("%w %q: want ramp:START-END/DURATION", ErrPacer, s)
		}
		a, err := parseRate(from, true)
		if err != nil {
			return nil, fmt.Errorf("%w %q: start: %w", ErrPacer, s, err)
		}
		b, err := parseRate(to, true)
		if err != nil {
			return nil, fmt.Errorf("%w %q: end: %w", ErrPacer, s, err)
		}
		if a == 0 && b == 0 {
			return nil, fmt.Errorf("%w %q: both rates are zero", ErrPacer, s)
		}
		d, err := parsePositiveDuration(over)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrPacer, s, err)
		}
		return LinearPacer(a, b, d), nil
	case strings.HasPrefix(s, "steps:"):
		body := strings.TrimPrefix(s, "steps:")
		body, ceiling, hasMax := strings.Cut(body, "<=")
		head, every, ok := strings.Cut(body, "/")
		if !ok {
			return nil, fmt.Errorf("%w %q: want steps:START+STEP/EVERY[<=MAX]", ErrPacer, s)
		}
		from, by, ok := strings.Cut(head, "+")
		if !ok {
			return nil, fmt.Errorf("%w %q: want steps:START+STEP/EVERY[<=MAX]", ErrPacer, s)
		}
		a, err := parseRate(from, false)
		if err != nil {
			return nil, fmt.Errorf("%w %q: start: %w", ErrPacer, s, err)
		}
		step, err := parseRate(by, false)
		if err != nil {
			return nil, fmt.Errorf("%w %q: step: %w", ErrPacer, s, err)
		}
		d, err := parsePositiveDuration(every)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w", ErrPacer, s, err)
		}
		var m float64
		if hasMax {
			if m, err = parseRate(ceiling, false); err != nil {
				return nil, fmt.Errorf("%w %q: max: %w", ErrPacer, s, err)
			}
			if m < a {
				return nil, fmt.Errorf("%w %q: max %g is below start %g", ErrPacer, s, m, a)
			}
		}
		return StepPacer(a, step, d, m), nil
	default:
		r, err := parseRate(s, false)
		if err != nil {
			return nil, fmt.Errorf("%w %q: %w (want RATE, ramp:START-END/DURATION or steps:START+STEP/EVERY<=MAX)", ErrPacer, s, err)
		}
		return ConstantPacer(r), nil
	}
}

// parseRate reads a rate in hits per second, with an optional "/s" suffix.
// Zero is allowed only when zeroOK.
func parseRate(s string, zeroOK bool) (float64, error) {
	s = strings.TrimSuffix(strings.TrimSpace(s), "/s")
	r, err := strconv.ParseFloat(s, 64)
	if err != nil {
		return 0, fmt.Errorf("rate %q is not a number", s)
	}
	if math.IsNaN(r) || math.IsInf(r, 0) || r < 0 || (r == 0 && !zeroOK) {
		return 0, fmt.Errorf("rate %q must be a positive number", s)
	}
	return r, nil
}

// parsePositiveDuration reads a Go duration that must be positive.
func parsePositiveDuration(s string) (time.Duration, error) {
	d, err := time.ParseDuration(strings.TrimSpace(s))
	if err != nil {
		return 0, fmt.Errorf("duration: %w", err)
	}
	if d <= 0 {
		return 0, fmt.Errorf("duration %q must be positive", s)
	}
	return d, nil
}
