package loadtest

import (
	"errors"
	"math"
	"testing"
	"time"
)

// dueTimes returns the intended offsets of the first n hits of p, as the
// attacker computes them (elapsed + wait), asking at elapsed 0 each time.
func dueTimes(p Pacer, n int) []time.Duration {
	out := make([]time.Duration, 0, n)
	for i := 0; i < n; i++ {
		wait, stop := p.Pace(0, uint64(i))
		if stop {
			break
		}
		out = append(out, wait)
	}
	return out
}

// near reports whether a and b differ by at most tol.
func near(a, b, tol time.Duration) bool {
	d := a - b
	return d <= tol && d >= -tol
}

func TestPacerSchedules(t *testing.T) {
	t.Parallel()
	ms := time.Millisecond
	cases := []struct {
		name  string
		pacer Pacer
		want  []time.Duration // intended offsets of the first hits
	}{
		{"constant 10/s", ConstantPacer(10), []time.Duration{0, 100 * ms, 200 * ms, 300 * ms, 400 * ms}},
		{"constant 1000/s", ConstantPacer(1000), []time.Duration{0, ms, 2 * ms, 3 * ms}},
		{"constant fraction", ConstantPacer(0.5), []time.Duration{0, 2 * time.Second, 4 * time.Second}},
		// Rate 0→20 over 1s: hits(t) = 10t², so hit n at sqrt(n/10); after 1s (10 hits) 20/s.
		{"ramp from zero", LinearPacer(0, 20, time.Second), []time.Duration{
			0, 316228 * time.Microsecond, 447214 * time.Microsecond, 547723 * time.Microsecond,
			632456 * time.Microsecond, 707107 * time.Microsecond, 774597 * time.Microsecond,
			836660 * time.Microsecond, 894427 * time.Microsecond, 948683 * time.Microsecond,
			time.Second, 1050 * ms, 1100 * ms}},
		// Flat ramp is constant.
		{"ramp flat", LinearPacer(10, 10, time.Second), []time.Duration{0, 100 * ms, 200 * ms}},
		// 10/s during [0,1s), 20/s during [1s,2s), then 30/s held.
		{"steps", StepPacer(10, 10, time.Second, 30), []time.Duration{
			0, 100 * ms, 900 * ms, time.Second, 1050 * ms, 1950 * ms, 2 * time.Second, 2000*ms + 33333*time.Microsecond}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			// Build the list of hits to check: the steps case skips hits.
			got := dueTimes(tc.pacer, 40)
			want := tc.want
			if tc.name == "steps" {
				idx := []int{0, 1, 9, 10, 11, 29, 30, 31}
				sel := make([]time.Duration, len(idx))
				for i, k := range idx {
					sel[i] = got[k]
				}
				got = sel
			}
			for i, w := range want {
				if !near(got[i], w, 2*time.Microsecond) {
					t.Errorf("hit %d due at %v, want %v", i, got[i], w)
				}
			}
		})
	}
}

func TestPacerWaitIsRelativeToElapsed(t *testing.T) {
	t.Parallel()
	p := ConstantPacer(100)
	cases := []struct {
		name    string
		elapsed time.Duration
		hits    uint64
		want    time.Duration
	}{
		{"on time", 0, 0, 0},
		{"ahead", 5 * time.Millisecond, 1, 5 * time.Millisecond},
		{"behind is negative", 35 * time.Millisecond, 2, -15 * time.Millisecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			wait, stop := p.Pace(tc.elapsed, tc.hits)
			if stop || wait != tc.want {
				t.Errorf("Pace(%v, %d) = %v, %v; want %v, false", tc.elapsed, tc.hits, wait, stop, tc.want)
			}
		})
	}
}

// hitsIn counts the hits of p due in [from, to).
func hitsIn(p Pacer, from, to time.Duration) int {
	n := 0
	for i := uint64(0); ; i++ {
		d, stop := p.Pace(0, i)
		if stop || d >= to {
			return n
		}
		if d >= from {
			n++
		}
	}
}

func TestPacerHitsPerSecond(t *testing.T) {
	t.Parallel()
	s := time.Second
	cases := []struct {
		name     string
		pacer    Pacer
		from, to time.Duration
		want     int
	}{
		{"constant", ConstantPacer(1000), 0, s, 1000},
		{"constant later second", ConstantPacer(1000), 3 * s, 4 * s, 1000},
		// 100→5000 over 10s: second k carries the mean rate of that second.
		{"ramp first second", LinearPacer(100, 5000, 10*s), 0, s, 345},
		{"ramp last second", LinearPacer(100, 5000, 10*s), 9 * s, 10 * s, 4755},
		{"ramp held", LinearPacer(100, 5000, 10*s), 12 * s, 13 * s, 5000},
		{"ramp down", LinearPacer(1000, 0, 2*s), 0, 2 * s, 1000},
		{"steps first", StepPacer(500, 500, 10*s, 5000), 0, 10 * s, 5000},
		{"steps second", StepPacer(500, 500, 10*s, 5000), 10 * s, 20 * s, 10000},
		{"steps capped", StepPacer(500, 500, 10*s, 1200), 20 * s, 21 * s, 1200},
		{"steps no ceiling", StepPacer(1, 1, s, 0), 99 * s, 100 * s, 100},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := hitsIn(tc.pacer, tc.from, tc.to); got < tc.want-1 || got > tc.want+1 {
				t.Errorf("hits in [%v, %v) = %d, want %d±1", tc.from, tc.to, got, tc.want)
			}
		})
	}
}

