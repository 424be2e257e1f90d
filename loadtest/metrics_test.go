package loadtest

import (
	"errors"
	"math"
	"sync"
	"testing"
	"time"
)

// result builds a Result intended at base+at, sent late by lateness, with
// the given latency (from intended) and response.
func result(base time.Time, seq uint64, at, lateness, latency time.Duration, resp Response) *Result {
	return &Result{
		Request:  Request{Seq: seq, Intended: base.Add(at)},
		Response: resp,
		Sent:     base.Add(at + lateness),
		Latency:  latency,
		Lateness: lateness,
	}
}

func TestMetricsSummary(t *testing.T) {
	t.Parallel()
	base := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ms := time.Millisecond
	m := NewMetrics()
	// Added out of order, as an attack delivers them.
	m.Add(result(base, 1, 10*ms, 0, 2*ms, Response{Events: 2, Accepted: 2, Bytes: 10, Code: "202"}))
	m.Add(result(base, 0, 0, 0, 1*ms, Response{Events: 2, Accepted: 1, Rejected: 1, Bytes: 10, Code: "207"}))
	m.Add(result(base, 3, 30*ms, 10*ms, 100*ms, Response{Events: 2, Bytes: 10, Code: "timeout", Err: errors.New("deadline")}))
	m.Add(result(base, 2, 20*ms, 0, 3*ms, Response{Events: 2, Bytes: 10, Code: "503"}))
	s := m.Summary()

	checks := []struct {
		name      string
		got, want float64
	}{
		{"requests", float64(s.Requests), 4},
		{"events", float64(s.Events), 8},
		{"accepted", float64(s.Accepted), 3},
		{"rejected", float64(s.Rejected), 1},
		{"errors", float64(s.Errors), 2},
		{"bytes", float64(s.Bytes), 40},
		{"error ratio", s.ErrorRatio, 0.5},
		{"duration ms", float64(s.Duration) / float64(ms), 40}, // first intended to last sent
		{"target rate", s.TargetRate, 100},                     // 3 intervals over 30ms of intended times
		{"rate", s.Rate, 75},                                   // 3 intervals over 40ms
		{"event rate", s.EventRate, 150},                       // 2 events per hit
		{"p50 ms", float64(s.Latency.P50) / float64(ms), 2},
		{"p90 ms", float64(s.Latency.P90) / float64(ms), 100},
		{"p99 ms", float64(s.Latency.P99) / float64(ms), 100}, // capped at the exact max
		{"max ms", float64(s.Latency.Max) / float64(ms), 100},
		{"mean ms", float64(s.Latency.Mean) / float64(ms), 26.5},
		{"codes", float64(len(s.Codes)), 4},
		{"code 503", float64(s.Codes["503"]), 1},
	}
	if s.Saturated || s.Workers != 0 || s.Target != "" {
		t.Errorf("Saturated, Workers and Target are the caller's to set: %+v", s)
	}
	for _, c := range checks {
		if math.Abs(c.got-c.want) > 1e-9 {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
}

func TestMetricsEmpty(t *testing.T) {
	t.Parallel()
	s := NewMetrics().Summary()
	if s.Requests != 0 || s.Rate != 0 || s.ErrorRatio != 0 || s.Latency != (Latencies{}) || s.Codes == nil {
		t.Errorf("empty summary = %+v", s)
	}
	if got := NewMetrics().Seconds(); got != nil {
		t.Errorf("empty Seconds() = %v", got)
	}
}

func TestMetricsLatencyRange(t *testing.T) {
	t.Parallel()
	base := time.Now()
	cases := []struct {
		name    string
		latency time.Duration
		wantP50 time.Duration
	}{
		{"sub-microsecond clamps to 1µs, capped by max", 300 * time.Nanosecond, 300 * time.Nanosecond},
		{"beyond 60s clamps to 60s", 5 * time.Minute, 60 * time.Second},
		{"three significant digits", 123456 * time.Microsecond, 123456 * time.Microsecond},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			m := NewMetrics()
			m.Add(result(base, 0, 0, 0, tc.latency, Response{Code: "200"}))
			s := m.Summary()
			if d := s.Latency.P50 - tc.wantP50; d < 0 || float64(d) > 0.001*float64(tc.wantP50) {
				t.Errorf("p50 = %v, want %v within 0.1%%", s.Latency.P50, tc.wantP50)
			}
			if s.Latency.Max != tc.latency {
				t.Errorf("max = %v, want the exact %v", s.Latency.Max, tc.latency)
			}
		})
	}
}

func TestMetricsSeconds(t *testing.T) {
	t.Parallel()
	base := time.Now()
	ms := time.Millisecond
	m := NewMetrics()
	m.Add(result(base, 0, 0, 0, 10*ms, Response{Events: 3, Code: "202"}))
	m.Add(result(base, 1, 500*ms, 0, 30*ms, Response{Events: 3, Code: "202"}))
	// Intended in second 0, sent in second 2: counts as sent in 2, latency in 0.
	m.Add(result(base, 2, 900*ms, 1400*ms, 1500*ms, Response{Events: 3, Code: "503"}))
	m.Add(result(base, 3, 3200*ms, 0, 20*ms, Response{Events: 3, Code: "202"}))
	got := m.Seconds()
	want := []struct {
		requests, events, errors, intended uint64
		p50, p99                           time.Duration // to within 1%
	}{
		{2, 6, 0, 3, 30 * ms, 1500 * ms},
		{0, 0, 0, 0, 0, 0},
		{1, 3, 1, 0, 0, 0},
		{1, 3, 0, 1, 20 * ms, 20 * ms},
	}
	if len(got) != len(want) {
		t.Fatalf("%d seconds, want %d: %+v", len(got), len(want), got)
	}
	within := func(a, b time.Duration) bool { return math.Abs(float64(a-b)) <= 0.01*float64(b) }
	for i, w := range want {
		g := got[i]
		if g.Offset != time.Duration(i)*time.Second || g.Requests != w.requests || g.Events != w.events || g.Errors != w.errors || g.Intended != w.intended ||
			!within(g.P50, w.p50) || !within(g.P99, w.p99) {
			t.Errorf("second %d = %+v, want %+v", i, g, w)
		}
	}
}

// TestMetricsConcurrentSummary reads summaries while one writer adds, as a
// live display does; run with -race.
func TestMetricsConcurrentSummary(t *testing.T) {
	t.Parallel()
	m := NewMetrics()
	base := time.Now()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for i := range 2000 {
			m.Add(result(base, uint64(i), time.Duration(i)*time.Millisecond, 0, time.Millisecond, Response{Code: "202"}))
		}
	}()
	for range 50 {
		_ = m.Summary()
		_ = m.Seconds()
	}
	wg.Wait()
	if s := m.Summary(); s.Requests != 2000 {
		t.Errorf("requests = %d, want 2000", s.Requests)
	}
}

func BenchmarkMetricsAdd(b *testing.B) {
	m := NewMetrics()
	base := time.Now()
	r := result(base, 0, 0, 0, 3*time.Millisecond, Response{Events: 1, Code: "202"})
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		r.Intended = base.Add(time.Duration(i) * time.Microsecond)
		r.Sent = r.Intended
		m.Add(r)
	}
}
