package loadtest

import (
	"context"
	"errors"
	"sort"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// collect drains an attack into a slice, adding every result to m if m is
// not nil.
func collect(ch <-chan *Result, m *Metrics) []*Result {
	var out []*Result
	for r := range ch {
		if m != nil {
			m.Add(r)
		}
		out = append(out, r)
	}
	return out
}

// percentile returns the q-quantile (0..1) of ds, sorting it.
func percentile(ds []time.Duration, q float64) time.Duration {
	sort.Slice(ds, func(i, j int) bool { return ds[i] < ds[j] })
	return ds[int(q*float64(len(ds)-1))]
}

// TestAttackCoordinatedOmission stalls the target for one second under a
// 1000/s schedule. The hits scheduled during the stall keep their intended
// times, so about a thousand of them report latencies spread from 0 to 1s,
// rather than one slow request hiding the stall.
func TestAttackCoordinatedOmission(t *testing.T) {
	t.Parallel()
	const stall = time.Second
	var (
		once     sync.Once
		release  = make(chan struct{})
		stalling atomic.Bool
		blocked  sync.Map // Seq → struct{}: hits that arrived during the stall
	)
	target := TargetFunc(func(ctx context.Context, r Request) Response {
		if r.Seq == 200 { // the stall begins at the 201st hit and lasts one second
			once.Do(func() {
				stalling.Store(true)
				time.AfterFunc(stall, func() {
					stalling.Store(false)
					close(release)
				})
			})
		}
		if stalling.Load() {
			blocked.Store(r.Seq, struct{}{})
			select {
			case <-release:
			case <-ctx.Done():
				return Response{Events: 1, Err: ctx.Err()}
			}
		}
		return Response{Events: 1, Accepted: 1, Code: "202"}
	})
	a := NewAttacker(WithWorkers(4, 5000), WithTimeout(5*time.Second))
	m := NewMetrics()
	results := collect(a.Attack(context.Background(), target, ConstantPacer(1000), 1500*time.Millisecond), m)

	if len(results) != 1500 {
		t.Fatalf("%d results, want 1500", len(results))
	}
	var stalled []time.Duration
	var maxLatency time.Duration
	for _, r := range results {
		if _, ok := blocked.Load(r.Seq); ok {
			stalled = append(stalled, r.Latency)
			maxLatency = max(maxLatency, r.Latency)
		}
		if r.Code != "202" {
			t.Errorf("hit %d: code %q, err %v", r.Seq, r.Code, r.Err)
		}
	}
	if n := len(stalled); n < 950 || n > 1050 {
		t.Errorf("%d hits stalled, want 1000±5%%", n)
	}
	if p50 := percentile(stalled, 0.5); p50 < 400*time.Millisecond || p50 > 600*time.Millisecond {
		t.Errorf("p50 of stalled hits = %v, want about 500ms", p50)
	}
	if maxLatency < 950*time.Millisecond || maxLatency > 1300*time.Millisecond {
		t.Errorf("max latency of stalled hits = %v, want about 1s", maxLatency)
	}
	if w := a.Workers(); w < 900 {
		t.Errorf("pool grew to %d workers during the stall, want ≥ 900", w)
	}
	if a.Saturated() {
		t.Error("Saturated() = true with room in the pool")
	}
	sum := m.Summary()
	if sum.Latency.P99 < 900*time.Millisecond || sum.Latency.Max < 950*time.Millisecond {
		t.Errorf("summary p99 %v, max %v: the stall does not show", sum.Latency.P99, sum.Latency.Max)
	}
	if sum.Requests != 1500 || sum.Errors != 0 {
		t.Errorf("summary requests %d errors %d, want 1500, 0", sum.Requests, sum.Errors)
	}
}

// TestAttackSaturation attacks a target slower than the pool allows: hits
// wait for workers, the achieved rate falls below the target rate and the
// latency grows along the run.
func TestAttackSaturation(t *testing.T) {
	t.Parallel()
	// Two workers and 10ms per hit: at most 200 hits/s against 800/s scheduled.
	target := TargetFunc(func(ctx context.Context, r Request) Response {
		service := time.NewTimer(10 * time.Millisecond) // the target's service time
		defer service.Stop()
		select {
		case <-service.C:
		case <-ctx.Done():
		}
		return Response{Code: "200"}
	})
	a := NewAttacker(WithWorkers(1, 2))
	m := NewMetrics()
	results := collect(a.Attack(context.Background(), target, ConstantPacer(800), 250*time.Millisecond), m)
	if len(results) != 200 {
		t.Fatalf("%d results, want 200", len(results))
	}
	if !a.Saturated() {
		t.Error("Saturated() = false, want true")
	}
	if a.Workers() != 2 {
		t.Errorf("Workers() = %d, want 2", a.Workers())
	}
	sum := m.Summary()
	if sum.Rate >= sum.TargetRate/2 {
		t.Errorf("achieved %.0f/s, target %.0f/s: want well below", sum.Rate, sum.TargetRate)
	}
	if sum.TargetRate < 780 || sum.TargetRate > 820 {
		t.Errorf("TargetRate %.1f, want 800", sum.TargetRate)
	}
	sort.Slice(results, func(i, j int) bool { return results[i].Seq < results[j].Seq })
	first, last := results[10].Latency, results[len(results)-1].Latency
	if last < 5*first || last < 300*time.Millisecond {
		t.Errorf("latency went from %v to %v: want it to grow with the backlog", first, last)
	}
	if results[len(results)-1].Lateness < 200*time.Millisecond {
		t.Errorf("last hit lateness %v, want the backlog to show", results[len(results)-1].Lateness)
	}
}

func TestAttackUnsaturated(t *testing.T) {
	t.Parallel()
	var calls atomic.Int64
	target := TargetFunc(func(context.Context, Request) Response {
		calls.Add(1)
		return Response{Events: 5, Accepted: 4, Rejected: 1, Bytes: 100, Code: "207"}
	})
	a := NewAttacker()
	m := NewMetrics()
	results := collect(a.Attack(context.Background(), target, ConstantPacer(500), 400*time.Millisecond), m)
	if len(results) != 200 || calls.Load() != 200 {
		t.Fatalf("%d results, %d calls, want 200", len(results), calls.Load())
	}
	seen := make(map[uint64]bool)
	for _, r := range results {
		if seen[r.Seq] {
			t.Fatalf("hit %d reported twice", r.Seq)
		}
		seen[r.Seq] = true
		if r.Latency < r.Lateness || r.Lateness < 0 {
			t.Errorf("hit %d: latency %v, lateness %v", r.Seq, r.Latency, r.Lateness)
		}
	}
	sum := m.Summary()
	if a.Saturated() {
		t.Error("Saturated() = true")
	}
	if sum.Rate < 400 || sum.Rate > 600 {
		t.Errorf("achieved rate %.1f, want about 500", sum.Rate)
	}
	if sum.Events != 1000 || sum.Accepted != 800 || sum.Rejected != 200 || sum.Errors != 0 {
		t.Errorf("events %d accepted %d rejected %d errors %d", sum.Events, sum.Accepted, sum.Rejected, sum.Errors)
	}
}

func TestAttackStopsOnCancel(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	target := TargetFunc(func(ctx context.Context, r Request) Response {
		if r.Seq == 20 {
			cancel()
		}
		<-ctx.Done() // every hit waits for the cancellation
		return Response{Err: ctx.Err()}
	})
	a := NewAttacker()
	results := collect(a.Attack(ctx, target, ConstantPacer(1000), time.Hour), nil)
	if len(results) < 21 || len(results) > 100 {
		t.Errorf("%d results after cancelling at the 21st hit", len(results))
	}
	for _, r := range results {
		if r.Code != "error" || !errors.Is(r.Err, context.Canceled) {
			t.Errorf("hit %d: code %q err %v, want error/canceled", r.Seq, r.Code, r.Err)
		}
	}
}

func TestAttackPacerStop(t *testing.T) {
	t.Parallel()
	p := PacerFunc(func(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= 7 })
	results := collect(NewAttacker().Attack(context.Background(), TargetFunc(func(context.Context, Request) Response {
		return Response{}
	}), p, 0), nil)
	if len(results) != 7 {
		t.Errorf("%d results, want 7", len(results))
	}
}

func TestAttackCodes(t *testing.T) {
	t.Parallel()
	boom := errors.New("connection refused")
	cases := []struct {
		name    string
		resp    func(ctx context.Context) Response
		code    string
		failed  bool
		timeout time.Duration
	}{
		{"kept", func(context.Context) Response { return Response{Code: "503"} }, "503", true, 0},
		{"ok", func(context.Context) Response { return Response{} }, "ok", false, 0},
		{"error", func(context.Context) Response { return Response{Err: boom} }, "error", true, 0},
		{"timeout", func(ctx context.Context) Response { <-ctx.Done(); return Response{Err: ctx.Err()} }, "timeout", true, time.Millisecond},
		{"rejected is not an error", func(context.Context) Response { return Response{Code: "400", Events: 3, Rejected: 3} }, "400", false, 0},
		{"throttled", func(context.Context) Response { return Response{Code: "429"} }, "429", true, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			p := PacerFunc(func(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= 1 })
			a := NewAttacker(WithTimeout(tc.timeout), WithWorkers(1, 1))
			target := TargetFunc(func(ctx context.Context, _ Request) Response { return tc.resp(ctx) })
			results := collect(a.Attack(context.Background(), target, p, 0), nil)
			if len(results) != 1 {
				t.Fatalf("%d results, want 1", len(results))
			}
			if r := results[0]; r.Code != tc.code || r.Failed() != tc.failed {
				t.Errorf("code %q failed %t, want %q %t", r.Code, r.Failed(), tc.code, tc.failed)
			}
		})
	}
}

// BenchmarkAttackNullTarget measures how many hits per second the harness
// itself can drive, scheduling, dispatching and aggregating, against a
// target that does nothing.
func BenchmarkAttackNullTarget(b *testing.B) {
	n := uint64(b.N)
	p := PacerFunc(func(_ time.Duration, hits uint64) (time.Duration, bool) { return 0, hits >= n })
	target := TargetFunc(func(context.Context, Request) Response { return Response{Events: 1, Accepted: 1, Code: "202"} })
	a := NewAttacker(WithWorkers(8, 64))
	m := NewMetrics()
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for r := range a.Attack(context.Background(), target, p, 0) {
		m.Add(r)
	}
	elapsed := time.Since(start)
	b.StopTimer()
	if got := m.Summary().Requests; got != n {
		b.Fatalf("%d results, want %d", got, n)
	}
	b.ReportMetric(float64(n)/elapsed.Seconds(), "hits/s")
	b.ReportMetric(float64(a.Workers()), "workers")
}