func TestPacerRate(t *testing.T) {
	t.Parallel()
	s := time.Second
	cases := []struct {
		name  string
		pacer Pacer
		at    time.Duration
		want  float64
	}{
		{"constant", ConstantPacer(250), 7 * s, 250},
		{"ramp start", LinearPacer(100, 5000, 60*s), 0, 100},
		{"ramp middle", LinearPacer(100, 5000, 60*s), 30 * s, 2550},
		{"ramp after", LinearPacer(100, 5000, 60*s), 90 * s, 5000},
		{"steps", StepPacer(500, 500, 10*s, 5000), 25 * s, 1500},
		{"steps capped", StepPacer(500, 500, 10*s, 5000), 500 * s, 5000},
		{"func", PacerFunc(func(time.Duration, uint64) (time.Duration, bool) { return 0, true }), 0, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := tc.pacer.Rate(tc.at); math.Abs(got-tc.want) > 1e-9 {
				t.Errorf("Rate(%v) = %v, want %v", tc.at, got, tc.want)
			}
		})
	}
}

func TestPacerStops(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		pacer Pacer
		hits  int // hits before it stops
	}{
		{"zero rate", ConstantPacer(0), 0},
		{"ramp down to zero", LinearPacer(10, 0, 2*time.Second), 11},
		// The second hit would be due in 317 years, beyond a Duration.
		{"too slow to schedule", ConstantPacer(1e-10), 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := len(dueTimes(tc.pacer, 100)); got != tc.hits {
				t.Errorf("%d hits before stop, want %d", got, tc.hits)
			}
		})
	}
}

func TestParsePacer(t *testing.T) {
	t.Parallel()
	s := time.Second
	cases := []struct {
		name  string
		in    string
		rates map[time.Duration]float64 // expected Rate at offsets
	}{
		{"constant", "1000", map[time.Duration]float64{0: 1000, 5 * s: 1000}},
		{"constant per second", "250.5/s", map[time.Duration]float64{0: 250.5}},
		{"ramp", "ramp:100-5000/60s", map[time.Duration]float64{0: 100, 30 * s: 2550, 61 * s: 5000}},
		{"ramp down", "ramp:1000-0/10s", map[time.Duration]float64{0: 1000, 5 * s: 500}},
		{"steps", "steps:500+500/10s<=5000", map[time.Duration]float64{0: 500, 10 * s: 1000, 95 * s: 5000, 200 * s: 5000}},
		{"steps no ceiling", "steps:10+10/1s", map[time.Duration]float64{50 * s: 510}},
		{"spaces", "  ramp:1-2/1m ", map[time.Duration]float64{30 * s: 1.5}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p, err := ParsePacer(tc.in)
			if err != nil {
				t.Fatalf("ParsePacer(%q): %v", tc.in, err)
			}
			for at, want := range tc.rates {
				if got := p.Rate(at); math.Abs(got-want) > 1e-9 {
					t.Errorf("Rate(%v) = %v, want %v", at, got, want)
				}
			}
		})
	}
}

func TestParsePacerErrors(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, in string }{
		{"empty", ""},
		{"word", "fast"},
		{"zero", "0"},
		{"negative", "-5"},
		{"infinite", "Inf"},
		{"ramp without duration", "ramp:100-200"},
		{"ramp without end", "ramp:100/10s"},
		{"ramp bad duration", "ramp:100-200/10"},
		{"ramp zero duration", "ramp:100-200/0s"},
		{"ramp both zero", "ramp:0-0/10s"},
		{"ramp bad rate", "ramp:x-200/10s"},
		{"steps without step", "steps:500/10s<=5000"},
		{"steps without interval", "steps:500+500<=5000"},
		{"steps max below start", "steps:500+500/10s<=100"},
		{"steps bad max", "steps:500+500/10s<=lots"},
		{"steps zero step", "steps:500+0/10s"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if _, err := ParsePacer(tc.in); !errors.Is(err, ErrPacer) {
				t.Errorf("ParsePacer(%q) error = %v, want ErrPacer", tc.in, err)
			}
		})
	}
}

func FuzzParsePacer(f *testing.F) {
	for _, s := range []string{"1000", "ramp:100-5000/60s", "steps:500+500/10s<=5000", "ramp:0-1/1ns", ".0000000001"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := ParsePacer(s)
		if err != nil {
			return
		}
		// A parsed pacer schedules hits in non-decreasing time order.
		prev := time.Duration(math.MinInt64)
		for i := uint64(0); i < 50; i++ {
			d, stop := p.Pace(0, i)
			if stop {
				return
			}
			if d < prev {
				t.Fatalf("%q: hit %d due at %v before hit %d at %v", s, i, d, i-1, prev)
			}
			prev = d
		}
	})
}
